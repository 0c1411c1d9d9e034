package memory

import (
	"context"
	"sync"

	"github.com/serverless-socketio/server/session"
)

// topic is what a watch follows: a session's own log (sid) or a room's log.
type topic struct {
	sid  string
	room session.RoomRef
}

type topicState struct {
	last     uint64     // the event number of the last event published to it
	lastID   session.ID // that event's ID
	watchers map[*watch]struct{}
}

// Mark returns the number of events published so far.
func (s *Store) Mark() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.events
}

// Watch follows the session and rooms; it is active at once. It missed something if an event for
// one of them, with an ID after after, was published after mark.
func (s *Store) Watch(ctx context.Context, sid string, rooms []session.RoomRef, mark uint64, after session.ID) (session.Watch, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := &watch{PendingEvents: session.NewPendingEvents(), s: s, topics: make([]topic, 0, len(rooms)+1)}
	w.topics = append(w.topics, topic{sid: sid})
	for _, r := range rooms {
		w.topics = append(w.topics, topic{room: r})
	}
	missed := false
	for _, t := range w.topics {
		ts := s.topics[t]
		if ts == nil {
			ts = &topicState{watchers: map[*watch]struct{}{}}
			s.topics[t] = ts
		}
		ts.watchers[w] = struct{}{}
		missed = missed || (ts.last > mark && after.Less(ts.lastID))
	}
	return w, missed, nil
}

// topicEvent is an event of a commit and the topic it is for.
type topicEvent struct {
	t  topic
	ev session.Event
}

// publish hands a commit's events to the watchers of their topics, each watcher all of the
// commit's events for it at once, in order; s.mu is held.
func (s *Store) publish(events []topicEvent) {
	var got map[*watch][]session.Event
	for _, te := range events {
		s.events++
		ts := s.topics[te.t]
		if ts == nil {
			ts = &topicState{watchers: map[*watch]struct{}{}}
			s.topics[te.t] = ts
		}
		ts.last, ts.lastID = s.events, te.ev.ID
		for w := range ts.watchers {
			if got == nil {
				got = map[*watch][]session.Event{}
			}
			got[w] = append(got[w], te.ev)
		}
	}
	for w, evs := range got {
		w.push(evs...)
	}
}

// watch is a memory [session.Watch].
type watch struct {
	*session.PendingEvents
	s      *Store
	topics []topic
	once   sync.Once
}

func (w *watch) push(evs ...session.Event) {
	w.Add(evs...)
	w.Signal()
}

func (w *watch) Stop() {
	w.once.Do(func() {
		w.s.mu.Lock()
		defer w.s.mu.Unlock()
		for _, t := range w.topics {
			if ts := w.s.topics[t]; ts != nil {
				delete(ts.watchers, w)
			}
		}
	})
}
