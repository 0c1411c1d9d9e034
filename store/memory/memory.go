// Package memory is the reference [session.Store]: everything in one process's memory, behind one
// mutex. It is what the handler, sio and lambdafn unit tests run on, and the plainest statement
// of the contract: the Redis and DynamoDB stores agree with it subtest by subtest
// (store/storetest).
//
// It is a [session.Subscriber]: a commit hands its entries to the watches of the same store at
// once, in commit order. Several engines in one process may share a Store, as several processes
// share a Redis; processes cannot.
//
// # Concurrency
//
// A Store is safe for concurrent use.
package memory

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"time"

	"github.com/serverless-socketio/server/session"
)

// Options configure a [Store]. Every zero value has a documented default.
type Options struct {
	// SessionTTL is how long a session lives after its last commit; zero means 2 minutes.
	SessionTTL time.Duration
	// Retention is how long a room log keeps an entry; zero means SessionTTL.
	Retention time.Duration
	// ClosedTTL is how long a closed session stays known as closed; zero means 1 minute.
	ClosedTTL time.Duration
	// Pumped says that every WebSocket is written by the process holding it
	// (handler.Config.Pump): commits then list no sessions to push to.
	Pumped bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Store is the in-memory store.
type Store struct {
	opt Options

	mu       sync.Mutex
	seq      int64 // the last ID's Seq: one counter for every log
	sessions map[string]*record
	conns    map[string]string // connection id -> sid
	rooms    map[session.RoomRef]*roomLog
	members  map[session.RoomRef]map[string]struct{} // sids in a room now
	leases   map[leaseKey]leaseHold
	events   uint64 // events published, for Mark
	topics   map[topic]*topicState
}

var (
	_ session.Store      = (*Store)(nil)
	_ session.Subscriber = (*Store)(nil)
)

// record is one session.
type record struct {
	s        session.Session
	sockets  map[string]*socket
	left     []leftRoom
	pending  []byte
	log      []session.Entry // its own log, past the cursor
	cursor   session.ID
	sched    session.Schedule
	closed   *session.ClosedError
	deadline time.Time // when the record vanishes (TTL)
}

type socket struct {
	id    string
	rooms map[string]session.ID // room -> the ID it joined at (it reads what comes after)
	data  json.RawMessage
}

// leftRoom is a room a socket left: readable from join to leave, until the cursor passes leave.
type leftRoom struct {
	ref         session.RoomRef
	join, leave session.ID
}

type roomLog struct{ entries []roomEntry }

type roomEntry struct {
	id      session.ID
	at      time.Time
	except  []string
	payload []byte
}

type leaseKey struct {
	sid   string
	lease session.Lease
}

type leaseHold struct {
	token string
	until time.Time
}

// New returns an empty store.
func New(opt Options) *Store {
	if opt.SessionTTL <= 0 {
		opt.SessionTTL = 2 * time.Minute
	}
	if opt.Retention <= 0 {
		opt.Retention = opt.SessionTTL
	}
	if opt.ClosedTTL <= 0 {
		opt.ClosedTTL = time.Minute
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	return &Store{
		opt: opt, sessions: map[string]*record{}, conns: map[string]string{},
		rooms: map[session.RoomRef]*roomLog{}, members: map[session.RoomRef]map[string]struct{}{},
		leases: map[leaseKey]leaseHold{}, topics: map[topic]*topicState{},
	}
}

// get returns the session's record, nil if there is none (or its TTL passed); s.mu is held.
func (s *Store) get(sid string, now time.Time) *record {
	r := s.sessions[sid]
	if r != nil && now.After(r.deadline) {
		s.drop(sid, r)
		return nil
	}
	return r
}

// drop forgets a session entirely; s.mu is held.
func (s *Store) drop(sid string, r *record) {
	s.unindex(sid, r)
	delete(s.sessions, sid)
	if ts := s.topics[topic{sid: sid}]; ts != nil && len(ts.watchers) == 0 {
		delete(s.topics, topic{sid: sid})
	}
	for k := range s.leases {
		if k.sid == sid {
			delete(s.leases, k)
		}
	}
}

// unindex removes what points at the session: its connections and memberships; s.mu is held.
func (s *Store) unindex(sid string, r *record) {
	for _, c := range []string{r.s.Conn, r.s.Probe} {
		if c != "" && s.conns[c] == sid {
			delete(s.conns, c)
		}
	}
	for nsp, so := range r.sockets {
		for room := range so.rooms {
			s.leave(sid, session.RoomRef{Namespace: nsp, Room: room})
		}
	}
}

func (s *Store) join(sid string, ref session.RoomRef) {
	m := s.members[ref]
	if m == nil {
		m = map[string]struct{}{}
		s.members[ref] = m
	}
	m[sid] = struct{}{}
}

func (s *Store) leave(sid string, ref session.RoomRef) {
	if m := s.members[ref]; m != nil {
		delete(m, sid)
		if len(m) == 0 {
			delete(s.members, ref)
		}
	}
}

// Create stores a new session.
func (s *Store) Create(ctx context.Context, ss *session.Session, sc session.Schedule) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opt.Now()
	s.sessions[ss.ID] = &record{s: *ss, sockets: map[string]*socket{}, sched: sc, deadline: now.Add(s.opt.SessionTTL)}
	if ss.Conn != "" {
		s.conns[ss.Conn] = ss.ID
	}
	return nil
}

// Load returns the session.
func (s *Store) Load(ctx context.Context, sid string) (*session.State, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state(sid)
}

// LoadConn returns the session of a connection.
func (s *Store) LoadConn(ctx context.Context, conn string) (*session.State, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sid, ok := s.conns[conn]
	if !ok {
		return nil, session.ErrNotFound
	}
	return s.state(sid)
}

// open returns the record of a live session, or the error for one that is gone or closed; s.mu
// is held.
func (s *Store) open(sid string) (*record, error) {
	r := s.get(sid, s.opt.Now())
	if r == nil {
		return nil, session.ErrNotFound
	}
	if r.closed != nil {
		ce := *r.closed
		return nil, &ce
	}
	return r, nil
}

// state copies a session out; s.mu is held.
func (s *Store) state(sid string) (*session.State, error) {
	r, err := s.open(sid)
	if err != nil {
		return nil, err
	}
	st := &session.State{Session: r.s, Sockets: make(map[string]*session.Socket, len(r.sockets)), Pending: slices.Clone(r.pending)}
	for nsp, so := range r.sockets {
		rooms := make([]string, 0, len(so.rooms))
		for room := range so.rooms {
			if room != session.AllRoom {
				rooms = append(rooms, room)
			}
		}
		slices.Sort(rooms)
		st.Sockets[nsp] = &session.Socket{Namespace: nsp, ID: so.id, Rooms: rooms, Data: slices.Clone(so.data)}
	}
	return st, nil
}

// Acquire takes or renews a lease.
func (s *Store) Acquire(ctx context.Context, sid string, lease session.Lease, token string, ttl time.Duration) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opt.Now()
	k := leaseKey{sid, lease}
	h, ok := s.leases[k]
	if ok && h.token != token && now.Before(h.until) {
		return h.token, session.ErrBusy
	}
	s.leases[k] = leaseHold{token: token, until: now.Add(ttl)}
	return h.token, nil
}

