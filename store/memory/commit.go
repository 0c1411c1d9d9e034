package memory

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/serverless-socketio/server/session"
)

// Commit applies the batch atomically: every condition is checked first, then the operations
// run in order, and the watches get what the commit published.
func (s *Store) Commit(ctx context.Context, sid string, b *session.Batch) (*session.Committed, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opt.Now()
	r := s.get(sid, now)
	if r == nil || r.closed != nil {
		return nil, session.ErrNotFound
	}
	for _, op := range b.Ops {
		if op.Kind == session.OpRequire && !r.s.Clock().Equal(op.Clock) {
			return nil, session.ErrAlive
		}
	}
	c := &commit{s: s, sid: sid, r: r, now: now, flush: map[string]bool{}}
	for _, op := range b.Ops {
		if err := c.apply(op); err != nil {
			return nil, err
		}
		if r.closed != nil {
			break
		}
	}
	c.finish()
	out := &session.Committed{}
	if !s.opt.Pumped {
		for m := range c.flush {
			out.Flush = append(out.Flush, m)
		}
		slices.Sort(out.Flush)
	}
	return out, nil
}

// commit is one Commit in progress; s.mu is held throughout.
type commit struct {
	s       *Store
	sid     string
	r       *record
	now     time.Time
	changed bool            // the session's state changed: watchers must read it again
	closed  bool            // the session was closed: watchers learn how from the event
	flush   map[string]bool // WebSocket sessions with new packets
	events  []topicEvent    // what the commit publishes, in order
}

func (c *commit) nextID() session.ID {
	c.s.seq++
	return session.ID{Seq: c.s.seq}
}

// lastID is the ID of the last entry committed anywhere: a join reads what comes after it.
func (c *commit) lastID() session.ID { return session.ID{Seq: c.s.seq} }

func (c *commit) apply(op session.Op) error {
	r := c.r
	switch op.Kind {
	case session.OpConnect:
		if old := r.sockets[op.Namespace]; old != nil {
			// A second connect replaces the socket, rooms included.
			for room := range old.rooms {
				c.s.leave(c.sid, session.RoomRef{Namespace: op.Namespace, Room: room})
			}
		}
		at := c.lastID()
		r.sockets[op.Namespace] = &socket{id: op.Socket, rooms: map[string]session.ID{op.Socket: at, session.AllRoom: at}}
		c.s.join(c.sid, session.RoomRef{Namespace: op.Namespace, Room: op.Socket})
		c.s.join(c.sid, session.RoomRef{Namespace: op.Namespace, Room: session.AllRoom})
		r.s.ConnectDeadline = time.Time{}
		c.changed = true
	case session.OpDisconnect:
		if so := r.sockets[op.Namespace]; so != nil {
			for room := range so.rooms {
				c.leaveRoom(op.Namespace, room)
			}
			delete(r.sockets, op.Namespace)
		}
		c.changed = true
	case session.OpJoin:
		if so := r.sockets[op.Namespace]; so != nil {
			if _, in := so.rooms[op.Room]; !in {
				so.rooms[op.Room] = c.lastID()
				c.s.join(c.sid, session.RoomRef{Namespace: op.Namespace, Room: op.Room})
				c.changed = true
			}
		}
	case session.OpLeave:
		c.leaveRoom(op.Namespace, op.Room)
	case session.OpSetData:
		if so := r.sockets[op.Namespace]; so != nil {
			so.data = slices.Clone(op.Data)
		}
	case session.OpSend:
		e := session.Entry{ID: c.nextID(), Payload: slices.Clone(op.Payload)}
		r.log = append(r.log, e)
		c.publish(topic{sid: c.sid}, session.Event{Kind: session.EventEntry, ID: e.ID, Payload: e.Payload})
		if r.s.Transport == session.WebSocket {
			c.flush[c.sid] = true
		}
	case session.OpBroadcast:
		c.broadcast(op)
	case session.OpPong:
		if op.At.After(r.s.LastPong) {
			r.s.LastPong = op.At
		}
		r.s.PingSent = false
		c.changed = true
	case session.OpSetPending:
		r.pending = slices.Clone(op.Data)
		if len(r.pending) == 0 {
			r.pending = nil
		}
	case session.OpProbe:
		c.probe(op.Socket)
	case session.OpUpgrade:
		if r.s.Probe != "" && r.s.Transport == session.Polling {
			r.s.Transport, r.s.Conn, r.s.Probe = session.WebSocket, r.s.Probe, ""
			c.flush[c.sid] = true
			c.changed = true
		}
	case session.OpSchedule:
		r.sched = op.Schedule
	case session.OpRequire:
		// Checked before anything applied.
	case session.OpClose:
		c.close(op)
	default:
		return fmt.Errorf("memory store: unknown operation %d", op.Kind)
	}
	return nil
}

