package session

import "testing"

// TestPendingEvents: events come out in order, once; a reader that falls MaxPendingEvents
// behind gets one gap instead; the wake-up goes to the channel until Notify replaces it, and
// Notify calls its function at once when events wait.
func TestPendingEvents(t *testing.T) {
	p := NewPendingEvents()
	p.Add(Event{Kind: EventEntry, ID: ID{Seq: 1}}, Event{Kind: EventEntry, ID: ID{Seq: 2}})
	p.Signal()
	select {
	case <-p.C():
	default:
		t.Fatal("Signal did not wake the channel")
	}
	if ev := p.Events(); len(ev) != 2 || ev[0].ID.Seq != 1 || ev[1].ID.Seq != 2 {
		t.Fatalf("Events = %+v, want the two entries in order", ev)
	}
	if ev := p.Events(); len(ev) != 0 {
		t.Fatalf("Events again = %+v, want none", ev)
	}

	for i := range MaxPendingEvents + 1 {
		p.Add(Event{Kind: EventEntry, ID: ID{Seq: int64(i)}})
	}
	if ev := p.Events(); len(ev) != 1 || ev[0].Kind != EventGap {
		t.Fatalf("after %d events: %d events, first %+v; want one gap", MaxPendingEvents+1, len(ev), ev[0])
	}

	p.Add(Event{Kind: EventChanged})
	called := 0
	p.Notify(func() { called++ })
	if called != 1 {
		t.Fatalf("Notify with an event waiting called its function %d times, want once", called)
	}
	p.Signal()
	if called != 2 {
		t.Fatalf("Signal after Notify called the function %d times in all, want 2", called)
	}
	select {
	case <-p.C():
		t.Fatal("the channel was woken after Notify replaced it")
	default:
	}
}
