package socketio

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
)

// ReplacePlaceholders returns data with every placeholder object replaced by
// the JSON string holding the standard (padded) base64 of the attachment it
// names, so that encoding/json decodes it straight into a []byte. This is
// the reconstruction step of a BINARY_EVENT or BINARY_ACK packet (Socket.IO
// v5 spec, section "Packet encoding / Examples", "with binary data").
//
// As in the reference parser (socket.io-parser reconstructPacket), a
// placeholder is any object, at any depth, with a member "_placeholder"
// whose value is true; its "num" member must then be a non-negative integer
// written as plain digits and below len(attachments), and the whole object
// is replaced regardless of its other members (placeholders nested inside
// it are dropped unchecked). An attachment may be referenced more than
// once, but
// ReplacePlaceholders additionally requires every attachment to be
// referenced, so a count that disagrees with the packet's is an error.
//
// data must be valid JSON. When it contains no placeholder and attachments
// is empty, data itself is returned; otherwise the result is a new slice
// sized exactly. Errors wrap ErrInvalidPacket.
func ReplacePlaceholders(data json.RawMessage, attachments [][]byte) (json.RawMessage, error) {
	if !json.Valid(data) {
		return nil, fmt.Errorf("%w: payload is not valid JSON", ErrInvalidPacket)
	}
	s := placeholderScanner{data: data}
	if _, err := s.value(skipSpace(data, 0)); err != nil {
		return nil, err
	}

	// Every attachment must be used: mark the ones that are.
	var usedSmall [1]uint64
	used := usedSmall[:]
	if len(attachments) > 64 {
		used = make([]uint64, (len(attachments)+63)/64)
	}
	size := len(data)
	for _, sp := range s.spans {
		// Validated here rather than during the scan: a placeholder nested
		// in another placeholder is dropped unchecked, as in the reference.
		if sp.num < 0 {
			return nil, fmt.Errorf("%w: placeholder num %q is not a non-negative integer",
				ErrInvalidPacket, data[sp.numStart:sp.numEnd])
		}
		if sp.num >= len(attachments) {
			return nil, fmt.Errorf("%w: placeholder num %d out of range (%d attachments)",
				ErrInvalidPacket, sp.num, len(attachments))
		}
		used[sp.num/64] |= 1 << (sp.num % 64)
		size += base64.StdEncoding.EncodedLen(len(attachments[sp.num])) + 2 - (sp.end - sp.start)
	}
	for i := range attachments {
		if used[i/64]&(1<<(i%64)) == 0 {
			return nil, fmt.Errorf("%w: attachment %d is not referenced by any placeholder", ErrInvalidPacket, i)
		}
	}
	if len(s.spans) == 0 {
		return data, nil
	}

	out := make([]byte, 0, size)
	last := 0
	for _, sp := range s.spans {
		out = append(out, data[last:sp.start]...)
		out = append(out, '"')
		out = base64.StdEncoding.AppendEncode(out, attachments[sp.num])
		out = append(out, '"')
		last = sp.end
	}
	return append(out, data[last:]...), nil
}

// placeholderSpan is the byte range of one placeholder object in the data
// and the attachment it names: num is -1 when the "num" member, spanning
// data[numStart:numEnd], is missing or not a non-negative integer.
type placeholderSpan struct {
	start, end       int
	num              int
	numStart, numEnd int
}

// placeholderScanner finds placeholder objects in one pass over valid JSON.
// Placeholders found inside an object that turns out to be a placeholder
// itself are discarded, since the outer object is replaced whole, as in the
// reference parser.
type placeholderScanner struct {
	data  []byte
	spans []placeholderSpan
}

var errMalformed = fmt.Errorf("%w: malformed JSON", ErrInvalidPacket)

// value scans the value starting at i and returns the index just past it.
func (s *placeholderScanner) value(i int) (int, error) {
	if i < len(s.data) {
		switch s.data[i] {
		case '{':
			return s.object(i)
		case '[':
			return s.array(i)
		}
	}
	end, ok := skipValue(s.data, i)
	if !ok {
		return i, errMalformed
	}
	return end, nil
}

func (s *placeholderScanner) array(i int) (int, error) {
	i = skipSpace(s.data, i+1)
	if i < len(s.data) && s.data[i] == ']' {
		return i + 1, nil
	}
	for {
		end, err := s.value(i)
		if err != nil {
			return i, err
		}
		i = skipSpace(s.data, end)
		if i >= len(s.data) {
			return i, errMalformed
		}
		switch s.data[i] {
		case ',':
			i = skipSpace(s.data, i+1)
		case ']':
			return i + 1, nil
		default:
			return i, errMalformed
		}
	}
}

func (s *placeholderScanner) object(start int) (int, error) {
	mark := len(s.spans)
	isPlaceholder := false
	numStart, numEnd := 0, 0 // raw value of the last "num" member
	i := skipSpace(s.data, start+1)
	if i < len(s.data) && s.data[i] == '}' {
		return i + 1, nil
	}
	for {
		keyEnd, escaped, ok := skipString(s.data, i)
		if !ok {
			return i, errMalformed
		}
		key := s.data[i:keyEnd]
		i = skipSpace(s.data, keyEnd)
		if i >= len(s.data) || s.data[i] != ':' {
			return i, errMalformed
		}
		valStart := skipSpace(s.data, i+1)
		valEnd, err := s.value(valStart)
		if err != nil {
			return i, err
		}
		// Duplicate keys: the last one wins, as with JSON.parse.
		switch {
		case stringEquals(key, escaped, "_placeholder"):
			isPlaceholder = string(s.data[valStart:valEnd]) == "true"
		case stringEquals(key, escaped, "num"):
			numStart, numEnd = valStart, valEnd
		}
		i = skipSpace(s.data, valEnd)
		if i >= len(s.data) {
			return i, errMalformed
		}
		if s.data[i] == '}' {
			i++
			break
		}
		if s.data[i] != ',' {
			return i, errMalformed
		}
		i = skipSpace(s.data, i+1)
	}
	if !isPlaceholder {
		return i, nil
	}
	n, ok := parseIndex(s.data[numStart:numEnd])
	if !ok {
		n = -1
	}
	s.spans = append(s.spans[:mark], placeholderSpan{start: start, end: i, num: n, numStart: numStart, numEnd: numEnd})
	return i, nil
}

// parseIndex parses a non-empty run of decimal digits that fits in an int
// smaller than 1<<31 (attachment counts are far below that).
func parseIndex(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 9 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if !isDigit(c) {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}
