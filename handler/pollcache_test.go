package handler

import (
	"sync"
	"testing"
	"time"

	"github.com/serverless-socketio/server/session"
)

// letGos records the leases a pollCache let go, with their acknowledgements.
type letGos struct {
	mu   sync.Mutex
	acks []session.Ack
	done chan struct{}
}

func (l *letGos) letGo(sid, token string, a session.Ack) {
	l.mu.Lock()
	l.acks = append(l.acks, a)
	l.mu.Unlock()
	l.done <- struct{}{}
}

// TestPollCacheKeptLease: a kept lease that nobody adopts within the handover is let go with
// what was written under it; one adopted is not let go by the cache (its adopter holds it);
// and a process whose next GETs keep going elsewhere (misses) stops keeping leases, and takes
// it up again once the next GETs come back within the handover.
func TestPollCacheKeptLease(t *testing.T) {
	l := &letGos{done: make(chan struct{}, 16)}
	c := newPollCache(5*time.Millisecond, l.letGo)
	written := session.Ack{Through: session.ID{Time: 7, Seq: 1}}

	c.park("s", "t1", bareFeed("s"), &keptLease{ack: written})
	select {
	case <-l.done:
	case <-time.After(5 * time.Second):
		t.Fatal("a kept lease nobody adopted was not let go")
	}
	if l.acks[0].Through != written.Through {
		t.Fatalf("let go with %+v, want the acknowledgement of %v", l.acks[0], written.Through)
	}

	c.park("s", "t2", bareFeed("s"), &keptLease{ack: written})
	p := c.adopt("s")
	if p == nil || c.takeKept(p) == nil {
		t.Fatal("the next GET did not adopt the kept lease")
	}
	time.Sleep(20 * time.Millisecond)
	if n := len(l.done); n != 0 {
		t.Fatalf("an adopted lease was let go by the cache (%d)", n)
	}

	for range 12 {
		if !c.keeps() {
			break
		}
		c.park("s", "t3", bareFeed("s"), &keptLease{})
		<-l.done
	}
	if c.keeps() {
		t.Fatal("still keeping leases after 12 that nobody adopted")
	}
	for range 12 {
		if c.keeps() {
			break
		}
		c.park("s", "t4", bareFeed("s"), nil)
		if c.take("s", "t4") == nil {
			t.Fatal("the parked feed was not taken")
		}
	}
	if !c.keeps() {
		t.Fatal("not keeping leases again after 12 next GETs within the handover")
	}
}

// bareFeed is a feed on no store, for the cache's tests (which only park and stop it).
func bareFeed(sid string) *feed { return &feed{sid: sid} }
