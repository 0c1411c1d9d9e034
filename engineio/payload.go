package engineio

import (
	"bytes"
	"encoding/base64"
	"fmt"
)

// DecodePayload splits an HTTP long-polling body on RecordSeparator and
// decodes each packet (spec section "Packet encoding / HTTP long-polling").
//
// The whole body is rejected, with an error wrapping ErrInvalidPayload, if
// it is empty, if any packet in it is empty (which includes a leading or
// trailing separator), or if any packet fails DecodePacket; in the last case
// the error also wraps ErrInvalidPacket and names the packet's index. No
// partial result is returned on error, so a session never acts on half of a
// malformed request.
//
// Text Data in the returned packets aliases body (capacity-limited, so
// appending to one packet's Data never overwrites the next); callers that
// keep packets beyond the life of body must copy it. The Data of all binary
// packets of one payload shares a single new allocation, sliced with limited
// capacity. DecodePayload allocates at most twice: the packet slice and,
// when there are binary packets, their shared buffer.
func DecodePayload(body []byte) ([]Packet, error) {
	if len(body) == 0 {
		return nil, fmt.Errorf("%w: empty body", ErrInvalidPayload)
	}
	packets := make([]Packet, 0, bytes.Count(body, []byte{RecordSeparator})+1)

	// First pass: split and decode the text packets; for binary packets keep
	// the base64 text in Data and sum the decoded sizes, so that a single
	// buffer can hold all of them.
	binSize := 0
	for rest := body; ; {
		seg, tail, more := bytes.Cut(rest, []byte{RecordSeparator})
		if len(seg) == 0 {
			return nil, fmt.Errorf("%w: empty packet at index %d", ErrInvalidPayload, len(packets))
		}
		if seg[0] == binaryPrefix {
			src := seg[1:]
			packets = append(packets, Packet{Type: PacketMessage, Data: src, Binary: true})
			binSize += base64.StdEncoding.DecodedLen(len(src))
		} else {
			p, err := decodeText(seg)
			if err != nil {
				return nil, fmt.Errorf("%w: packet %d: %w", ErrInvalidPayload, len(packets), err)
			}
			packets = append(packets, p)
		}
		if !more {
			break
		}
		rest = tail
	}
	if binSize == 0 {
		// Either no binary packets, or only empty ones ("b"), which need no
		// buffer; clear their (empty) base64 views for a uniform nil Data.
		for i := range packets {
			if packets[i].Binary {
				packets[i].Data = nil
			}
		}
		return packets, nil
	}

	// Second pass: decode every binary packet into the shared buffer.
	buf := make([]byte, binSize)
	off := 0
	for i := range packets {
		p := &packets[i]
		if !p.Binary {
			continue
		}
		n, err := base64.StdEncoding.Decode(buf[off:], p.Data)
		if err != nil {
			return nil, fmt.Errorf("%w: packet %d: %w: bad base64 in binary packet: %v",
				ErrInvalidPayload, i, ErrInvalidPacket, err)
		}
		if n == 0 {
			p.Data = nil
		} else {
			p.Data = buf[off : off+n : off+n]
		}
		off += n
	}
	return packets, nil
}

// AppendPayload appends the packets, each encoded with AppendPacket, joined
// by RecordSeparator, and returns the extended slice. An empty ps appends
// nothing. The result decodes with DecodePayload to equal packets provided
// no text Data contains RecordSeparator, which AppendPayload does not check
// (Socket.IO data is JSON, where a raw 0x1e cannot occur).
func AppendPayload(dst []byte, ps []Packet) []byte {
	for i, p := range ps {
		if i > 0 {
			dst = append(dst, RecordSeparator)
		}
		dst = AppendPacket(dst, p)
	}
	return dst
}
