package handler

import (
	"context"
	"sync"
	"time"

	"github.com/serverless-socketio/server/internal/logattr"
	"github.com/serverless-socketio/server/session"
)

// ackEvery is how long a pump's acknowledgements gather before they go to the store together.
// A WebSocket session stays on its process, which knows what it wrote: a late acknowledgement
// costs only a longer read after a gap, and a longer log meanwhile. At 200 ms a busy member
// acknowledges dozens of packets in one store call.
const ackEvery = 200 * time.Millisecond

// ackParallel bounds the acknowledgements in flight at once (a store that pipelines, Redis,
// sends concurrent ones together).
const ackParallel = 64

// acker acknowledges what pumps wrote, in the background: the position written through per session,
// every ackEvery, all sessions at once. A pump's session lives and dies with its connection, so
// an acknowledgement that comes late only makes a gap's read longer.
type acker struct {
	e       *Engine
	mu      sync.Mutex
	pending map[string]session.ID
	armed   bool
}

func newAcker(e *Engine) *acker { return &acker{e: e, pending: map[string]session.ID{}} }

// add records that session sid's entries were written through id.
func (a *acker) add(sid string, id session.ID) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.pending[sid].Less(id) {
		a.pending[sid] = id
	}
	if !a.armed {
		a.armed = true
		time.AfterFunc(ackEvery, a.flush)
	}
}

// take removes and returns the acknowledgement pending for sid (none: an empty Ack).
func (a *acker) take(sid string) session.Ack {
	a.mu.Lock()
	defer a.mu.Unlock()
	id, ok := a.pending[sid]
	if !ok {
		return session.Ack{}
	}
	delete(a.pending, sid)
	return session.Ack{Through: id}
}

func (a *acker) flush() {
	a.mu.Lock()
	batch := a.pending
	a.pending = map[string]session.ID{}
	a.armed = false
	a.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), ackTimeout)
	defer cancel()
	sem := make(chan struct{}, ackParallel)
	var wg sync.WaitGroup
	for sid, id := range batch {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := a.e.cfg.Store.Ack(ctx, sid, session.Ack{Through: id}); err != nil {
				a.e.log.Warn("pump: acknowledgement failed", logattr.Session(sid), "err", err)
			}
		}()
	}
	wg.Wait()
}