// Release gives a lease up.
func (s *Store) Release(ctx context.Context, sid string, lease session.Lease, token string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.release(sid, lease, token)
	return nil
}

func (s *Store) release(sid string, lease session.Lease, token string) {
	k := leaseKey{sid, lease}
	if h, ok := s.leases[k]; ok && h.token == token {
		s.leases[k] = leaseHold{token: token} // released; its last holder stays known
	}
}

// Due lists the sessions whose hints have come.
func (s *Store) Due(ctx context.Context, now time.Time, limit int) (*session.Due, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	type hint struct {
		sid string
		at  time.Time
	}
	var expired, ping []hint
	for sid, r := range s.sessions {
		if r.closed != nil || s.get(sid, s.opt.Now()) == nil {
			continue
		}
		if r.sched.Deadline.Before(now) {
			expired = append(expired, hint{sid, r.sched.Deadline})
		}
		if !r.sched.PingAt.IsZero() && !r.sched.PingAt.After(now) {
			ping = append(ping, hint{sid, r.sched.PingAt})
		}
	}
	first := func(hs []hint) []string {
		slices.SortFunc(hs, func(a, b hint) int { return a.at.Compare(b.at) })
		out := make([]string, 0, min(limit, len(hs)))
		for _, h := range hs[:min(limit, len(hs))] {
			out = append(out, h.sid)
		}
		return out
	}
	return &session.Due{Expired: first(expired), Ping: first(ping)}, nil
}
