package handler

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/serverless-socketio/server/session"
)

// activeGets are the GETs this process serves, by session. Engine.IO allows one at a time: a GET
// that comes while this process still serves the session's last one waits for it, a moment
// while it holds for its client (past that it is an overlap, which the lease tells), and until
// it ends once it answered (it is acknowledging, and lets the lease go with that) or its client
// gave it up (it is closing the session: a client that polls again at once must find the
// session closed, as on a server that holds sessions in memory).
type activeGets struct {
	mu sync.Mutex
	m  map[string]*activeGet
}

type activeGet struct {
	ctx      context.Context // the GET's request: done once its client gave it up
	answered atomic.Bool     // its answer is written; it is acknowledging
	done     chan struct{}
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
// that GET ends if it answered or its client gave it up; or until ctx ends.
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
	if g.ctx.Err() == nil && !g.answered.Load() {
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
	// created holds the session a connection's $connect created here, until its pump opens: the
	// pump writes the open packet from it instead of loading what was just written.
	created map[string]*session.Session
}

func (c *connSessions) set(conn, sid string) {
	c.mu.Lock()
	if c.m == nil {
		c.m = map[string]string{}
	}
	c.m[conn] = sid
	c.mu.Unlock()
}

// setCreated records that conn's $connect created s.
func (c *connSessions) setCreated(conn string, s *session.Session) {
	c.set(conn, s.ID)
	c.mu.Lock()
	if c.created == nil {
		c.created = map[string]*session.Session{}
	}
	c.created[conn] = s
	c.mu.Unlock()
}

// takeCreated returns, once, the session conn's $connect created here (nil if none).
func (c *connSessions) takeCreated(conn string) *session.Session {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.created[conn]
	delete(c.created, conn)
	return s
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
	delete(c.created, conn)
	c.mu.Unlock()
}
