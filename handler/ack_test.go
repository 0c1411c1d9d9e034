package handler_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/serverless-socketio/server/handler"
	"github.com/serverless-socketio/server/session"
	"github.com/serverless-socketio/server/store/memory"
)

// Acknowledge after the write: a packet leaves its queue only once it was written; one whose
// write failed is written by the next attempt, once, in order; and what a sender's request does
// after its commit (hanging up) changes nothing for the other members. These tests run the push
// path (API Gateway's: commits push to WebSocket members) with flakySender standing in for the
// Management API, which cannot run here, failing on demand.

var errThrottled = errors.New("429 Too Many Requests")

// flakySender records the frames posted to each connection; it fails a connection's next sends
// with a transient error while fail says so, fails any send whose context has ended (as an HTTP
// client does), and runs before (if set) ahead of each send.
type flakySender struct {
	mu     sync.Mutex
	frames map[string][]string
	fail   map[string]int
	before func(conn string)
}

func newFlakySender() *flakySender {
	return &flakySender{frames: map[string][]string{}, fail: map[string]int{}}
}

func (s *flakySender) Send(ctx context.Context, conn string, frame []byte, binary bool) error {
	s.mu.Lock()
	before := s.before
	s.mu.Unlock()
	if before != nil {
		before(conn)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail[conn] > 0 {
		s.fail[conn]--
		return errThrottled
	}
	s.frames[conn] = append(s.frames[conn], string(frame))
	return nil
}

func (s *flakySender) Close(ctx context.Context, conn string) error { return nil }

func (s *flakySender) take(conn string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.frames[conn]
	s.frames[conn] = nil
	return f
}

func (s *flakySender) failNext(conn string, n int) {
	s.mu.Lock()
	s.fail[conn] = n
	s.mu.Unlock()
}

// pushChat is the chat consumer on the memory store, with commits pushing through a
// flakySender, and three WebSocket members of the lobby: A, B and C.
func pushChat(t *testing.T) (*handler.Engine, *flakySender) {
	t.Helper()
	sender := newFlakySender()
	eng, err := handler.New(handler.Config{
		Store: memory.New(memory.Options{}), App: chatRouter(t), Sender: sender,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, conn := range []string{"A", "B", "C"} {
		if err := eng.WSConnect(ctx, conn, url.Values{"EIO": {"4"}, "transport": {"websocket"}}); err != nil {
			t.Fatal(err)
		}
		if err := eng.WSOpen(ctx, conn); err != nil {
			t.Fatal(err)
		}
		if err := eng.WSMessage(ctx, conn, []byte("40/chat,"), false); err != nil {
			t.Fatal(err)
		}
		if got := sender.take(conn); len(got) != 3 || got[2] != welcomePacket {
			t.Fatalf("%s's open, connect answer and welcome: %q", conn, got)
		}
	}
	return eng, sender
}

func say(t *testing.T, ctx context.Context, eng *handler.Engine, text string) {
	t.Helper()
	if err := eng.WSMessage(ctx, "A", []byte(chatMsg(text)), false); err != nil {
		t.Fatal(err)
	}
}

// TestPushRetriesTransientFailure: a recipient whose sends fail twice (a throttle) and then
// succeed gets the packet from the same push, once; and the packets after it, in order.
func TestPushRetriesTransientFailure(t *testing.T) {
	eng, sender := pushChat(t)
	sender.failNext("B", 2)
	ctx := context.Background()
	say(t, ctx, eng, "0")
	if got := sender.take("B"); !slices.Equal(got, []string{chatMsg("0")}) {
		t.Fatalf("B received %q from a push whose first two sends failed, want the message", got)
	}
	for i := 1; i < 3; i++ {
		say(t, ctx, eng, fmt.Sprint(i))
	}
	if got, want := sender.take("B"), []string{chatMsg("1"), chatMsg("2")}; !slices.Equal(got, want) {
		t.Fatalf("B received %q, want %q", got, want)
	}
	want := []string{chatMsg("0"), chatMsg("1"), chatMsg("2")}
	for _, conn := range []string{"A", "C"} {
		if got := sender.take(conn); !slices.Equal(got, want) {
			t.Fatalf("%s received %q, want %q", conn, got, want)
		}
	}
}

// TestPushFailureLeavesPacketQueued: a packet whose sends all fail stays queued, and the next
// push writes it, before what came after it, once.
func TestPushFailureLeavesPacketQueued(t *testing.T) {
	eng, sender := pushChat(t)
	sender.failNext("B", 3)
	ctx := context.Background()
	say(t, ctx, eng, "first")
	if got := sender.take("B"); len(got) != 0 {
		t.Fatalf("B received %q while its sends fail", got)
	}
	say(t, ctx, eng, "second")
	want := []string{chatMsg("first"), chatMsg("second")}
	if got := sender.take("B"); !slices.Equal(got, want) {
		t.Fatalf("B received %q after its sends recovered, want %q", got, want)
	}
	if got := sender.take("C"); !slices.Equal(got, want) {
		t.Fatalf("C received %q, want %q", got, want)
	}
}

// TestSenderHangUpDoesNotCutPushes: a sender whose request ends while its broadcast is being
// pushed (it hung up) does not cost the other members the packet.
func TestSenderHangUpDoesNotCutPushes(t *testing.T) {
	eng, sender := pushChat(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sender.before = func(conn string) {
		if conn == "B" {
			cancel() // the sender hangs up as the first push to another member goes out
		}
	}
	say(t, ctx, eng, "bye")
	sender.before = nil
	for _, conn := range []string{"B", "C"} {
		if got := sender.take(conn); !slices.Equal(got, []string{chatMsg("bye")}) {
			t.Fatalf("%s received %q after the sender hung up, want the message", conn, got)
		}
	}
}

// failingWriter is a ResponseWriter whose body never reaches the client.
type failingWriter struct{ h http.Header }

func (w *failingWriter) Header() http.Header { return w.h }
func (w *failingWriter) WriteHeader(int)     {}
func (w *failingWriter) Write(b []byte) (int, error) {
	return 0, errors.New("connection reset by peer")
}

// TestPollAnswerNotWrittenStaysQueued: a GET whose answer could not be written acknowledges
// nothing: the next GET gets the packets.
func TestPollAnswerNotWrittenStaysQueued(t *testing.T) {
	srv := chatServer(t, handler.Config{})
	c := srv.Open(t)
	c.Post("40/chat,")
	req := httptest.NewRequest(http.MethodGet, "/socket.io/?"+strings.SplitN(c.URL, "?", 2)[1], nil)
	srv.Engine.ServeHTTP(&failingWriter{h: http.Header{}}, req)
	got := c.Get()
	if len(got) != 2 || !strings.HasPrefix(got[0], `40/chat,{"sid":`) || got[1] != welcomePacket {
		t.Fatalf("the GET after an answer that was not written: %q, want the connect answer and the welcome", got)
	}
	if st, err := srv.Store.Load(context.Background(), c.SID); err != nil || st.Transport != session.Polling {
		t.Fatalf("session after the failed write: %v", err)
	}
}

// releaseHookStore runs a function, once, just before the next Ack that releases a session's
// write lease: the moment a pusher lets go.
type releaseHookStore struct {
	session.Store
	mu     sync.Mutex
	sid    string
	before func()
}

func (s *releaseHookStore) Ack(ctx context.Context, sid string, a session.Ack) error {
	s.mu.Lock()
	f := s.before
	if a.Release != session.LeaseWrite || sid != s.sid {
		f = nil
	}
	if f != nil {
		s.before = nil
	}
	s.mu.Unlock()
	if f != nil {
		f()
	}
	return s.Store.Ack(ctx, sid, a)
}

// TestPushReleaseRace: a packet committed while a pusher is letting the lease go (its read found
// the packets before it, and the committer's own push finds the lease taken and leaves it) is not
// stranded: the pusher looks again after letting go.
func TestPushReleaseRace(t *testing.T) {
	sender := newFlakySender()
	store := &releaseHookStore{Store: memory.New(memory.Options{})}
	eng, err := handler.New(handler.Config{Store: store, App: chatRouter(t), Sender: sender, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, conn := range []string{"A", "B"} {
		if err := eng.WSConnect(ctx, conn, url.Values{"EIO": {"4"}, "transport": {"websocket"}}); err != nil {
			t.Fatal(err)
		}
		if err := eng.WSMessage(ctx, conn, []byte("40/chat,"), false); err != nil {
			t.Fatal(err)
		}
		sender.take(conn)
	}
	st, err := store.LoadConn(ctx, "B")
	if err != nil {
		t.Fatal(err)
	}
	store.mu.Lock()
	store.sid = st.ID
	store.before = func() { say(t, ctx, eng, "during the release") }
	store.mu.Unlock()
	say(t, ctx, eng, "first")
	if got, want := sender.take("B"), []string{chatMsg("first"), chatMsg("during the release")}; !slices.Equal(got, want) {
		t.Fatalf("B received %q, want %q: the packet committed during the release is stranded", got, want)
	}
}
