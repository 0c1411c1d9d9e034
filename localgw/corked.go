package localgw

import (
	"context"
	"net"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/serverless-socketio/server/handler"
)

// corked is the connection under a WebSocket's write buffer. While it is held, what the websocket
// package flushes stays in memory, and release writes all of it at once: a pump that writes ten
// frames makes one system call, not ten (a write is most of a delivery's cost). Frames keep their
// order: every write goes through it, held or not.
type corked struct {
	net.Conn
	mu   sync.Mutex
	held *[]byte // nil: writes go through
}

// heldBuffers lends held writes their buffer, so that an idle connection keeps none.
var heldBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// heldBufferMax is the largest buffer given back to heldBuffers.
const heldBufferMax = 64 << 10

func (c *corked) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.held != nil {
		*c.held = append(*c.held, p...)
		return len(p), nil
	}
	return c.Conn.Write(p)
}

// hold keeps what is written in memory until release.
func (c *corked) hold() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.held == nil {
		c.held = heldBuffers.Get().(*[]byte)
	}
}

// release writes what was held, giving up when ctx ends, and lets writes go through again.
func (c *corked) release(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.held
	if b == nil {
		return nil
	}
	c.held = nil
	defer func() {
		if cap(*b) <= heldBufferMax {
			*b = (*b)[:0]
			heldBuffers.Put(b)
		}
	}()
	if len(*b) == 0 {
		return nil
	}
	stop := context.AfterFunc(ctx, func() { _ = c.Conn.SetWriteDeadline(time.Unix(1, 0)) })
	defer stop()
	_, err := c.Conn.Write(*b)
	return err
}

// frameWriter is a connection as its pump writes it (handler.FrameWriter): its frames are held
// until Flush.
type frameWriter struct {
	ctx context.Context
	c   *conn
}

func (w frameWriter) WriteFrame(frame []byte, binary bool) error {
	typ := websocket.MessageText
	if binary {
		typ = websocket.MessageBinary
	}
	w.c.mu.Lock()
	defer w.c.mu.Unlock()
	w.c.out.hold()
	// Held, the write only copies the frame: no deadline is needed until Flush.
	if err := w.c.ws.Write(context.Background(), typ, frame); err != nil {
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
