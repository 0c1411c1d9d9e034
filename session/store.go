package session

import (
	"context"
	"strconv"
	"time"
)

// Store is storage for sessions: their Engine.IO state, their namespace sockets and rooms, the
// logs of what is queued for them, and leases. It applies what it is told, atomically, and
// answers reads without side effects; it decides nothing. When a GET holds, who writes a
// WebSocket, when a ping is due or a session dead, what a closed session owes: all of that is
// decided above it (package handler), the same way for every store.
//
// Implementations are safe for concurrent use by any number of processes sharing the same
// backend. store/storetest is the suite every implementation passes; store/memory is the
// reference.
type Store interface {
	// Create stores a new session, indexed by s.Conn when it has one, with the sweeper's hints sc.
	Create(ctx context.Context, s *Session, sc Schedule) error
	// Load returns the session and its sockets. A missing session is ErrNotFound; a closed one a
	// *ClosedError (which is also ErrNotFound).
	Load(ctx context.Context, sid string) (*State, error)
	// LoadConn is Load for the session a WebSocket connection belongs to (as its transport or
	// as an upgrade probe). An unknown connection is ErrNotFound.
	LoadConn(ctx context.Context, conn string) (*State, error)
	// Commit applies the batch atomically and in order: all of it or, on error, none of it.
	// It fails with ErrNotFound if the session is gone, and ErrAlive as [Batch.CloseIf] says.
	Commit(ctx context.Context, sid string, b *Batch) (*Committed, error)
	// Read returns what is queued for the session past its cursor, up to max entries (zero
	// means 1024), oldest first: its own log merged with its rooms' logs in commit order, each
	// entry once. It changes nothing: the same Read again returns the same entries, until an Ack
	// takes them. A closed session is a *ClosedError, a missing one ErrNotFound.
	Read(ctx context.Context, sid string, max int) (*Queued, error)
	// Ack records what a reader wrote to the client (see [Ack]): the entries, the ping, then the
	// release, atomically where the store can (Redis, memory); where it cannot (DynamoDB) in that
	// order, so that a failure part-way leaves only what follows undone (a lease not released
	// expires on its own). A session that is gone is not an error: there is nothing left to
	// acknowledge.
	Ack(ctx context.Context, sid string, a Ack) error
	// Acquire takes the lease for token until ttl from now, or renews it if token holds it
	// already, and returns prev: the token of the last Acquire before this one that took or
	// renewed the lease (its last holder, whether it released it, let it expire, or is token
	// itself; empty if none ever did), or, in a store that counts them, of a failed Acquire
	// after that one. So prev is a token that tried the lease last: when it is the one a caller
	// expects, nobody else took the lease in between. It fails with ErrBusy while another token
	// holds it (prev then names the holder, or is empty where the store cannot tell). Leases
	// outlive a close (a closed session's [LeaseNoop]) and do not check that the session exists.
	Acquire(ctx context.Context, sid string, lease Lease, token string, ttl time.Duration) (prev string, err error)
	// Release gives the lease up if token holds it; otherwise it does nothing.
	Release(ctx context.Context, sid string, lease Lease, token string) error
	// Due returns up to limit sessions of each kind of work the sweeper may have at now, from
	// the hints of [Schedule]: the sweeper checks each one before acting.
	Due(ctx context.Context, now time.Time, limit int) (*Due, error)
}

// LeaseReader is the optional capability of a store to take a lease and read the session in
// one step (Redis: one pipeline), for a reader that will read right after taking it, such as a
// GET with nothing in memory. AcquireRead is Acquire; when it took the lease and could read in
// the same step, read is true and q, qerr are what Read(ctx, sid, max) returns at a moment when
// this token held the lease or nobody did, and nobody acknowledged anything between then and
// the taking (right after it on Redis, right before it on DynamoDB). Otherwise read is false and
// the caller reads on its own. When read is true and the session does not exist (qerr is
// ErrNotFound, not a *ClosedError), the lease is not held afterwards: a GET for an unknown sid
// has nothing to let go.
type LeaseReader interface {
	AcquireRead(ctx context.Context, sid string, lease Lease, token string, ttl time.Duration, max int) (prev string, read bool, q *Queued, qerr error, err error)
}

// StateCommitter is the optional capability of a store to commit a batch against the state the
// same request loaded (st from Load or LoadConn, with its Revision), saving the read a Commit
// starts with. It behaves exactly as Commit(ctx, st.ID, b): if the session changed since it was
// loaded, the store reads it again.
type StateCommitter interface {
	CommitState(ctx context.Context, st *State, b *Batch) (*Committed, error)
}

// Lease names a lease of a session ([Store.Acquire]): a token and an expiry, so that of several
// requests, processes or Lambda invocations, one at a time does a thing.
type Lease string

// The leases the server takes.
const (
	// LeasePoll is held by the long-poll GET of the session (Engine.IO allows one at a time)
	// from its start until its answer is written and acknowledged.
	LeasePoll Lease = "poll"
	// LeaseWrite is held by whoever writes the session's packets to its WebSocket: the pump of
	// the process holding the connection, or a push after a commit (on API Gateway). One writer
	// at a time keeps every recipient's packets in order.
	LeaseWrite Lease = "write"
	// LeaseNoop is taken on a closed session by the GET that answers the client's close with a
	// noop: the first one only ([ClosedError.OwesNoop]).
	LeaseNoop Lease = "noop"
)

