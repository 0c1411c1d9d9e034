package session

import (
	"errors"
	"fmt"
)

// Sentinel errors of the store contract. Backends return them (wrapped or not) and callers test
// them with errors.Is; package handler maps them to Engine.IO answers, in one table.
var (
	// ErrNotFound means the session does not exist: never created, expired, or closed.
	ErrNotFound = errors.New("session: not found")
	// ErrClosed means the session was closed recently; a *ClosedError carries the reason.
	// errors.Is(err, ErrNotFound) holds for it too, since to most requests a closed session is
	// simply unknown.
	ErrClosed = errors.New("session: closed")
	// ErrBusy means another holder has the lease ([Store.Acquire]).
	ErrBusy = errors.New("session: lease held by another")
	// ErrAlive means a close conditional on the heartbeat clock ([Batch.CloseIf]) found that it
	// moved: a pong or a first connect came in the meantime. Nothing was applied.
	ErrAlive = errors.New("session: heartbeat moved")
	// ErrUnavailable wraps failures of the backing store itself (network, timeouts).
	ErrUnavailable = errors.New("session: store unavailable")
)

// ClosedError reports a session closed with Reason.
type ClosedError struct {
	Reason Reason
	// OwesNoop reports that the client closed the session over long-polling (a close packet):
	// the GET that learns of it first, held or racing the POST, answers a noop (Engine.IO v4
	// §"Closing a session"), and takes [LeaseNoop] to know it is the first; later requests find
	// the session unknown.
	OwesNoop bool
}

func (e *ClosedError) Error() string { return fmt.Sprintf("session: closed (%s)", e.Reason) }

// Is makes a *ClosedError match both ErrClosed and ErrNotFound.
func (e *ClosedError) Is(target error) bool { return target == ErrClosed || target == ErrNotFound }
