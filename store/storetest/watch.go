package storetest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/serverless-socketio/server/session"
)

// watchWait bounds every wait for an event: a guard against a hang, never a measure of speed.
const watchWait = 10 * time.Second

// runWatch runs the subtests of a [session.Subscriber].
func runWatch(t *testing.T, setup func(t *testing.T) *env) {
	t.Run("Entries", func(t *testing.T) { testWatchEntries(t, setup(t)) })
	t.Run("Changed", func(t *testing.T) { testWatchChanged(t, setup(t)) })
	t.Run("Closed", func(t *testing.T) { testWatchClosed(t, setup(t)) })
	t.Run("Missed", func(t *testing.T) { testWatchMissed(t, setup(t)) })
	t.Run("Notify", func(t *testing.T) { testWatchNotify(t, setup(t)) })
}

func (e *env) watch(sid string, rooms []session.RoomRef, mark uint64, after session.ID) (session.Watch, bool) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, watchWait)
	defer cancel()
	w, missed, err := e.store.(session.Subscriber).Watch(ctx, sid, rooms, mark, after)
	if err != nil {
		e.t.Fatalf("Watch: %v", err)
	}
	e.t.Cleanup(w.Stop)
	return w, missed
}

// events waits for n events on w and returns them.
func (e *env) events(w session.Watch, n int) []session.Event {
	e.t.Helper()
	var got []session.Event
	deadline := time.NewTimer(watchWait)
	defer deadline.Stop()
	for len(got) < n {
		select {
		case <-w.C():
			got = append(got, w.Events()...)
		case <-deadline.C:
			e.t.Fatalf("%d of %d events after %s: %+v", len(got), n, watchWait, got)
		}
	}
	return got
}

// testWatchEntries: a watch delivers the entries committed for the session and its rooms, in
// commit order, with the IDs a Read gives them, after the Read's Through.
func testWatchEntries(t *testing.T, e *env) {
	sub := e.store.(session.Subscriber)
	a, b := e.connect("/chat", "A"), e.connect("/chat", "B")
	e.commit(a, func(x *session.Batch) { x.Join("/chat", "lobby") })
	mark := sub.Mark()
	q := e.read(a, 0)
	w, _ := e.watch(a, q.Rooms, mark, q.Through)
	lobby := session.RoomRef{Namespace: "/chat", Room: "lobby"}
	e.commit(b, func(x *session.Batch) { x.Broadcast("/chat", []string{"lobby"}, []string{"muted"}, []byte("to-lobby")) })
	e.commit(a, func(x *session.Batch) { x.Send([]byte("direct")) })
	got := e.events(w, 2)
	if len(got) != 2 || got[0].Kind != session.EventEntry || got[0].Room == nil || *got[0].Room != lobby ||
		string(got[0].Payload) != "to-lobby" || !slices.Equal(got[0].Except, []string{"muted"}) {
		t.Fatalf("first event %+v, want the lobby entry excepting muted", got)
	}
	if got[1].Kind != session.EventEntry || got[1].Room != nil || string(got[1].Payload) != "direct" {
		t.Fatalf("second event %+v, want the session's own entry", got[1])
	}
	if !q.Through.Less(got[0].ID) || !got[0].ID.Less(got[1].ID) {
		t.Fatalf("IDs %v, %v after the read's Through %v: out of order", got[0].ID, got[1].ID, q.Through)
	}
	r := e.read(a, 0)
	if len(r.Entries) != 2 || r.Entries[0].ID != got[0].ID || r.Entries[1].ID != got[1].ID {
		t.Fatalf("Read %+v: IDs differ from the events' %v, %v", r.Entries, got[0].ID, got[1].ID)
	}
	if r.Through.Less(got[1].ID) {
		t.Fatalf("Read's Through %v is before its last entry %v", r.Through, got[1].ID)
	}
}

// testWatchClosed: a close is an event after the last read: EventClosed saying what a Read
// now answers (the reason, and whether a noop is owed), or EventChanged.
func testWatchClosed(t *testing.T, e *env) {
	sub := e.store.(session.Subscriber)
	for _, owes := range []bool{false, true} {
		a := e.connect("/", "A")
		mark := sub.Mark()
		q := e.read(a, 0)
		w, _ := e.watch(a, q.Rooms, mark, q.Through)
		e.commit(a, func(x *session.Batch) { x.Close(session.ReasonTransportClose, owes) })
		ev := e.events(w, 1)[0]
		w.Stop()
		_, err := e.store.Read(e.ctx, a, 0)
		var closed *session.ClosedError
		if !errors.As(err, &closed) {
			t.Fatalf("Read after the close: %v, want a ClosedError", err)
		}
		switch {
		case !q.Through.Less(ev.ID):
			t.Fatalf("event %+v after the close, want one after %v", ev, q.Through)
		case ev.Kind == session.EventChanged:
		case ev.Kind != session.EventClosed:
			t.Fatalf("event %+v after the close, want closed or changed", ev)
		case ev.Closed == nil || *ev.Closed != *closed:
			t.Fatalf("closed event says %+v, Read says %+v", ev.Closed, closed)
		}
	}
}

