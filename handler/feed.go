package handler

import (
	"context"
	"slices"
	"time"

	"github.com/serverless-socketio/server/session"
)

// readMax bounds the entries one Read returns.
const readMax = 1024

// feed follows one session's queue for one reader (a held GET, a WebSocket pump): it reads the
// store and, when the store is a session.Subscriber, takes what comes next from its watch's
// events, reading again only after a change of the session, a gap, or an event it may have
// missed. A store without pub/sub is read again whenever the reader waits (on a backoff).
//
// Entries it hands out are the reader's to write; the reader tells it which it wrote (handed),
// so that a later read of a store whose cursor lags (acknowledged lazily) skips them.
type feed struct {
	e   *Engine
	sid string
	sub session.Subscriber // nil: no pub/sub

	q       *session.Queued // the last read (the session's state)
	mark    uint64          // the subscriber's mark taken before the last read
	through session.ID      // what the last read accounts for
	last    session.ID      // the last entry written (Subscriber stores: IDs are ordered)
	rooms   map[session.RoomRef]bool
	pending []session.Entry
	stale   bool                 // a read is due
	closed  *session.ClosedError // the watch said the session was closed: what a read would say

	pre *preRead // a read made with the poll lease (session.LeaseReader), used by the next read

	w       session.Watch
	notify  func() // when set, every watch calls it instead of sending on its channel
	watched []session.RoomRef
	moved   bool          // the last read found rooms the watch does not follow
	delay   time.Duration // the next backoff, without a watch: 50 ms, doubling up to PollBackoff
}

func (e *Engine) newFeed(sid string) *feed {
	f := &feed{e: e, sid: sid, stale: true}
	f.sub, _ = e.cfg.Store.(session.Subscriber)
	return f
}

// session returns the session's state at the last read.
func (f *feed) session() *session.Session { return &f.q.Session }

// next returns the entries to write now, reading the store first when a read is due; none
// means nothing is queued. With a Subscriber store, returning none leaves the watch following
// the session and its current rooms. A watch already following moves at once when a read finds
// the rooms changed, before anything is handed out: otherwise the session's own entries would
// keep coming while a new room's, committed before them, did not, and were then passed over.
// Errors are the store's (a closed session's included).
func (f *feed) next(ctx context.Context) ([]session.Entry, error) {
	for {
		f.take()
		if f.closed != nil {
			return nil, f.closed
		}
		if f.stale {
			if err := f.read(ctx); err != nil {
				return nil, err
			}
		}
		if f.sub != nil && (f.w != nil || len(f.pending) == 0) {
			missed, err := f.watch(ctx)
			if err != nil {
				return nil, err
			}
			if missed {
				f.stale = true
				continue
			}
		}
		out := f.pending
		f.pending = nil
		if f.sub == nil {
			f.stale = true // nothing will say when to read again: every wake-up reads
		}
		return out, nil
	}
}

// preRead is a read made before the feed's first: its answer, and the subscriber's mark taken
// before it.
type preRead struct {
	mark uint64
	q    *session.Queued
	err  error
}

// markNow returns the subscriber's mark (0 without one), for a read made elsewhere.
func (f *feed) markNow() uint64 {
	if f.sub == nil {
		return 0
	}
	return f.sub.Mark()
}

// preload gives the feed's first read the answer of one already made, after mark.
func (f *feed) preload(mark uint64, q *session.Queued, err error) {
	f.pre = &preRead{mark: mark, q: q, err: err}
}

// read reads the store (or takes the read preloaded) and replaces what is pending with what it
// found.
func (f *feed) read(ctx context.Context) error {
	var q *session.Queued
	var err error
	if pre := f.pre; pre != nil {
		f.pre = nil
		f.mark, q, err = pre.mark, pre.q, pre.err
	} else {
		f.mark = f.markNow()
		q, err = f.e.cfg.Store.Read(ctx, f.sid, readMax)
	}
	if err != nil {
		return err
	}
	f.q, f.through, f.stale = q, q.Through, q.More
	f.moved = !sameRooms(f.watched, q.Rooms)
	f.rooms = make(map[session.RoomRef]bool, len(q.Rooms))
	for _, r := range q.Rooms {
		f.rooms[r] = true
	}
	f.pending = f.pending[:0]
	for _, en := range q.Entries {
		if f.sub == nil || f.last.Less(en.ID) {
			f.pending = append(f.pending, en)
		}
	}
	return nil
}

