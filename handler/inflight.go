package handler

import (
	"context"
	"sync"
	"time"
)

// inFlight follows per-session work in progress on this process (an acknowledgement, a close)
// that a later request of the same session waits for: such a request may come from the same
// client a moment later, before the work reached the store.
type inFlight struct {
	mu sync.Mutex
	m  map[string]chan struct{} // by session: closed when its work is done
}

// start records that sid's work began; end, with what start returned, that it is done.
func (f *inFlight) start(sid string) chan struct{} {
	done := make(chan struct{})
	f.mu.Lock()
	if f.m == nil {
		f.m = map[string]chan struct{}{}
	}
	f.m[sid] = done
	f.mu.Unlock()
	return done
}

func (f *inFlight) end(sid string, done chan struct{}) {
	f.mu.Lock()
	if f.m[sid] == done {
		delete(f.m, sid)
	}
	f.mu.Unlock()
	close(done)
}

// wait waits for sid's work in flight on this process, if there is some; it reports whether
// there was and it ended (not ctx).
func (f *inFlight) wait(ctx context.Context, sid string) bool {
	f.mu.Lock()
	done := f.m[sid]
	f.mu.Unlock()
	if done == nil {
		return false
	}
	select {
	case <-done:
		return true
	case <-ctx.Done():
		return false
	}
}

// activeGets are the GETs this process serves, by session. Engine.IO allows one at a time: a GET
// that comes while this process still serves the session's last one waits a moment for it to
// end (it may be answering), and, if its client gave it up, until it has closed the session:
// a client that polls again at once must find the session closed, as on a server that holds
// sessions in memory.
type activeGets struct {
	mu sync.Mutex
	m  map[string]*activeGet
}

type activeGet struct {
	ctx  context.Context // the GET's request: done once its client gave it up
	done chan struct{}
}

// start records that this process serves a GET of sid, made by a request with context ctx.
func (a *activeGets) start(sid string, ctx context.Context) *activeGet {
	g := &activeGet{ctx: ctx, done: make(chan struct{})}
	a.mu.Lock()
	if a.m == nil {
		a.m = map[string]*activeGet{}
	}
	a.m[sid] = g
	a.mu.Unlock()
	return g
}

// end records that the GET start returned g for is over.
func (a *activeGets) end(sid string, g *activeGet) {
	a.mu.Lock()
	if a.m[sid] == g {
		delete(a.m, sid)
	}
	a.mu.Unlock()
	close(g.done)
}

// wait waits for the GET of sid this process serves, if any: up to grace, and past it until
// that GET ends if its client gave it up; or until ctx ends.
func (a *activeGets) wait(ctx context.Context, sid string, grace time.Duration) {
	a.mu.Lock()
	g := a.m[sid]
	a.mu.Unlock()
	if g == nil {
		return
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-g.done:
		return
	case <-ctx.Done():
		return
	case <-t.C:
	}
	if g.ctx.Err() == nil {
		return // still held for its client: an overlap, which the lease tells
	}
	select {
	case <-g.done:
	case <-ctx.Done():
	}
}

// connSessions remembers, with a pump (Config.Pump: the process that accepted a WebSocket
// connection serves it until it ends), which session each of this process's connections
// belongs to, from its $connect to its $disconnect: a connection's session never changes, so
// its frames load the session itself rather than through the connection's index (on Redis a
// plain HGETALL instead of a script).
type connSessions struct {
	mu sync.Mutex
	m  map[string]string
}

func (c *connSessions) set(conn, sid string) {
	c.mu.Lock()
	if c.m == nil {
		c.m = map[string]string{}
	}
	c.m[conn] = sid
	c.mu.Unlock()
}

func (c *connSessions) get(conn string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	sid, ok := c.m[conn]
	return sid, ok
}

func (c *connSessions) drop(conn string) {
	c.mu.Lock()
	delete(c.m, conn)
	c.mu.Unlock()
}
