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

// TestCorked: held writes reach the connection in one write at release, in order; writes that
// are not held go through at once; a write has a deadline, its context's or writeTimeout, and
// gives up on a peer that does not read; no data frame is taken after the server's close.
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

	if _, err := c.Write([]byte("one")); err != nil {
		t.Fatal(err)
	}
	if s := <-got; s != "one" || cc.count() != 1 {
		t.Fatalf("a write not held: read %q after %d writes, want \"one\" after 1", s, cc.count())
	}
	c.hold()
	for _, s := range []string{"a", "b", "c"} {
		if _, err := c.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	if cc.count() != 1 {
		t.Fatalf("%d writes reached the connection while held, want none", cc.count()-1)
	}
	if err := c.release(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s := <-got; s != "abc" || cc.count() != 2 {
		t.Fatalf("release: read %q after %d writes, want \"abc\" in one", s, cc.count()-1)
	}
	if err := c.release(context.Background()); err != nil || cc.count() != 2 {
		t.Fatalf("a release with nothing held: %v, %d writes, want nothing written", err, cc.count()-2)
	}
	// With no deadline of its own, a write may wait writeTimeout for the client.
	if left := time.Until(c.deadline); left < writeTimeout-time.Second || left > writeTimeout {
		t.Fatalf("write deadline %v away after a write, want about %v", left, writeTimeout)
	}

	// A peer that stops reading: the release gives up once its context ends.
	x, y := net.Pipe()
	defer x.Close()
	defer y.Close()
	stuck := &corked{Conn: x}
	stuck.hold()
	if _, err := stuck.Write([]byte("never read")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	ended := make(chan error, 1)
	go func() { ended <- stuck.release(ctx) }()
	select {
	case err := <-ended:
		if err == nil {
			t.Fatal("release to a peer that never reads succeeded")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("release did not give up when its context ended")
	}
	go io.Copy(io.Discard, y) //nolint:errcheck

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
