// Package engineio encodes and decodes Engine.IO protocol v4 packets and
// HTTP long-polling payloads, as described in the Engine.IO v4 spec
// (socket.io repository, docs/engine.io-protocol/v4-current.md). It is a pure
// codec: it performs no I/O, keeps no state and is safe for concurrent use.
// A packet is a type digit followed by optional data; a binary message is
// written as 'b' followed by base64; a polling payload is a list of packets
// joined by the record separator 0x1e. Decoders return slices that alias
// their input wherever they can and encoders follow the append pattern
// (AppendPacket, AppendPayload), so a caller that reuses its buffers can
// encode without allocating.
//
// # Example
//
// Decode the body of a polling POST request, then answer a ping:
//
//	packets, err := engineio.DecodePayload([]byte("4hello\x1e2\x1ebAQIDBA=="))
//	if err != nil {
//		// errors.Is(err, engineio.ErrInvalidPayload): reply HTTP 400
//	}
//	for _, p := range packets {
//		switch {
//		case p.Binary:
//			// p.Data == []byte{1, 2, 3, 4}
//		case p.Type == engineio.PacketPing:
//			out = engineio.AppendPacket(out[:0], engineio.Packet{Type: engineio.PacketPong, Data: p.Data})
//		case p.Type == engineio.PacketMessage:
//			// p.Data == []byte("hello"), aliasing the body
//		}
//	}
package engineio