// leaveRoom takes the socket of nsp out of room; what came before stays readable.
func (c *commit) leaveRoom(nsp, room string) {
	so := c.r.sockets[nsp]
	if so == nil {
		return
	}
	join, in := so.rooms[room]
	if !in {
		return
	}
	ref := session.RoomRef{Namespace: nsp, Room: room}
	c.r.left = append(c.r.left, leftRoom{ref: ref, join: join, leave: c.lastID()})
	delete(so.rooms, room)
	c.s.leave(c.sid, ref)
	c.changed = true
}

func (c *commit) broadcast(op session.Op) {
	id := c.nextID()
	payload := slices.Clone(op.Payload)
	except := slices.Clone(op.Except)
	for _, room := range op.Rooms {
		ref := session.RoomRef{Namespace: op.Namespace, Room: room}
		l := c.s.rooms[ref]
		if l == nil {
			l = &roomLog{}
			c.s.rooms[ref] = l
		}
		l.entries = append(l.entries, roomEntry{id: id, at: c.now, except: except, payload: payload})
		c.s.trim(l, c.now)
		c.publish(topic{room: ref}, session.Event{Kind: session.EventEntry, ID: id, Room: &ref, Except: except, Payload: payload})
		for m := range c.s.members[ref] {
			if mr := c.s.sessions[m]; mr != nil && mr.s.Transport == session.WebSocket && !c.s.excepted(m, op.Namespace, except) {
				c.flush[m] = true
			}
		}
	}
}

// excepted reports whether session sid is in any of the rooms except of nsp; s.mu is held.
func (s *Store) excepted(sid, nsp string, except []string) bool {
	for _, room := range except {
		if _, in := s.members[session.RoomRef{Namespace: nsp, Room: room}][sid]; in {
			return true
		}
	}
	return false
}

// trim drops a room log's entries older than the retention; s.mu is held.
func (s *Store) trim(l *roomLog, now time.Time) {
	cut := 0
	for cut < len(l.entries) && now.Sub(l.entries[cut].at) > s.opt.Retention {
		cut++
	}
	l.entries = l.entries[cut:]
}

func (c *commit) probe(conn string) {
	r := c.r
	if conn == "" {
		if r.s.Probe != "" && c.s.conns[r.s.Probe] == c.sid {
			delete(c.s.conns, r.s.Probe)
		}
		r.s.Probe = ""
	} else {
		r.s.Probe = conn
		c.s.conns[conn] = c.sid
	}
	c.changed = true
}

// close turns the session into a tombstone: its logs, memberships and connections go.
func (c *commit) close(op session.Op) {
	r := c.r
	c.s.unindex(c.sid, r)
	r.closed = &session.ClosedError{Reason: op.Reason, OwesNoop: op.OwesNoop}
	r.sockets, r.left, r.log, r.pending = nil, nil, nil, nil
	r.sched = session.Schedule{}
	r.deadline = c.now.Add(c.s.opt.ClosedTTL)
	delete(c.flush, c.sid)
	c.closed = true
}

// finish publishes the state change, if any, and extends the session's life.
func (c *commit) finish() {
	if c.r.closed == nil {
		c.r.deadline = c.now.Add(c.s.opt.SessionTTL)
	}
	switch {
	case c.closed:
		c.publish(topic{sid: c.sid}, session.Event{Kind: session.EventClosed, ID: c.nextID(), Closed: c.r.closed})
	case c.changed:
		c.publish(topic{sid: c.sid}, session.Event{Kind: session.EventChanged, ID: c.nextID()})
	}
	c.s.publish(c.events)
}

// publish records an event of the commit; finish hands them all to the watches at once.
func (c *commit) publish(t topic, ev session.Event) {
	c.events = append(c.events, topicEvent{t, ev})
}
