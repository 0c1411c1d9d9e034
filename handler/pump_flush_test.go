package handler

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/serverless-socketio/server/session"
)

// recordingWriter is a FrameWriter that records what is flushed; failFlush makes that Flush
// (counted from 1) fail with ErrGone.
type recordingWriter struct {
	mu        sync.Mutex
	held      []string
	flushed   [][]string // the frames of each Flush
	failFlush int
}

func (w *recordingWriter) WriteFrame(frame []byte, binary bool) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.held = append(w.held, string(frame))
	return nil
}

func (w *recordingWriter) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	held := w.held
	w.held = nil
	if len(w.flushed)+1 == w.failFlush {
		w.flushed = append(w.flushed, nil)
		return ErrGone
	}
	w.flushed = append(w.flushed, held)
	return nil
}

func (w *recordingWriter) flushes() [][]string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([][]string(nil), w.flushed...)
}

// pumpWithQueue opens a WebSocket session over connection "c1" with five packets queued for it,
// and starts its pump on w; it returns the engine, the session's id and the pump's end.
func pumpWithQueue(t *testing.T, w FrameWriter) (*Engine, string, <-chan error) {
	t.Helper()
	ctx := context.Background()
	e := pumpedEngine(t, "c1")
	sid, _ := e.conns.get("c1")
	var b session.Batch
	for i := range 5 {
		b.Send([]byte("4m" + strconv.Itoa(i)))
	}
	if _, err := e.cfg.Store.Commit(ctx, sid, &b); err != nil {
		t.Fatal(err)
	}
	pctx, cancel := context.WithCancel(ctx)
	t.Cleanup(cancel)
	done := make(chan error, 1)
	e.WSPump(pctx, "c1", w, func(err error) { done <- err })
	return e, sid, done
}

// TestPumpFlushesOncePerWakeup: a pump that finds five packets queued writes them and flushes
// once (after the open packet's own flush): one system call on the gateway, not five.
func TestPumpFlushesOncePerWakeup(t *testing.T) {
	w := &recordingWriter{}
	pumpWithQueue(t, w)
	deadline := time.Now().Add(5 * time.Second)
	for len(w.flushes()) < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	f := w.flushes()
	if len(f) != 2 || len(f[0]) != 1 || f[0][0][0] != '0' {
		t.Fatalf("flushes %q, want the open packet, then the five packets together", f)
	}
	if want := []string{"4m0", "4m1", "4m2", "4m3", "4m4"}; !slices.Equal(f[1], want) {
		t.Fatalf("second flush %q, want %q", f[1], want)
	}
}

// TestPumpAcksOnlyFlushed: packets whose flush failed are not acknowledged: they are still
// queued for the session's next reader.
func TestPumpAcksOnlyFlushed(t *testing.T) {
	w := &recordingWriter{failFlush: 2}
	e, sid, done := pumpWithQueue(t, w)
	select {
	case err := <-done:
		if !errors.Is(err, ErrGone) {
			t.Fatalf("pump ended with %v, want ErrGone", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the pump did not end after its flush failed")
	}
	e.acker.flush()
	q, err := e.cfg.Store.Read(context.Background(), sid, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(q.Entries) != 5 {
		t.Fatalf("%d entries queued after the failed flush, want all 5", len(q.Entries))
	}
}
