package socketio

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
)

// Decode decodes the text form of a packet (Socket.IO v5 spec, section
// "Packet encoding / Format"):
//
//	<type>[<attachments>-][<namespace>,][<id>][<JSON payload>]
//
// It follows the reference parser (socket.io-parser decodeString and
// isPayloadValid), with these rules:
//
//   - the type is one digit 0-6;
//   - binary types must carry an attachment count, one or more digits
//     followed by '-'; other types carry none;
//   - a namespace is present when the next byte is '/' and runs to the
//     first ',' (consumed) or to the end of the packet; it is kept verbatim;
//   - an ack id is the run of digits that follows and must fit in a uint64;
//   - the rest is the payload and must pass json.Valid;
//   - CONNECT: payload absent or an object; DISCONNECT: payload absent;
//     CONNECT_ERROR: a string or an object; EVENT, BINARY_EVENT: a non-empty
//     array whose first element is a number or a string that is not a
//     reserved event name (connect, connect_error, disconnect,
//     disconnecting, newListener, removeListener); ACK, BINARY_ACK: an
//     array.
//
// Where the reference parser lets a payload be absent for CONNECT_ERROR,
// EVENT and ACK types (it only validates payloads that are present), Decode
// requires one, as the spec does ("The payload is mandatory"). Attachment
// counts must be digits only.
//
// An ack id is accepted on every type, as the reference parser does; the
// session layer decides what an id on, say, CONNECT means.
//
// The returned Data aliases b. On success Decode allocates only the
// namespace string, when it is not "/" (and, rarely, to unescape an event
// name written with escapes). Every error wraps ErrInvalidPacket.
func Decode(b []byte) (Packet, error) {
	if len(b) == 0 {
		return Packet{}, fmt.Errorf("%w: empty packet", ErrInvalidPacket)
	}
	p := Packet{Type: PacketType(b[0] - '0'), Namespace: "/"}
	if !p.Type.Valid() {
		return Packet{}, fmt.Errorf("%w: unknown packet type %q", ErrInvalidPacket, b[0])
	}
	i := 1

	if p.Type.IsBinary() {
		start := i
		n := 0
		for ; i < len(b) && isDigit(b[i]); i++ {
			d := int(b[i] - '0')
			if n > (math.MaxInt-d)/10 {
				return Packet{}, fmt.Errorf("%w: attachment count overflows", ErrInvalidPacket)
			}
			n = n*10 + d
		}
		if i == start {
			return Packet{}, fmt.Errorf("%w: %v packet without attachment count", ErrInvalidPacket, p.Type)
		}
		if i == len(b) || b[i] != '-' {
			return Packet{}, fmt.Errorf("%w: attachment count not followed by '-'", ErrInvalidPacket)
		}
		i++
		p.Attachments = n
	}

	if i < len(b) && b[i] == '/' {
		end := len(b)
		if j := bytes.IndexByte(b[i:], ','); j >= 0 {
			end = i + j
		}
		if end-i > 1 { // "/" itself needs no allocation
			p.Namespace = string(b[i:end])
		}
		i = end + 1 // past the ',' (or past the end, which the checks below tolerate)
	}

	if i < len(b) && isDigit(b[i]) {
		var id uint64
		for ; i < len(b) && isDigit(b[i]); i++ {
			d := uint64(b[i] - '0')
			if id > (math.MaxUint64-d)/10 {
				return Packet{}, fmt.Errorf("%w: ack id overflows", ErrInvalidPacket)
			}
			id = id*10 + d
		}
		p.ID, p.HasID = id, true
	}

	if i < len(b) {
		p.Data = json.RawMessage(b[i:len(b):len(b)])
	}
	if err := validatePayload(p.Type, p.Data); err != nil {
		return Packet{}, err
	}
	return p, nil
}

// validatePayload applies the per-type payload rules documented on Decode.
func validatePayload(t PacketType, data []byte) error {
	if data == nil {
		switch t {
		case PacketConnect, PacketDisconnect:
			return nil
		}
		return fmt.Errorf("%w: %v packet without payload", ErrInvalidPacket, t)
	}
	if t == PacketDisconnect {
		return fmt.Errorf("%w: DISCONNECT packet with payload", ErrInvalidPacket)
	}
	// Check the top-level kind first: it is one byte and rejects most bad
	// packets before the full json.Valid scan.
	i := skipSpace(data, 0)
	var kind byte
	if i < len(data) {
		kind = data[i]
	}
	switch t {
	case PacketConnect:
		if kind != '{' {
			return fmt.Errorf("%w: CONNECT payload is not an object", ErrInvalidPacket)
		}
	case PacketConnectError:
		if kind != '{' && kind != '"' {
			return fmt.Errorf("%w: CONNECT_ERROR payload is neither a string nor an object", ErrInvalidPacket)
		}
	case PacketEvent, PacketBinaryEvent, PacketAck, PacketBinaryAck:
		if kind != '[' {
			return fmt.Errorf("%w: %v payload is not an array", ErrInvalidPacket, t)
		}
	}
	if !json.Valid(data) {
		return fmt.Errorf("%w: payload is not valid JSON", ErrInvalidPacket)
	}
	if t == PacketEvent || t == PacketBinaryEvent {
		return validateEventName(data, i+1)
	}
	return nil
}

// validateEventName checks the first element of a valid JSON array whose
// first element starts at or after i.
func validateEventName(data []byte, i int) error {
	i = skipSpace(data, i)
	if i >= len(data) || data[i] == ']' {
		return fmt.Errorf("%w: event payload is an empty array", ErrInvalidPacket)
	}
	switch c := data[i]; {
	case c == '-' || isDigit(c):
		return nil // a number: the reference parser accepts numeric event names
	case c != '"':
		return fmt.Errorf("%w: event name is neither a string nor a number", ErrInvalidPacket)
	}
	end, escaped, ok := skipString(data, i)
	if !ok {
		return fmt.Errorf("%w: malformed event name", ErrInvalidPacket)
	}
	if isReserved(data[i:end], escaped) {
		return fmt.Errorf("%w: reserved event name %s", ErrInvalidPacket, data[i:end])
	}
	return nil
}

// isReserved reports whether the JSON string literal s names one of the
// events the reference implementation reserves for itself (socket.io-parser
// RESERVED_EVENTS); a peer must not be able to trigger them.
func isReserved(s []byte, escaped bool) bool {
	name := s[1 : len(s)-1]
	if escaped {
		u, ok := unquote(s, true)
		if !ok {
			return true // unreachable after json.Valid; refuse rather than guess
		}
		name = []byte(u)
	}
	// A switch on string(name) compares in place, without allocating.
	switch string(name) {
	case "connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener":
		return true
	}
	return false
}
