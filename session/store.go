package session

import (
	"context"
	"time"
)

// Store keeps sessions, sockets, rooms and queued packets. Implementations are safe for
// concurrent use by any number of processes sharing the same backend.
type Store interface {
	// Create stores a new session with its heartbeat clock started at s.LastPong, indexed by
	// s.Conn when it has one.
	Create(ctx context.Context, s *Session) error
	// Load returns the session and its sockets. A missing session is ErrNotFound; a closed one a
	// *ClosedError (which is also ErrNotFound).
	Load(ctx context.Context, sid string) (*State, error)
	// LoadConn is Load for the session a WebSocket connection belongs to (as its transport or
	// as an upgrade probe). An unknown connection is ErrNotFound.
	LoadConn(ctx context.Context, conn string) (*State, error)
	// Commit applies the batch atomically and in order: all of it or, on error, none of it.
	// It fails with ErrNotFound if the session is gone, and ErrAlive as OpClose describes.
	Commit(ctx context.Context, sid string, b *Batch) (*Committed, error)
	// Fetch takes the packets queued for the session since its last fetch (its own log merged
	// with its rooms' logs, in commit order) and advances its cursor past them.
	Fetch(ctx context.Context, sid string, req FetchRequest) (*Fetched, error)
	// Due returns up to limit sessions of each kind of work the sweeper has at now.
	Due(ctx context.Context, now time.Time, limit int) (*Due, error)
}

// StateCommitter is the optional capability of a store to commit a batch against the state the
// same request loaded (st from Load or LoadConn, with its Revision), saving the read a Commit
// starts with. It behaves exactly as Commit(ctx, st.ID, b): if the session changed since it was
// loaded, the store reads it again.
type StateCommitter interface {
	CommitState(ctx context.Context, st *State, b *Batch) (*Committed, error)
}

// Committed is the result of a [Store.Commit].
type Committed struct {
	// Flush lists the WebSocket sessions that have new packets to push: this session if it is
	// on WebSocket and sent itself something, and the WebSocket members of every room the
	// batch broadcast to. Polling sessions are never listed: they fetch on their own.
	Flush []string
}

// Due is the sweeper's work.
type Due struct {
	// Expired are sessions past their heartbeat (or namespace-connect) deadline.
	Expired []string
	// Ping are WebSocket sessions whose heartbeat ping is due.
	Ping []string
}

// FetchRequest tunes one [Store.Fetch].
type FetchRequest struct {
	// Max bounds the number of payloads returned; zero means 1024.
	Max int
	// Poll identifies the long-poll GET fetching (any unique string). While a GET holds the
	// session, a fetch by another Poll fails with ErrBusy. Empty means no poll bookkeeping.
	Poll string
	// Hold, with Poll, marks the session as held by Poll for this long when nothing is queued.
	// Zero releases the hold instead, if Poll holds it.
	Hold time.Duration
	// Transport is the transport fetching: "polling" (zero value) or "websocket". A fetch by
	// another transport than the session's fails with ErrTransport.
	Transport string
	// Lease, with Poll and Hold, makes the hold a flush lease (WebSocket push): it is taken
	// while the fetch returns something and released by the fetch that returns nothing, so one
	// flusher at a time pushes a session's packets, in order. A fetch by another Poll while the
	// lease is held fails with ErrBusy; the holder will pick up what it committed.
	Lease bool
	// Pin, with Poll and Hold, makes the hold a WebSocket pump's: every fetch by Poll keeps and
	// renews it, whatever it finds, so that only the pump of the process holding the connection
	// takes the session's packets, and writes them in order. Rooms is then always set. Only
	// stores that are a [Notifier] support it.
	Pin bool
	// Ping asks for the heartbeat ping when it is due (PingInterval after the last pong and not
	// sent yet): the fetch then records it as sent, reports Pinged, and releases the hold (a pin
	// stays).
	Ping bool
}

// Fetched is the result of a [Store.Fetch].
type Fetched struct {
	// Session is the session's heartbeat state after the fetch.
	Session Session
	// Payloads are the queued payloads, oldest first; see [Batch] for their encoding.
	Payloads [][]byte
	// Pinged reports that the ping was due and is now recorded as sent: the caller must send it.
	Pinged bool
	// Upgrading reports that a WebSocket probes an upgrade of this polling session: a GET must
	// answer a noop so that the client can complete it.
	Upgrading bool
	// More reports that more payloads are queued than were returned.
	More bool
	// Rooms are the rooms the session reads from, for [Notifier.Watch]; set only when no
	// payloads were returned, or with Pin.
	Rooms []RoomRef
	// Expired reports that the session is past its heartbeat deadline: nothing was fetched and
	// the caller should close it ("ping timeout").
	Expired bool
}

// Notifier is the optional capability of a store to push wake-ups to waiting long-polls
// (Redis pub/sub). Without it, a held poll fetches again on a bounded backoff.
type Notifier interface {
	// Watch starts watching for packets committed for the session or for any of rooms. The watch
	// is active when Watch returns: anything committed after that fires it.
	Watch(ctx context.Context, sid string, rooms []RoomRef) (Watch, error)
}

// MarkingNotifier is a [Notifier] that can tell whether a watch missed nothing: a long-poll takes
// a Mark before its first fetch, and if WatchSince then reports nothing missed since the mark, that
// fetch saw everything and the poll can wait at once instead of fetching a second time.
type MarkingNotifier interface {
	Notifier
	// Mark returns the current point in the store's stream of wake-ups.
	Mark() uint64
	// WatchSince is Watch, and reports whether a wake-up for the session or rooms may have
	// come since mark (always true when it cannot tell).
	WatchSince(ctx context.Context, sid string, rooms []RoomRef, mark uint64) (w Watch, missed bool, err error)
}

// Watch is an active subscription from [Notifier.Watch].
type Watch interface {
	// C receives a value when packets may have been queued (possibly spuriously).
	C() <-chan struct{}
	// Stop ends the watch; it is safe to call more than once.
	Stop()
}
