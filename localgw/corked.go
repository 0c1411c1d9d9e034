package localgw

import (
	"context"
	"encoding/binary"
	"net"
	"sync"
	"time"

	"github.com/serverless-socketio/server/handler"
)

// corked is the connection under a WebSocket's write buffer. The gateway writes its data frames
// here itself (frame), held in memory until release writes all of them at once: a pump that
// writes ten frames makes one system call, not ten (a write is most of a delivery's cost). The
// websocket package writes its control frames (pongs, the close) through Write, which sends
// them at once, after the data frames held before them: frames keep their order, and a close
// frame never waits in memory. The first write that fails breaks the connection for good: it is
// closed (its reader ends, and the session with it), and every later write fails, so that a
// frame cut short is never followed by another and nobody counts frames that did not go out
// as written.
type corked struct {
	net.Conn
	mu       sync.Mutex
	held     *[]byte         // nil: not holding
	closed   <-chan struct{} // closed once the server closes the connection: no data frame after it
	deadline time.Time       // the connection's write deadline, as last set
	err      error           // the first write that failed
}

// writeTimeout is how long a write may wait for a client that does not read: past it the
// connection counts as broken. The deadline is moved forward once half of it has passed, not at
// every write (a timer per write costs a tenth of a delivery).
const writeTimeout = 30 * time.Second

// heldBuffers lends held writes their buffer, so that an idle connection keeps none.
var heldBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// heldBufferMax is the largest buffer given back to heldBuffers.
const heldBufferMax = 64 << 10

// Write sends a control frame of the websocket package at once, with the data frames held
// before it (the holder's later release finds them written).
func (c *corked) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := p
	if c.held != nil && len(*c.held) > 0 {
		b = append(*c.held, p...)
		*c.held = b[:0]
	}
	if err := c.write(b, time.Time{}); err != nil {
		return 0, err
	}
	return len(p), nil
}

// write writes b to the connection by the deadline by (zero: writeTimeout); c.mu is held. A
// failure is kept, and closes the connection.
func (c *corked) write(b []byte, by time.Time) error {
	if c.err != nil {
		return c.err
	}
	c.keepDeadline(by)
	if _, err := c.Conn.Write(b); err != nil {
		c.err = err
		_ = c.Conn.Close()
		return err
	}
	return nil
}

// keepDeadline sets the connection's write deadline to by, if it is not zero and comes before
// writeTimeout from now, or keeps it at least half of writeTimeout away; c.mu is held.
func (c *corked) keepDeadline(by time.Time) {
	now := time.Now()
	if limit := now.Add(writeTimeout); by.IsZero() || by.After(limit) {
		if c.deadline.Sub(now) > writeTimeout/2 {
			return // set within the last half of writeTimeout, never further away
		}
		by = limit
	}
	if !by.Equal(c.deadline) {
		c.deadline = by
		_ = c.Conn.SetWriteDeadline(by)
	}
}

// frame holds a data frame (text, or binary), as a server sends it (RFC 6455 §5.2: final, not
// masked); it reports false, holding nothing, once the server closed the connection (the close
// frame it sent is the last) or a write failed.
func (c *corked) frame(p []byte, isBinary bool) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return false
	}
	select {
	case <-c.closed:
		return false
	default:
	}
	if c.held == nil {
		c.held = heldBuffers.Get().(*[]byte)
	}
	*c.held = appendFrame(*c.held, p, isBinary)
	return true
}

// appendFrame appends a final, unmasked data frame carrying p.
func appendFrame(b, p []byte, isBinary bool) []byte {
	op := byte(0x1) // text
	if isBinary {
		op = 0x2
	}
	b = append(b, 0x80|op)
	switch n := len(p); {
	case n < 126:
		b = append(b, byte(n))
	case n <= 0xffff:
		b = append(b, 126, byte(n>>8), byte(n))
	default:
		b = append(b, 127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	return append(b, p...)
}

// release writes what is held and stops holding; it fails if a write on the connection failed
// before, whoever made it. It gives up at ctx's deadline, or after writeTimeout; a context
// cancelled without one (the pump's, which ends with its connection) is not watched: the
// connection is closed when it ends, which ends the write.
func (c *corked) release(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.held
	c.held = nil
	if b == nil {
		return c.err
	}
	defer func() {
		if cap(*b) <= heldBufferMax {
			*b = (*b)[:0]
			heldBuffers.Put(b)
		}
	}()
	if len(*b) == 0 {
		return c.err
	}
	dl, _ := ctx.Deadline()
	return c.write(*b, dl)
}

// frameWriter is a connection as its pump writes it (handler.FrameWriter): its frames are held
// until Flush.
type frameWriter struct {
	ctx context.Context
	c   *conn
}

func (w frameWriter) WriteFrame(frame []byte, binary bool) error {
	if !w.c.out.frame(frame, binary) {
		return handler.ErrGone
	}
	return nil
}

func (w frameWriter) Flush() error {
	if err := w.c.out.release(w.ctx); err != nil {
		if w.ctx.Err() != nil {
			return w.ctx.Err()
		}
		return handler.ErrGone
	}
	return nil
}