// testWatchChanged: a change of the session's state (here a join) is an event after which a
// Read accounts for it.
func testWatchChanged(t *testing.T, e *env) {
	sub := e.store.(session.Subscriber)
	a := e.connect("/", "A")
	mark := sub.Mark()
	q := e.read(a, 0)
	w, _ := e.watch(a, q.Rooms, mark, q.Through)
	e.commit(a, func(x *session.Batch) { x.Join("/", "new") })
	ev := e.events(w, 1)[0]
	if ev.Kind != session.EventChanged || !q.Through.Less(ev.ID) {
		t.Fatalf("event %+v after a join, want changed after %v", ev, q.Through)
	}
	r := e.read(a, 0)
	if r.Through.Less(ev.ID) || !slices.Contains(r.Rooms, session.RoomRef{Namespace: "/", Room: "new"}) {
		t.Fatalf("Read after the change: through %v rooms %+v, want through %v with the new room", r.Through, r.Rooms, ev.ID)
	}
}

// testWatchMissed: a watch says when an event for its logs, after the Through of the read that
// followed the mark, may have come since the mark, unseen; following logs another watch had
// followed since before the mark, it missed nothing, nor when what came was committed before
// that read (which accounts for it).
func testWatchMissed(t *testing.T, e *env) {
	sub := e.store.(session.Subscriber)
	a, b := e.connect("/", "A"), e.connect("/", "B")
	e.commit(a, func(x *session.Batch) { x.Join("/", "r") })
	q := e.read(a, 0)
	mark := sub.Mark()
	e.commit(b, func(x *session.Batch) { x.Broadcast("/", []string{"r"}, nil, []byte("m")) })
	if _, missed := e.watch(a, q.Rooms, mark, q.Through); !missed {
		t.Fatal("a watch begun after an event since the mark did not report it missed")
	}
	first, _ := e.watch(a, q.Rooms, sub.Mark(), q.Through)
	mark = sub.Mark()
	q = e.read(a, 0)
	if _, missed := e.watch(a, q.Rooms, mark, q.Through); missed {
		t.Fatal("a watch of logs followed since before the mark, with no event since, reported a miss")
	}

	// A broadcast after the mark and before the read: the read has it.
	mark = sub.Mark()
	e.commit(b, func(x *session.Batch) { x.Broadcast("/", []string{"r"}, nil, []byte("before the read")) })
	e.events(first, 1) // it has reached the process
	q = e.read(a, 0)
	if _, missed := e.watch(a, q.Rooms, mark, q.Through); missed {
		t.Fatal("a watch reported missed an event that the read after the mark accounts for")
	}
	// One after the read (the read is older than it): missed.
	e.commit(b, func(x *session.Batch) { x.Broadcast("/", []string{"r"}, nil, []byte("after the read")) })
	e.events(first, 1)
	if _, missed := e.watch(a, q.Rooms, mark, q.Through); !missed {
		t.Fatal("a watch did not report missed an event committed after the read")
	}
}

// testWatchNotify: a watch told to Notify calls the function when events become pending, at
// once for events already pending, and sends nothing on its channel after that.
func testWatchNotify(t *testing.T, e *env) {
	sub := e.store.(session.Subscriber)
	a := e.connect("/chat", "A")
	mark := sub.Mark()
	q := e.read(a, 0)
	w, _ := e.watch(a, q.Rooms, mark, q.Through)
	e.commit(a, func(x *session.Batch) { x.Send([]byte("before")) })
	select {
	case <-w.C(): // the event is pending: Notify must call at once
	case <-time.After(watchWait):
		t.Fatal("no event for the entry committed before Notify")
	}
	woken := make(chan struct{}, 16)
	w.Notify(func() { woken <- struct{}{} })
	wait := func(what string) {
		t.Helper()
		select {
		case <-woken:
		case <-time.After(watchWait):
			t.Fatalf("Notify's function not called %s", what)
		}
	}
	wait("for an event pending before Notify")
	var got []string
	for deadline := time.Now().Add(watchWait); len(got) < 1 && time.Now().Before(deadline); {
		for _, ev := range w.Events() {
			got = append(got, string(ev.Payload))
		}
		if len(got) == 0 {
			wait("while the event is not yet pending")
		}
	}
	e.commit(a, func(x *session.Batch) { x.Send([]byte("after")) })
	wait("for an event after Notify")
	for deadline := time.Now().Add(watchWait); len(got) < 2 && time.Now().Before(deadline); {
		for _, ev := range w.Events() {
			got = append(got, string(ev.Payload))
		}
		if len(got) < 2 {
			wait("while the second event is not yet pending")
		}
	}
	if !slices.Equal(got, []string{"before", "after"}) {
		t.Fatalf("events %q, want before and after", got)
	}
	select {
	case <-w.C():
		t.Fatal("the channel received a value after Notify")
	default:
	}
}
