package handler

import (
	"bytes"
	"encoding/base64"

	"github.com/serverless-socketio/server/engineio"
)

// A stored payload is Engine.IO packets in the long-polling encoding joined by the record
// separator (see session.Batch). A text packet that itself contains the separator (possible only
// for raw Engine.IO applications: Socket.IO's JSON escapes it) is stored as 'x' followed by the
// base64 of the packet, so that a WebSocket still receives it as one frame. Long-polling cannot
// carry it intact anyway (Engine.IO v4 §"HTTP long-polling": the separator splits the payload);
// it is written out raw there, as other servers do.
const escapedText = 'x'

// AppendStoredPacket appends p to a stored payload dst (adding the separator unless dst is
// empty), escaping a text packet that contains the separator.
func AppendStoredPacket(dst []byte, p engineio.Packet) []byte {
	if len(dst) > 0 {
		dst = append(dst, engineio.RecordSeparator)
	}
	if !p.Binary && bytes.IndexByte(p.Data, engineio.RecordSeparator) >= 0 {
		dst = append(dst, escapedText)
		return base64.StdEncoding.AppendEncode(dst, engineio.AppendPacket(nil, p))
	}
	return engineio.AppendPacket(dst, p)
}

// storedParts calls fn for each packet of a stored payload: text packets (escaped ones decoded)
// as text, 'b' packets decoded to raw bytes.
func storedParts(payload []byte, fn func(data []byte, binary bool)) {
	for part := range bytes.SplitSeq(payload, []byte{engineio.RecordSeparator}) {
		if len(part) > 0 && (part[0] == 'b' || part[0] == escapedText) {
			if raw, err := base64.StdEncoding.AppendDecode(nil, part[1:]); err == nil {
				fn(raw, part[0] == 'b')
				continue
			}
		}
		fn(part, false)
	}
}

// appendPollingPayload appends a stored payload in the long-polling encoding: as stored, but
// with escaped text packets written out raw.
func appendPollingPayload(dst, payload []byte) []byte {
	if payload[0] != escapedText && !bytes.Contains(payload, []byte{engineio.RecordSeparator, escapedText}) {
		return append(dst, payload...)
	}
	first := true
	storedParts(payload, func(data []byte, binary bool) {
		if !first {
			dst = append(dst, engineio.RecordSeparator)
		}
		first = false
		if binary {
			dst = append(dst, 'b')
			dst = base64.StdEncoding.AppendEncode(dst, data)
			return
		}
		dst = append(dst, data...)
	})
	return dst
}
