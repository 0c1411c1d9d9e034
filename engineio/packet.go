package engineio

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
)

// PacketType is the type of an Engine.IO packet, written on the wire as a
// single ASCII digit (Engine.IO v4 spec, section "Protocol").
type PacketType byte

// The Engine.IO v4 packet types. The numeric values are the wire digits and
// must not be reordered.
const (
	// PacketOpen is sent by the server during the handshake, with the JSON
	// handshake data (sid, upgrades, pingInterval, pingTimeout, maxPayload).
	PacketOpen PacketType = iota
	// PacketClose signals that a transport can be closed.
	PacketClose
	// PacketPing is part of the heartbeat; during an upgrade it carries "probe".
	PacketPing
	// PacketPong answers PacketPing; during an upgrade it carries "probe".
	PacketPong
	// PacketMessage carries application data (text or binary).
	PacketMessage
	// PacketUpgrade completes a transport upgrade.
	PacketUpgrade
	// PacketNoop is sent to a pending polling request to close it cleanly
	// during an upgrade.
	PacketNoop
)

// RecordSeparator is the byte that separates packets in an HTTP
// long-polling payload (spec section "Packet encoding / HTTP long-polling").
const RecordSeparator = 0x1e

// binaryPrefix marks a base64-encoded binary message in the text encoding
// (spec section "Packet encoding / HTTP long-polling").
const binaryPrefix = 'b'

// ErrInvalidPacket reports a packet that does not follow the Engine.IO v4
// text encoding. Errors returned by this package for a malformed packet wrap
// it, so callers test with errors.Is.
var ErrInvalidPacket = errors.New("engineio: invalid packet")

// ErrInvalidPayload reports a long-polling body that cannot be split into
// packets. When the cause is a malformed packet inside the payload, the
// returned error wraps both ErrInvalidPayload and ErrInvalidPacket.
var ErrInvalidPayload = errors.New("engineio: invalid payload")

// String returns the spec name of t ("open", "close", "ping", "pong",
// "message", "upgrade", "noop"), or "PacketType(N)" when t is not Valid.
func (t PacketType) String() string {
	switch t {
	case PacketOpen:
		return "open"
	case PacketClose:
		return "close"
	case PacketPing:
		return "ping"
	case PacketPong:
		return "pong"
	case PacketMessage:
		return "message"
	case PacketUpgrade:
		return "upgrade"
	case PacketNoop:
		return "noop"
	}
	return "PacketType(" + strconv.Itoa(int(t)) + ")"
}

// Valid reports whether t is one of the seven Engine.IO v4 packet types.
func (t PacketType) Valid() bool { return t <= PacketNoop }

// Packet is one Engine.IO packet.
//
// Binary is true only for binary message packets: Type is then PacketMessage
// and Data holds the raw (decoded) bytes. For text packets Data holds the
// UTF-8 text that follows the type digit; it is nil when the packet has no
// data (for example a bare ping "2").
type Packet struct {
	Type   PacketType
	Data   []byte
	Binary bool
}

// DecodePacket decodes one text-encoded packet: a type digit followed by
// optional data, or 'b' followed by standard, padded base64, which is a
// binary message (spec section "Packet encoding / HTTP long-polling").
//
// For a text packet the returned Data aliases p (capacity-limited, so
// appending to it never overwrites p); for a binary packet Data is a newly
// allocated slice. An empty packet, an unknown type digit or malformed
// base64 yields an error wrapping ErrInvalidPacket. Data of any type is
// accepted, as the reference parser does; whether a type may carry data is
// left to the session layer. UTF-8 validity of text data is not checked.
func DecodePacket(p []byte) (Packet, error) {
	if len(p) == 0 {
		return Packet{}, fmt.Errorf("%w: empty packet", ErrInvalidPacket)
	}
	if p[0] == binaryPrefix {
		src := p[1:]
		buf := make([]byte, base64.StdEncoding.DecodedLen(len(src)))
		n, err := base64.StdEncoding.Decode(buf, src)
		if err != nil {
			return Packet{}, fmt.Errorf("%w: bad base64 in binary packet: %v", ErrInvalidPacket, err)
		}
		var data []byte
		if n > 0 {
			data = buf[:n:n]
		}
		return Packet{Type: PacketMessage, Data: data, Binary: true}, nil
	}
	return decodeText(p)
}

// decodeText decodes a non-empty packet that is not base64 binary.
func decodeText(p []byte) (Packet, error) {
	t := PacketType(p[0] - '0') // wraps around for bytes below '0', which Valid rejects
	if !t.Valid() {
		return Packet{}, fmt.Errorf("%w: unknown packet type %q", ErrInvalidPacket, p[0])
	}
	var data []byte
	if len(p) > 1 {
		data = p[1:len(p):len(p)]
	}
	return Packet{Type: t, Data: data}, nil
}

// AppendPacket appends the text encoding of p to dst and returns the
// extended slice: the type digit followed by Data, or, when p.Binary is set,
// 'b' followed by the standard padded base64 of Data (spec section "Packet
// encoding / HTTP long-polling"). The text encoding is what polling bodies
// use; a WebSocket transport sends binary data as a binary frame instead.
//
// AppendPacket does not validate p: p.Type must be Valid, and when p.Binary
// is set the type is not written (the wire form can only express binary
// messages). Text Data must not contain RecordSeparator if the result is to
// be part of a payload.
func AppendPacket(dst []byte, p Packet) []byte {
	if p.Binary {
		dst = append(dst, binaryPrefix)
		return base64.StdEncoding.AppendEncode(dst, p.Data)
	}
	dst = append(dst, '0'+byte(p.Type))
	return append(dst, p.Data...)
}
