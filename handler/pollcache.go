package handler

import (
	"sync"
	"time"
)

// pollLinger is how long a feed waits, parked, for its session's next GET.
const pollLinger = 2 * time.Second

// pollCache keeps, for a moment after a GET answered, the feed that followed its session. If
// the session's next GET comes to this process and no other GET held the session in between
// (the poll lease's last holder is the GET that parked the feed), the next GET takes the feed
// over, with what its watch gathered meanwhile, and need not read the store: a polling client
// served by one process reads the logs only after a change of its session or a gap.
type pollCache struct {
	mu     sync.Mutex
	parked map[string]*parkedFeed
}

type parkedFeed struct {
	f     *feed
	token string // the GET that parked it
	timer *time.Timer
}

func newPollCache() *pollCache { return &pollCache{parked: map[string]*parkedFeed{}} }

// park keeps f for the session's next GET; token is the GET's. Whoever takes a parked feed out
// of the cache (take, drop, the end of its linger, a newer park) owns it: it uses or stops it.
func (c *pollCache) park(sid, token string, f *feed) {
	p := &parkedFeed{f: f, token: token}
	c.mu.Lock()
	old := c.parked[sid]
	c.parked[sid] = p
	p.timer = time.AfterFunc(pollLinger, func() {
		if c.remove(sid, p) {
			p.f.stop()
		}
	})
	c.mu.Unlock()
	if old != nil {
		old.timer.Stop()
		old.f.stop()
	}
}

// take returns the feed parked for sid if the GET that parked it is prev, the poll lease's last
// holder before the GET asking; any other parked feed is stopped.
func (c *pollCache) take(sid, prev string) *feed {
	c.mu.Lock()
	p := c.parked[sid]
	delete(c.parked, sid)
	c.mu.Unlock()
	if p == nil {
		return nil
	}
	p.timer.Stop()
	if p.token != prev || prev == "" {
		p.f.stop()
		return nil
	}
	return p.f
}

// has reports whether a feed is parked for sid.
func (c *pollCache) has(sid string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.parked[sid] != nil
}

// drop stops the feed parked for sid by token, if it is still there.
func (c *pollCache) drop(sid, token string) {
	c.mu.Lock()
	p := c.parked[sid]
	c.mu.Unlock()
	if p != nil && p.token == token && c.remove(sid, p) {
		p.timer.Stop()
		p.f.stop()
	}
}

// remove takes p out of the cache if it is still there, and reports whether it was.
func (c *pollCache) remove(sid string, p *parkedFeed) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.parked[sid] != p {
		return false
	}
	delete(c.parked, sid)
	return true
}