// watch makes the watch follow the session and its rooms as of the last read; it reports
// whether an event may have been missed since that read began (read again, then).
func (f *feed) watch(ctx context.Context) (bool, error) {
	if f.w != nil && !f.moved {
		return false, nil
	}
	w, missed, err := f.sub.Watch(ctx, f.sid, f.q.Rooms, f.mark, f.through)
	if err != nil {
		return false, err
	}
	if f.w != nil {
		f.w.Stop() // after the new watch is active: nothing falls between them
	}
	f.w, f.watched, f.moved = w, slices.Clone(f.q.Rooms), false
	if f.notify != nil {
		w.Notify(f.notify)
	}
	return missed, nil
}

// watchSession starts following the session's own log before the feed's first read, for a
// reader that reads at once (a new WebSocket's pump): the watch after that read then need not
// read again for a channel subscribed after it began. The session's rooms, unknown until the
// read, are followed after it. Without it (or if it fails), the first watch comes after the read.
func (f *feed) watchSession(ctx context.Context) {
	if f.sub == nil || f.w != nil {
		return
	}
	w, _, err := f.sub.Watch(ctx, f.sid, nil, f.markNow(), session.ID{})
	if err != nil {
		return
	}
	f.w = w
	if f.notify != nil {
		w.Notify(f.notify)
	}
}

// take turns the watch's pending events into entries to write, or into a read that is due.
func (f *feed) take() {
	if f.w == nil {
		return
	}
	for _, ev := range f.w.Events() {
		if ev.Kind == session.EventGap {
			f.stale = true
			continue
		}
		if !f.through.Less(ev.ID) || !f.last.Less(ev.ID) {
			continue // the last read accounted for it, or it was written
		}
		switch {
		case ev.Kind == session.EventClosed:
			// What was queued is gone with the session (as a read would find): nothing after it.
			f.closed, f.pending = ev.Closed, nil
			return
		case ev.Kind == session.EventChanged:
			f.stale = true
		case f.stale:
			// The read that is due will return it.
		case len(f.pending) > 0 && !f.pending[len(f.pending)-1].ID.Less(ev.ID):
			// The same entry through another of its rooms (events come in commit order).
		case ev.Room == nil || f.forSession(ev):
			f.pending = append(f.pending, session.Entry{ID: ev.ID, Payload: ev.Payload})
		}
	}
}

// forSession reports whether a room's entry is for this session: it is in the room, and in none
// of the rooms the entry excepts.
func (f *feed) forSession(ev session.Event) bool {
	if !f.rooms[*ev.Room] {
		return false
	}
	for _, x := range ev.Except {
		if f.rooms[session.RoomRef{Namespace: ev.Room.Namespace, Room: x}] {
			return false
		}
	}
	return true
}

// ack returns the acknowledgement of entries written, all that next returned: they, and what the
// last read passed over (entries not for the session), leave the queue.
func (f *feed) ack(entries []session.Entry) session.Ack {
	a := session.Ack{Entries: entries, Through: f.through}
	if n := len(entries); n > 0 && a.Through.Less(entries[n-1].ID) {
		a.Through = entries[n-1].ID
	}
	if a.Through.Less(f.last) {
		a.Through = f.last
	}
	return a
}

// handed records that entries were written to the client.
func (f *feed) handed(entries []session.Entry) {
	if n := len(entries); n > 0 && f.sub != nil {
		f.last = entries[n-1].ID
	}
}

// wake returns what fires when next may have something new: the watch's channel, or, for a
// store without one, a backoff timer (the other is nil).
func (f *feed) wake() (<-chan struct{}, <-chan time.Time) {
	if f.w != nil {
		return f.w.C(), nil
	}
	if f.delay == 0 {
		f.delay = 50 * time.Millisecond
	}
	d := min(f.delay, f.e.cfg.PollBackoff)
	f.delay = min(2*f.delay, f.e.cfg.PollBackoff)
	return nil, time.After(d)
}

func (f *feed) stop() {
	if f.w != nil {
		f.w.Stop()
		f.w = nil
	}
}

// sameRooms reports whether a and b list the same rooms, in any order.
func sameRooms(a, b []session.RoomRef) bool {
	if len(a) != len(b) {
		return false
	}
	set := make(map[session.RoomRef]struct{}, len(a))
	for _, r := range a {
		set[r] = struct{}{}
	}
	for _, r := range b {
		if _, ok := set[r]; !ok {
			return false
		}
	}
	return true
}