// ID is an entry's place in the store's order of commits. Entries of a store that is a
// [Subscriber] compare across all its logs: a reader merging its session's log and its rooms'
// logs, and the events of a [Watch], see every sender's packets in commit order. The zero ID
// comes before every entry.
type ID struct {
	Time int64 // milliseconds (Redis stream ids); 0 for stores with a plain counter
	Seq  int64
}

// Less reports whether a comes before b.
func (a ID) Less(b ID) bool { return a.Time < b.Time || (a.Time == b.Time && a.Seq < b.Seq) }

// IsZero reports whether a is the zero ID.
func (a ID) IsZero() bool { return a == ID{} }

// String returns "time-seq", the form of a Redis stream id.
func (a ID) String() string {
	return strconv.FormatInt(a.Time, 10) + "-" + strconv.FormatInt(a.Seq, 10)
}

// Entry is one queued payload (see [Batch] for its encoding).
type Entry struct {
	ID      ID
	Payload []byte
	// Ref is what the store needs besides ID to take the entry out of its queue; opaque to
	// everyone else, and empty for stores that need only ID.
	Ref string
}

// Queued is the result of a [Store.Read].
type Queued struct {
	// Session is the session's Engine.IO state at the read.
	Session Session
	// Entries are the queued entries, oldest first.
	Entries []Entry
	// More reports that more entries are queued than were returned.
	More bool
	// Rooms are the rooms the session reads from: what a [Watch] must follow.
	Rooms []RoomRef
	// Through is the last ID the read accounts for: every entry committed for the session up
	// to it is in Entries, or was taken before, or is not for the session (set by a store whose
	// IDs are ordered; zero otherwise). A watch active before the read delivers what came after
	// it, and an [Ack] through it takes all of it.
	Through ID
}

// Ack is what a reader wrote to the client, for [Store.Ack].
type Ack struct {
	// Entries are the entries written, oldest first: what a Read returned (or a prefix of it),
	// or what a Watch delivered. They leave the queue. A store whose IDs are ordered (a
	// [Subscriber]) needs only the last: every entry before it is delivered too.
	Entries []Entry
	// Through, for a store whose IDs are ordered, moves the cursor to it (if it is past the last
	// of Entries): the reader wrote everything up to it that was for the session, such as all of
	// a Read whose Through it is, which may also have passed over entries not for the session.
	// Other stores ignore it. Zero means the last of Entries.
	Through ID
	// PingFor, when not zero, records that the heartbeat ping due after this LastPong was written
	// ([Session.PingSent]): it applies only while the session's LastPong is still PingFor (a pong
	// that came meanwhile starts a new period, whose ping is still owed).
	PingFor time.Time
	// Release, when not empty, gives up the lease held with Token at the same time.
	Release Lease
	Token   string
}

// Committed is the result of a [Store.Commit].
type Committed struct {
	// Flush lists the WebSocket sessions that have new packets to push: this session if it is
	// on WebSocket and sent itself something, and the WebSocket members of every room the
	// batch broadcast to. Polling sessions are never listed: they read on their own. A store
	// told that every WebSocket is pumped (by the process holding it) may list none.
	Flush []string
}

// Due is the sweeper's work, from the hints of [Schedule].
type Due struct {
	// Expired are sessions that may be past their deadline, or have work that a commit of the
	// session does (DynamoDB: a broadcast left to fan out); the sweeper checks each.
	Expired []string
	// Ping are WebSocket sessions whose heartbeat ping may be due.
	Ping []string
}

// Subscriber is the optional capability of a store to publish what it commits (Redis pub/sub):
// a process then hands packets to its held polls and WebSocket pumps from memory, and reads the
// logs only to fill a gap. Without it, a waiting reader reads again on a bounded backoff.
type Subscriber interface {
	// Mark returns the current point in the process's stream of events.
	Mark() uint64
	// Watch follows the session's own log and the logs of rooms. The watch is active when
	// Watch returns: everything committed after that reaches it. missed reports whether an event
	// for these logs with an ID after after (the Through of the caller's last Read, which
	// accounts for the rest) may have come between mark (taken before that Read) and then,
	// unseen: the caller must then Read again.
	Watch(ctx context.Context, sid string, rooms []RoomRef, mark uint64, after ID) (w Watch, missed bool, err error)
}

// Watch is an active subscription from [Subscriber.Watch].
type Watch interface {
	// C receives a value when events are pending.
	C() <-chan struct{}
	// Notify has f called instead, from the store's goroutine, whenever events become pending
	// (at once if some are): a reader that waits without a goroutine of its own (a WebSocket
	// pump) is woken so. f must return at once. C receives nothing after it.
	Notify(f func())
	// Events takes the pending events, in commit order.
	Events() []Event
	// Stop ends the watch; it is safe to call more than once.
	Stop()
}

// EventKind tells events apart.
type EventKind uint8

// The kinds of [Event].
const (
	// EventEntry is an entry committed to the session's log (Room nil) or to a room's log.
	EventEntry EventKind = iota + 1
	// EventChanged says that the session's state changed (rooms, heartbeat, transport, close):
	// read it again.
	EventChanged
	// EventGap says that events may have been lost (a reconnect to the store): read again.
	EventGap
	// EventClosed says that the session was closed, and Closed how: what a Read now returns,
	// without the read. A store may send EventChanged for a close instead.
	EventClosed
)

// Event is one thing a [Watch] delivers.
type Event struct {
	Kind EventKind
	ID   ID
	// Room is the room whose log the entry went to; nil for the session's own log.
	Room *RoomRef
	// Except are the rooms of Room's namespace whose members the entry is not for.
	Except  []string
	Payload []byte
	// Closed is the reason of an EventClosed.
	Closed *ClosedError
}
