package handler

import (
	"context"
	"sync"
	"time"

	"github.com/serverless-socketio/server/session"
)

const (
	// pollLinger is how long a feed waits, parked, for its session's next GET.
	pollLinger = 2 * time.Second
	// maxPollHandover bounds Config.PollHandover: a GET on another process waits for a kept
	// lease (at least answerGrace) as for one that is being acknowledged.
	maxPollHandover = answerGrace / 2
	// handoverAckEvery is how long, at most, what GETs handing the lease on to each other wrote
	// waits for its acknowledgement: then a GET lets the lease go with it.
	handoverAckEvery = 100 * time.Millisecond
	// adoptedEnough is the share of next GETs coming within the handover under which leases are
	// not kept.
	adoptedEnough = 0.75
)

// pollCache keeps, for a moment after a GET answered, the feed that followed its session. If
// the session's next GET comes to this process and no other GET held the session in between
// (the poll lease's last holder is the GET that parked the feed), the next GET takes the feed
// over, with what its watch gathered meanwhile, and need not read the store: a polling client
// served by one process reads the logs only after a change of its session or a gap.
//
// With Config.PollHandover, a parked feed may also keep the poll lease (a keptLease) for that
// long: the next GET adopts the lease with the feed and takes it without a store call, and the
// acknowledgement of what the GET before wrote goes with its own. A lease nobody adopted in
// time is let go, with that acknowledgement, by letGo.
type pollCache struct {
	mu     sync.Mutex
	parked map[string]*parkedFeed
	// handover is Config.PollHandover; letGo acknowledges a kept lease's writes and lets it go.
	handover time.Duration
	letGo    func(sid, token string, a session.Ack)
	// adopted follows how often the session's next GET came here within the handover (a moving
	// average of 1s and 0s): a process behind a load balancer that spreads GETs over several
	// processes rarely sees it, and then keeps no lease that another process's GET would wait for.
	adopted float64
}

type parkedFeed struct {
	f       *feed
	token   string // the GET that parked it
	at      time.Time
	timer   *time.Timer
	kept    *keptLease // the poll lease, still held with token, for the next GET here; or nil
	counted bool       // whether its adoption or miss is in adopted
}

// keptLease is a poll lease a GET kept for the session's next GET on this process, with what
// the GETs of the session wrote under it that the store was not yet told of.
type keptLease struct {
	ack   session.Ack // what they wrote (without Release)
	since time.Time   // when the oldest of it was written
	until time.Time   // when the lease expires
	timer *time.Timer // lets the lease go once the handover is over
}

// with returns a with what the GETs before wrote under the lease and did not acknowledge.
func (k *keptLease) with(a session.Ack) session.Ack {
	if len(a.Entries) == 0 {
		a.Entries = k.ack.Entries
	}
	if a.Through.Less(k.ack.Through) {
		a.Through = k.ack.Through
	}
	return a
}

func newPollCache(handover time.Duration, letGo func(sid, token string, a session.Ack)) *pollCache {
	return &pollCache{parked: map[string]*parkedFeed{}, handover: handover, letGo: letGo, adopted: 1}
}

// keeps reports whether a GET that answers now may keep the lease for the next.
func (c *pollCache) keeps() bool {
	if c.handover <= 0 {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.adopted >= adoptedEnough
}

// park keeps f for the session's next GET; token is the GET's, and kept, if not nil, the lease
// it keeps. Whoever takes a parked feed out of the cache (take, adopt, drop, the end of its
// linger, a newer park) owns it: it uses or stops it (and lets go of its lease).
func (c *pollCache) park(sid, token string, f *feed, kept *keptLease) {
	p := &parkedFeed{f: f, token: token, at: time.Now(), kept: kept}
	c.mu.Lock()
	old := c.parked[sid]
	c.parked[sid] = p
	p.timer = time.AfterFunc(pollLinger, func() {
		if c.remove(sid, p) {
			c.discard(sid, p)
		}
	})
	if kept != nil {
		kept.timer = time.AfterFunc(c.handover, func() { c.release(sid, p, kept) })
	}
	c.mu.Unlock()
	if old != nil {
		c.discard(sid, old)
	}
}

// release lets go of kept, the lease p keeps, if nobody took it meanwhile. The feed stays
// parked for a GET that comes later, which takes the lease from the store first.
func (c *pollCache) release(sid string, p *parkedFeed, kept *keptLease) {
	c.mu.Lock()
	mine := p.kept == kept
	if mine {
		p.kept = nil
	}
	c.mu.Unlock()
	if mine {
		c.count(p, false)
		c.letGo(sid, p.token, kept.ack)
	}
}

// takeKept takes p's kept lease, if it still has one; the caller owns it from then on.
func (c *pollCache) takeKept(p *parkedFeed) *keptLease {
	c.mu.Lock()
	kept := p.kept
	p.kept = nil
	c.mu.Unlock()
	if kept != nil {
		kept.timer.Stop()
	}
	return kept
}

// letGoKept lets go of the lease p kept, if it still keeps one.
func (c *pollCache) letGoKept(sid string, p *parkedFeed) {
	if kept := c.takeKept(p); kept != nil {
		c.letGo(sid, p.token, kept.ack)
	}
}

// adopt returns the feed parked for sid if it keeps the lease; the caller takes the lease with
// takeKept (nil if it was let go in between: then the caller takes it from the store).
func (c *pollCache) adopt(sid string) *parkedFeed {
	c.mu.Lock()
	p := c.parked[sid]
	if p == nil || p.kept == nil {
		c.mu.Unlock()
		return nil
	}
	delete(c.parked, sid)
	c.mu.Unlock()
	p.timer.Stop()
	c.count(p, true)
	return p
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
	if p.token != prev || prev == "" {
		c.discard(sid, p)
		return nil
	}
	p.timer.Stop()
	c.letGoKept(sid, p)
	c.count(p, time.Since(p.at) <= c.handover)
	return p.f
}

// has reports whether a feed is parked for sid.
func (c *pollCache) has(sid string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.parked[sid] != nil
}

// drop stops the feed parked for sid by token, if it is still there, letting go of its lease.
func (c *pollCache) drop(sid, token string) {
	c.mu.Lock()
	p := c.parked[sid]
	c.mu.Unlock()
	if p != nil && p.token == token && c.remove(sid, p) {
		c.discard(sid, p)
	}
}

// letGoNow lets go of the lease kept for sid, if there is one, and returns once it is let go.
func (c *pollCache) letGoNow(sid string) {
	c.mu.Lock()
	p := c.parked[sid]
	c.mu.Unlock()
	if p != nil {
		c.letGoKept(sid, p)
	}
}

// drain lets go of every kept lease (at shutdown: the sessions' next GETs go elsewhere).
func (c *pollCache) drain(ctx context.Context) {
	c.mu.Lock()
	var sids []string
	for sid, p := range c.parked {
		if p.kept != nil {
			sids = append(sids, sid)
		}
	}
	c.mu.Unlock()
	for _, sid := range sids {
		if ctx.Err() != nil {
			return
		}
		c.letGoNow(sid)
	}
}

// discard stops p, which the caller took out of the cache, and lets go of its lease.
func (c *pollCache) discard(sid string, p *parkedFeed) {
	p.timer.Stop()
	c.count(p, false)
	c.letGoKept(sid, p)
	p.f.stop()
}

// count records, once per parked feed, whether the session's next GET adopted it in time.
func (c *pollCache) count(p *parkedFeed, adopted bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p.counted {
		return
	}
	p.counted = true
	v := 0.0
	if adopted {
		v = 1
	}
	c.adopted += (v - c.adopted) / 8
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
