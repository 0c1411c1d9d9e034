package socketio

import (
	"encoding/json"
	"fmt"
)

// Event splits the payload of an EVENT or BINARY_EVENT packet, a JSON array
// ["name", args...] (Socket.IO v5 spec, section "Sending and receiving
// data"), into the event name and the raw JSON of each argument.
//
// The name is the unescaped string; a numeric name, which the reference
// parser also accepts, is returned as its JSON number text. Each arg aliases
// p.Data (capacity-limited); args is nil when the event has
// no arguments. For a BINARY_EVENT the args still hold placeholders; call
// ReplacePlaceholders on p.Data first to get the attachments inline.
//
// Event relies on p.Data being valid JSON, as Decode guarantees, and does
// not validate it again; on invalid JSON it returns an error or an
// unspecified split, but never panics. It allocates the name (unless
// empty) and, when there are arguments, one slice for args. Errors wrap
// ErrInvalidPacket.
func (p Packet) Event() (name string, args []json.RawMessage, err error) {
	if p.Type != PacketEvent && p.Type != PacketBinaryEvent {
		return "", nil, fmt.Errorf("%w: Event called on a %v packet", ErrInvalidPacket, p.Type)
	}
	data := p.Data
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '[' {
		return "", nil, fmt.Errorf("%w: event payload is not an array", ErrInvalidPacket)
	}
	i = skipSpace(data, i+1)
	if i >= len(data) || data[i] == ']' {
		return "", nil, fmt.Errorf("%w: event payload is an empty array", ErrInvalidPacket)
	}

	// The name.
	switch c := data[i]; {
	case c == '"':
		end, escaped, ok := skipString(data, i)
		if !ok {
			return "", nil, fmt.Errorf("%w: malformed event name", ErrInvalidPacket)
		}
		if name, ok = unquote(data[i:end], escaped); !ok {
			return "", nil, fmt.Errorf("%w: malformed event name", ErrInvalidPacket)
		}
		i = end
	case c == '-' || isDigit(c):
		end, ok := skipValue(data, i)
		if !ok {
			return "", nil, fmt.Errorf("%w: malformed event name", ErrInvalidPacket)
		}
		name = string(data[i:end])
		i = end
	default:
		return "", nil, fmt.Errorf("%w: event name is neither a string nor a number", ErrInvalidPacket)
	}

	// Count the arguments first so that args is allocated exactly once.
	n, err := splitArray(data, i, nil)
	if err != nil {
		return "", nil, err
	}
	if n == 0 {
		return name, nil, nil
	}
	args = make([]json.RawMessage, 0, n)
	if _, err := splitArray(data, i, &args); err != nil {
		return "", nil, err
	}
	return name, args, nil
}

// splitArray walks the remaining elements of an array, starting at i, just
// after an element (so at ',' or ']', possibly preceded by whitespace). It
// returns the number of elements and, when out is not nil, appends each to
// it.
func splitArray(data []byte, i int, out *[]json.RawMessage) (int, error) {
	n := 0
	for {
		i = skipSpace(data, i)
		if i >= len(data) {
			return 0, fmt.Errorf("%w: unterminated event array", ErrInvalidPacket)
		}
		switch data[i] {
		case ']':
			return n, nil
		case ',':
		default:
			return 0, fmt.Errorf("%w: malformed event array", ErrInvalidPacket)
		}
		start := skipSpace(data, i+1)
		end, ok := skipValue(data, start)
		if !ok {
			return 0, fmt.Errorf("%w: malformed event argument", ErrInvalidPacket)
		}
		if out != nil {
			*out = append(*out, json.RawMessage(data[start:end:end]))
		}
		n++
		i = end
	}
}
