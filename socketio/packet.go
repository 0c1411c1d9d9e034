package socketio

import (
	"encoding/json"
	"errors"
	"strconv"
)

// PacketType is the type of a Socket.IO packet, written on the wire as the
// first character, a single ASCII digit (Socket.IO v5 spec, section
// "Exchange protocol").
type PacketType byte

// The Socket.IO v5 packet types. The numeric values are the wire digits and
// must not be reordered.
const (
	// PacketConnect requests (client) or grants (server) access to a
	// namespace; the payload, if any, is a JSON object (auth data or sid).
	PacketConnect PacketType = iota
	// PacketDisconnect leaves a namespace; it has no payload.
	PacketDisconnect
	// PacketEvent carries an event: a non-empty JSON array ["name", args...].
	PacketEvent
	// PacketAck acknowledges an event; its payload is a JSON array.
	PacketAck
	// PacketConnectError refuses a namespace connection; its payload is a
	// JSON string or object (usually {"message": ...}).
	PacketConnectError
	// PacketBinaryEvent is PacketEvent whose payload references binary
	// attachments through placeholders.
	PacketBinaryEvent
	// PacketBinaryAck is PacketAck whose payload references binary
	// attachments through placeholders.
	PacketBinaryAck
)

// DefaultMaxAttachments is the attachment limit the reference JavaScript
// decoder applies by default (socket.io-parser option maxAttachments).
// Decode does not enforce any limit; a caller that buffers attachments
// should reject packets whose Attachments exceed its own limit, for which
// this is a sensible value.
const DefaultMaxAttachments = 10

// ErrInvalidPacket reports a packet that violates the Socket.IO v5 encoding
// or the payload rules of the reference parser. Every error returned by this
// package wraps it, so callers test with errors.Is and, per the spec, close
// the connection.
var ErrInvalidPacket = errors.New("socketio: invalid packet")

// String returns the spec name of t ("CONNECT", "DISCONNECT", "EVENT",
// "ACK", "CONNECT_ERROR", "BINARY_EVENT", "BINARY_ACK"), so that logs match
// the spec text, or "PacketType(N)" when t is not Valid.
func (t PacketType) String() string {
	switch t {
	case PacketConnect:
		return "CONNECT"
	case PacketDisconnect:
		return "DISCONNECT"
	case PacketEvent:
		return "EVENT"
	case PacketAck:
		return "ACK"
	case PacketConnectError:
		return "CONNECT_ERROR"
	case PacketBinaryEvent:
		return "BINARY_EVENT"
	case PacketBinaryAck:
		return "BINARY_ACK"
	}
	return "PacketType(" + strconv.Itoa(int(t)) + ")"
}

// Valid reports whether t is one of the seven Socket.IO v5 packet types.
func (t PacketType) Valid() bool { return t <= PacketBinaryAck }

// IsBinary reports whether t is PacketBinaryEvent or PacketBinaryAck, the
// types whose encoding carries an attachment count.
func (t PacketType) IsBinary() bool { return t == PacketBinaryEvent || t == PacketBinaryAck }

// Packet is one Socket.IO packet, as carried in the data of an Engine.IO
// message packet (spec section "Packet encoding").
type Packet struct {
	// Type is the packet type.
	Type PacketType
	// Namespace is the namespace, starting with '/'. Decode always sets it,
	// to "/" when the packet names none; AppendPacket treats "" as "/".
	// It is kept verbatim, query string included: a v5 client sends its
	// auth data in the CONNECT payload, and the reference server only splits
	// "?query" off the namespace for protocol v4 (Engine.IO v3) clients.
	Namespace string
	// ID is the acknowledgement id, meaningful only when HasID is set.
	ID uint64
	// HasID reports whether the packet carries an acknowledgement id.
	HasID bool
	// Attachments is the number of binary attachments that follow the
	// packet, as separate Engine.IO messages. It is meaningful only for
	// binary types. Decode accepts any count that fits in an int; callers
	// must bound it (see DefaultMaxAttachments) before buffering.
	Attachments int
	// Data is the JSON payload, nil when the packet has none. After Decode
	// it has been checked with json.Valid and aliases the decoded input
	// (capacity-limited, so appending to it never overwrites the input).
	Data json.RawMessage
}
