package session

import (
	"errors"
	"fmt"
)

// Sentinel errors of the store contract. Backends return them (wrapped or not) and callers test
// them with errors.Is; the handler maps them to Engine.IO errors.
var (
	// ErrNotFound means the session does not exist: never created, expired, or closed.
	ErrNotFound = errors.New("session: not found")
	// ErrClosed means the session was closed recently; a *ClosedError carries the reason.
	// errors.Is(err, ErrNotFound) holds for it too, since to most requests a closed session is
	// simply unknown.
	ErrClosed = errors.New("session: closed")
	// ErrBusy means another long-poll GET is already held for the session (Engine.IO forbids
	// two at once).
	ErrBusy = errors.New("session: another poll is in progress")
	// ErrTransport means the request came over another transport than the session's (a
	// polling request after the upgrade to WebSocket).
	ErrTransport = errors.New("session: wrong transport")
	// ErrAlive means a close conditional on the session being expired found it alive: a pong
	// arrived in the meantime.
	ErrAlive = errors.New("session: not expired")
	// ErrUnavailable wraps failures of the backing store itself (network, timeouts).
	ErrUnavailable = errors.New("session: store unavailable")
)

// ClosedError reports a session closed with Reason (a Socket.IO disconnect reason).
type ClosedError struct {
	Reason string
	// Answer is set for the first polling fetch after a close the client asked for (a close
	// packet): that GET answers it with a noop (Engine.IO v4 §"Closing a session"), whether it
	// was held or raced the POST; later requests find the session unknown.
	Answer bool
}

func (e *ClosedError) Error() string { return fmt.Sprintf("session: closed (%s)", e.Reason) }

// Is makes a *ClosedError match both ErrClosed and ErrNotFound.
func (e *ClosedError) Is(target error) bool { return target == ErrClosed || target == ErrNotFound }
