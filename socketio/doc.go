// Package socketio encodes and decodes Socket.IO protocol v5 packets in the
// text form of the default parser, as described in the Socket.IO v5 spec
// (socket.io repository, docs/socket.io-protocol/v5-current.md, section
// "Packet encoding"). A packet travels as the data of one Engine.IO message
// packet; binary packets (BINARY_EVENT, BINARY_ACK) are followed by their
// attachments, each in its own Engine.IO binary message, and reference them
// through {"_placeholder":true,"num":N} objects. The package is a pure codec
// with no state, safe for concurrent use: Decode validates a packet the way
// the reference JavaScript parser does (without unmarshalling the JSON
// payload), Packet.Event splits an event into its name and raw arguments,
// ReplacePlaceholders inlines attachments as base64 strings, and the Append
// functions encode without allocating beyond the destination buffer.
//
// # Example
//
// Decode an event that asks for an acknowledgement and build the ack:
//
//	p, err := socketio.Decode([]byte(`2/chat,12["chat_message",{"text":"hello"}]`))
//	if err != nil {
//		// errors.Is(err, socketio.ErrInvalidPacket): close the connection
//	}
//	name, args, err := p.Event() // "chat_message", [{"text":"hello"}]
//	...
//	ack := socketio.Packet{Type: socketio.PacketAck, Namespace: p.Namespace,
//		ID: p.ID, HasID: true, Data: json.RawMessage(`["ok"]`)}
//	out = socketio.AppendPacket(out[:0], ack) // 3/chat,12["ok"]
//
// A binary event is decoded the same way; once its p.Attachments binary
// messages have arrived, ReplacePlaceholders(p.Data, attachments) yields a
// payload in which each placeholder is the base64 string of its attachment.
package socketio
