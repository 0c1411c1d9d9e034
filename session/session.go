package session

import (
	"encoding/json"
	"time"
)

// Session is the Engine.IO part of a session: what the handshake fixed and the heartbeat clock.
type Session struct {
	// ID is the Engine.IO session id (the "sid" query parameter), at least 128 random bits.
	ID string
	// Transport is the transport the session currently uses: "polling" or "websocket".
	Transport string
	// Conn is the WebSocket connection id (API Gateway's connectionId) when Transport is
	// "websocket"; empty otherwise.
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
	// PingSent reports whether the ping due after LastPong has been sent already.
	PingSent bool
}

// PingDue returns when the next ping is due: PingInterval after the last pong.
func (s *Session) PingDue() time.Time { return s.LastPong.Add(s.PingInterval) }

// Deadline returns the moment the session is dead unless a pong arrives before it
// (Engine.IO v4 §"Heartbeat": pingInterval + pingTimeout without a pong).
func (s *Session) Deadline() time.Time { return s.LastPong.Add(s.PingInterval + s.PingTimeout) }

// Expired reports whether the session is past its heartbeat deadline, or its namespace-connect
// deadline, at now.
func (s *Session) Expired(now time.Time) bool {
	return now.After(s.Deadline()) || (!s.ConnectDeadline.IsZero() && now.After(s.ConnectDeadline))
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

// RoomRef names a room in a namespace: what a long-poll watches for wake-ups.
type RoomRef struct {
	Namespace string
	Room      string
}

// AllRoom is the room every socket of a namespace is in: a broadcast with no rooms goes to it.
// It never appears in [Socket.Rooms].
const AllRoom = ""
