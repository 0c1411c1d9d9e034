package session

import "sync"

// PendingEvents is the queue behind a store's [Watch]: the events not yet taken, and the wake-up
// of their reader (its channel, or the function given to Notify). A store's watch embeds one and
// gets C, Notify and Events from it. Use [NewPendingEvents].
type PendingEvents struct {
	c      chan struct{}
	mu     sync.Mutex
	events []Event
	notify func() // replaces c once set (Notify)
}

// MaxPendingEvents bounds the events a watch keeps for a reader that does not take them: past it,
// they are dropped for one gap (the reader reads the logs instead).
const MaxPendingEvents = 4096

// NewPendingEvents returns an empty queue.
func NewPendingEvents() *PendingEvents { return &PendingEvents{c: make(chan struct{}, 1)} }

// C implements [Watch].
func (p *PendingEvents) C() <-chan struct{} { return p.c }

// Notify implements [Watch].
func (p *PendingEvents) Notify(f func()) {
	p.mu.Lock()
	p.notify = f
	pending := len(p.events) > 0
	p.mu.Unlock()
	select {
	case <-p.c:
		pending = true
	default:
	}
	if pending {
		f()
	}
}

// Events implements [Watch].
func (p *PendingEvents) Events() []Event {
	p.mu.Lock()
	defer p.mu.Unlock()
	ev := p.events
	p.events = nil
	return ev
}

// Add queues events without waking the reader (see Signal).
func (p *PendingEvents) Add(evs ...Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, ev := range evs {
		switch {
		case len(p.events) < MaxPendingEvents:
			p.events = append(p.events, ev)
		case p.events[0].Kind != EventGap:
			p.events = append(p.events[:0], Event{Kind: EventGap})
		}
	}
}

// Signal wakes the reader: it tells it that events are pending.
func (p *PendingEvents) Signal() {
	p.mu.Lock()
	notify := p.notify
	p.mu.Unlock()
	if notify != nil {
		notify()
		return
	}
	select {
	case p.c <- struct{}{}:
	default:
	}
}
