package socketio

import "strconv"

// AppendPacket appends the text form of p to dst and returns the extended
// slice; it is the inverse of Decode (Socket.IO v5 spec, section "Packet
// encoding / Format"). Binary types write "<Attachments>-"; the namespace is
// written followed by ',' unless it is "/" or "" (the spec omits the main
// namespace); the id is written when HasID is set; Data is copied verbatim.
//
// AppendPacket does not validate p and never allocates beyond growing dst.
// For the result to decode back to p, the caller must supply a Valid type,
// Attachments >= 0, a namespace that starts with '/' and contains no ',',
// and Data that satisfies the rules listed on Decode. For any packet
// returned by Decode, Decode(AppendPacket(nil, p)) yields p again.
func AppendPacket(dst []byte, p Packet) []byte {
	dst = append(dst, '0'+byte(p.Type))
	if p.Type.IsBinary() {
		dst = strconv.AppendInt(dst, int64(p.Attachments), 10)
		dst = append(dst, '-')
	}
	if p.Namespace != "" && p.Namespace != "/" {
		dst = append(dst, p.Namespace...)
		dst = append(dst, ',')
	}
	if p.HasID {
		dst = strconv.AppendUint(dst, p.ID, 10)
	}
	return append(dst, p.Data...)
}

// AppendPlaceholder appends the placeholder object that stands for binary
// attachment n in a binary packet's payload, {"_placeholder":true,"num":n}
// (spec section "Packet encoding / Examples", "with binary data"), and
// returns the extended slice. It is the exact form the reference encoder
// emits, so any Socket.IO peer reconstructs it.
func AppendPlaceholder(dst []byte, n int) []byte {
	dst = append(dst, `{"_placeholder":true,"num":`...)
	dst = strconv.AppendInt(dst, int64(n), 10)
	return append(dst, '}')
}
