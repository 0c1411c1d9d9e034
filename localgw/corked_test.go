package localgw

import (
	"context"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// countingConn counts the writes that reach the connection.
type countingConn struct {
	net.Conn
	mu     sync.Mutex
	writes int
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.writes++
	c.mu.Unlock()
	return c.Conn.Write(p)
}

func (c *countingConn) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writes
}

// TestCorked: data frames are held until release, which writes them in one write, in order; a
// control frame (the websocket package's Write) goes out at once, after the frames held before
// it; a write has a deadline, its context's or writeTimeout; no data frame is taken after the
// server's close.
func TestCorked(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	cc := &countingConn{Conn: a}
	c := &corked{Conn: cc}
	got := make(chan string, 4)
	go func() {
		buf := make([]byte, 64)
		for {
			n, err := b.Read(buf)
			if err != nil {
				return
			}
			got <- string(buf[:n])
		}
	}()
	framed := func(texts ...string) string {
		var out []byte
		for _, t := range texts {
			out = appendFrame(out, []byte(t), false)
		}
		return string(out)
	}

	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	if s := <-got; s != "ping" || cc.count() != 1 {
		t.Fatalf("a control frame, nothing held: read %q after %d writes, want \"ping\" after 1", s, cc.count())
	}
	for _, s := range []string{"4a", "4b", "4c"} {
		if !c.frame([]byte(s), false) {
			t.Fatal("frame refused")
		}
	}
	if cc.count() != 1 {
		t.Fatalf("%d writes reached the connection while held, want none", cc.count()-1)
	}
	if err := c.release(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s, want := <-got, framed("4a", "4b", "4c"); s != want || cc.count() != 2 {
		t.Fatalf("release: read %q after %d writes, want %q in one", s, cc.count()-1, want)
	}
	if err := c.release(context.Background()); err != nil || cc.count() != 2 {
		t.Fatalf("a release with nothing held: %v, %d writes, want nothing written", err, cc.count()-2)
	}
	// With no deadline of its own, a write may wait writeTimeout for the client.
	if left := time.Until(c.deadline); left < writeTimeout-time.Second || left > writeTimeout {
		t.Fatalf("write deadline %v away after a write, want about %v", left, writeTimeout)
	}

	// A context's deadline counts up to writeTimeout away, no further.
	c.frame([]byte("4e"), false)
	far, cancelFar := context.WithTimeout(context.Background(), time.Hour)
	defer cancelFar()
	if err := c.release(far); err != nil {
		t.Fatal(err)
	}
	<-got
	if left := time.Until(c.deadline); left > writeTimeout {
		t.Fatalf("write deadline %v away after a write with an hour's context, want at most %v", left, writeTimeout)
	}

	// A control frame while frames are held: all of them, at once, in order.
	c.frame([]byte("4d"), false)
	if _, err := c.Write([]byte("close")); err != nil {
		t.Fatal(err)
	}
	if s, want := <-got, framed("4d")+"close"; s != want || cc.count() != 4 {
		t.Fatalf("a control frame while held: read %q after %d writes, want %q at once", s, cc.count()-3, want)
	}
	if err := c.release(context.Background()); err != nil || cc.count() != 4 {
		t.Fatalf("release after the control frame took the held ones: %v, %d more writes, want none", err, cc.count()-4)
	}

	// Once the server closed the connection, no data frame is taken.
	closed := make(chan struct{})
	done := &corked{Conn: cc, closed: closed}
	if !done.frame([]byte("4a"), false) {
		t.Fatal("a frame before the close was refused")
	}
	close(closed)
	if done.frame([]byte("4b"), false) {
		t.Fatal("a frame after the server's close was taken")
	}
	if got := len(*done.held); got != 4 {
		t.Fatalf("%d bytes held, want the first frame's 4", got)
	}
}

// TestCorkedWriteFails: a write that fails (here its context's deadline passes: the client does
// not read) closes the connection and fails every later write, release and frame, whoever makes
// them: no frame follows one cut short, and no holder counts its frames as written.
func TestCorkedWriteFails(t *testing.T) {
	x, y := net.Pipe()
	defer y.Close()
	c := &corked{Conn: x}
	c.frame([]byte("4never read"), false)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	ended := make(chan error, 1)
	go func() { ended <- c.release(ctx) }()
	select {
	case err := <-ended:
		if err == nil {
			t.Fatal("release to a client that never reads succeeded")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("release did not give up at its context's deadline")
	}
	if c.frame([]byte("4next"), false) {
		t.Fatal("a frame was taken after a failed write")
	}
	if err := c.release(context.Background()); err == nil {
		t.Fatal("a release after a failed write succeeded")
	}
	if _, err := c.Write([]byte("close")); err == nil {
		t.Fatal("a control frame was written after a failed write")
	}
	_ = y.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := y.Read(make([]byte, 1)); err != io.EOF && err != io.ErrClosedPipe {
		t.Fatalf("the client's read after the failed write: %v, want the connection closed", err)
	}
}
