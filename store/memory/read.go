package memory

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/serverless-socketio/server/session"
)

// Read merges the session's log with its rooms' logs past its cursor; it changes nothing.
func (s *Store) Read(ctx context.Context, sid string, max int) (*session.Queued, error) {
	if max <= 0 {
		max = 1024
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.open(sid)
	if err != nil {
		return nil, err
	}
	q := &session.Queued{Session: r.s, Through: session.ID{Seq: s.seq}}
	seen := map[session.ID]bool{}
	var found []session.Entry
	add := func(e session.Entry) {
		if !seen[e.ID] {
			seen[e.ID] = true
			found = append(found, e)
		}
	}
	for _, e := range r.log {
		if r.cursor.Less(e.ID) {
			add(e)
		}
	}
	for nsp, so := range r.sockets {
		for room, join := range so.rooms {
			ref := session.RoomRef{Namespace: nsp, Room: room}
			q.Rooms = append(q.Rooms, ref)
			s.readRoom(ref, maxID(r.cursor, join), session.ID{}, so, add)
		}
	}
	for _, l := range r.left {
		s.readRoom(l.ref, maxID(r.cursor, l.join), l.leave, r.sockets[l.ref.Namespace], add)
	}
	slices.SortFunc(found, func(a, b session.Entry) int { return compareID(a.ID, b.ID) })
	if len(found) > max {
		found, q.More = found[:max], true
		q.Through = found[max-1].ID
	}
	q.Entries = found
	slices.SortFunc(q.Rooms, func(a, b session.RoomRef) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Room, b.Room))
	})
	return q, nil
}

// readRoom passes the room's entries after from (and up to to, unless zero) that are not for the
// rooms they except, where so (nil: none) is the reader's socket in the room's namespace.
func (s *Store) readRoom(ref session.RoomRef, from, to session.ID, so *socket, add func(session.Entry)) {
	l := s.rooms[ref]
	if l == nil {
		return
	}
	for _, e := range l.entries {
		if !from.Less(e.id) || (!to.IsZero() && to.Less(e.id)) {
			continue
		}
		if so != nil && slices.ContainsFunc(e.except, func(x string) bool { _, in := so.rooms[x]; return in }) {
			continue
		}
		add(session.Entry{ID: e.id, Payload: e.payload})
	}
}

// Ack moves the cursor past the entries written, records the ping and releases the lease, at once.
func (s *Store) Ack(ctx context.Context, sid string, a session.Ack) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a.Release != "" {
		s.release(sid, a.Release, a.Token)
	}
	r := s.get(sid, s.opt.Now())
	if r == nil || r.closed != nil {
		return nil
	}
	through := a.Through
	if n := len(a.Entries); n > 0 && through.Less(a.Entries[n-1].ID) {
		through = a.Entries[n-1].ID
	}
	if r.cursor.Less(through) {
		r.cursor = through
		r.log = slices.DeleteFunc(r.log, func(e session.Entry) bool { return !r.cursor.Less(e.ID) })
		r.left = slices.DeleteFunc(r.left, func(l leftRoom) bool { return !r.cursor.Less(l.leave) })
	}
	if !a.PingFor.IsZero() && r.s.LastPong.Equal(a.PingFor) {
		r.s.PingSent = true
		r.sched.PingAt = time.Time{}
	}
	return nil
}

func maxID(a, b session.ID) session.ID {
	if a.Less(b) {
		return b
	}
	return a
}

func compareID(a, b session.ID) int {
	switch {
	case a.Less(b):
		return -1
	case b.Less(a):
		return 1
	}
	return 0
}
