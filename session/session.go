package session

import (
	"encoding/json"
	"time"
)

// Transport is an Engine.IO transport (Engine.IO v4 §"Transports").
type Transport string

// The transports a session can use.
const (
	Polling   Transport = "polling"
	WebSocket Transport = "websocket"
)

// Reason is a Socket.IO disconnect reason: why a namespace socket, or a whole session, ended.
// It reaches the application's Disconnect hook as it is.
type Reason string

// The reasons the server gives (Socket.IO v5 §"Disconnection").
const (
	// ReasonTransportClose: the client closed the session (a close packet, or its WebSocket).
	ReasonTransportClose Reason = "transport close"
	// ReasonTransportError: the transport failed (an abandoned or overlapping long-poll, a body
	// over maxPayload or too slow).
	ReasonTransportError Reason = "transport error"
	// ReasonPingTimeout: the heartbeat stopped, or no namespace connected in time.
	ReasonPingTimeout Reason = "ping timeout"
	// ReasonParseError: the client sent something undecodable or forbidden.
	ReasonParseError Reason = "parse error"
	// ReasonClientNamespaceDisconnect: the client left the namespace (a DISCONNECT packet).
	ReasonClientNamespaceDisconnect Reason = "client namespace disconnect"
	// ReasonServerNamespaceDisconnect: the application disconnected the socket.
	ReasonServerNamespaceDisconnect Reason = "server namespace disconnect"
)

// Session is the Engine.IO part of a session: what the handshake fixed and the heartbeat clock.
type Session struct {
	// ID is the Engine.IO session id (the "sid" query parameter), at least 128 random bits.
	ID string
	// Transport is the transport the session currently uses.
	Transport Transport
	// Conn is the WebSocket connection id (API Gateway's connectionId) when Transport is
	// WebSocket; empty otherwise.
	Conn string
	// Probe is the connection id of a WebSocket probing an upgrade of this polling session
	// (Engine.IO v4 §"Upgrade"), until the upgrade completes; empty otherwise.
	Probe string
	// ConnectDeadline is when the session is closed unless a namespace connects first (Socket.IO's
	// connectTimeout); zero once one has, or when there is no such limit.
	ConnectDeadline time.Time
	// PingInterval and PingTimeout are the values announced in this session's handshake
	// (Engine.IO v4 §"Heartbeat"); they are per session so a deploy can change the defaults
	// without breaking the clients already connected.
	PingInterval time.Duration
	PingTimeout  time.Duration
	// LastPong is when the client last answered a ping, or the handshake time before the first
	// pong. The heartbeat runs on this clock: a ping is due PingInterval after it, and the session
	// is dead PingInterval+PingTimeout after it.
	LastPong time.Time
	// PingSent reports whether the ping due after LastPong has been written to the client.
	PingSent bool
}

// PingDue returns when the next ping is due: PingInterval after the last pong.
func (s *Session) PingDue() time.Time { return s.LastPong.Add(s.PingInterval) }

// NeedsPing reports whether the heartbeat ping is due at now and not written yet.
func (s *Session) NeedsPing(now time.Time) bool { return !s.PingSent && !now.Before(s.PingDue()) }

// Deadline returns the moment the session is dead unless a pong (or, before the first namespace
// connects, a connect) comes first (Engine.IO v4 §"Heartbeat": pingInterval + pingTimeout
// without a pong; Socket.IO's connectTimeout).
func (s *Session) Deadline() time.Time {
	dl := s.LastPong.Add(s.PingInterval + s.PingTimeout)
	if !s.ConnectDeadline.IsZero() && s.ConnectDeadline.Before(dl) {
		dl = s.ConnectDeadline
	}
	return dl
}

// Expired reports whether the session is past its deadline at now.
func (s *Session) Expired(now time.Time) bool { return now.After(s.Deadline()) }

// NextBeat returns the next moment the heartbeat has work at: the ping, or once it is written,
// the deadline.
func (s *Session) NextBeat() time.Time {
	if s.PingSent {
		return s.Deadline()
	}
	return s.PingDue()
}

// Clock is the part of a session a heartbeat decision was made on: a commit or an ack
// conditional on it applies only if no pong and no first connect came in the meantime.
type Clock struct {
	LastPong        time.Time
	ConnectDeadline time.Time
}

// Equal reports whether c and d are the same clock (to the instant, whatever their locations).
func (c Clock) Equal(d Clock) bool {
	return c.LastPong.Equal(d.LastPong) && c.ConnectDeadline.Equal(d.ConnectDeadline)
}

// Clock returns the session's heartbeat clock.
func (s *Session) Clock() Clock {
	return Clock{LastPong: s.LastPong, ConnectDeadline: s.ConnectDeadline}
}

// Schedule is what the sweeper's index keeps of a session: hints, never later than the truth,
// of when it next has work with it. The sweeper checks the session itself before acting.
type Schedule struct {
	// Deadline is when the session may be dead ([Session.Deadline]).
	Deadline time.Time
	// PingAt is when a ping may be due to a WebSocket session whose pings the sweeper sends; zero
	// means none.
	PingAt time.Time
}

// Schedule returns the session's sweeper hints; sweeperPings says whether the sweeper sends
// this session's pings (WebSocket sessions on API Gateway, where no process holds the
// connection).
func (s *Session) Schedule(sweeperPings bool) Schedule {
	sc := Schedule{Deadline: s.Deadline()}
	if sweeperPings && s.Transport == WebSocket && !s.PingSent {
		sc.PingAt = s.PingDue()
	}
	return sc
}

// Socket is one Socket.IO namespace socket of a session, as it was when loaded.
type Socket struct {
	// Namespace is the Socket.IO namespace ("/" or "/chat").
	Namespace string
	// ID is the Socket.IO socket id, public (other clients may see it) and distinct from the
	// Engine.IO session id, which is a secret.
	ID string
	// Rooms are the rooms the socket is in, sorted, including the room named after its ID.
	Rooms []string
	// Data is the per-socket data the application stored, as JSON; nil when none.
	Data json.RawMessage
}

// State is everything a request needs to run the application's hooks for one session.
type State struct {
	Session
	// Sockets maps a namespace to the session's socket in it.
	Sockets map[string]*Socket
	// Pending is the application's partial packet kept between requests (a Socket.IO packet
	// waiting for binary attachments that arrive as separate WebSocket frames); nil when none.
	Pending []byte
	// Revision is what the store that loaded the state keeps of it for [StateCommitter]; nil
	// when it keeps nothing. Opaque to everyone else.
	Revision any
}

// RoomRef names a room in a namespace.
type RoomRef struct {
	Namespace string
	Room      string
}

// AllRoom is the room every socket of a namespace is in: a broadcast with no rooms goes to it.
// It never appears in [Socket.Rooms].
const AllRoom = ""
