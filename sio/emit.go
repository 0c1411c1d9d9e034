package sio

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/serverless-socketio/server/engineio"
	"github.com/serverless-socketio/server/socketio"
)

// Server emits to rooms and namespaces on behalf of the current request.
type Server struct {
	socket *Socket
}

// EmitOption targets a [Server.Emit].
type EmitOption func(*emitTarget)

type emitTarget struct {
	nsp    string
	rooms  []string
	except []string
}

// To adds rooms to the targets; without To, Emit reaches every socket of the namespace. A socket
// in several target rooms receives the event once.
func To(rooms ...string) EmitOption {
	return func(t *emitTarget) { t.rooms = append(t.rooms, rooms...) }
}

// Except leaves out every socket in any of rooms (a socket id is a room too).
func Except(rooms ...string) EmitOption {
	return func(t *emitTarget) { t.except = append(t.except, rooms...) }
}

// Namespace selects the namespace; without it, the namespace of the socket the hook runs for.
func Namespace(nsp string) EmitOption {
	return func(t *emitTarget) { t.nsp = nsp }
}

// Args sends several arguments with one event: Emit("move", sio.Args{x, y}).
type Args []any

// Emit broadcasts event with payload (an [Args] for several arguments) to the targets, the
// sender included when it is in them. It is committed with the request, atomically with the
// hook's other effects, as one write per target room whatever the number of members.
func (s *Server) Emit(event string, payload any, opts ...EmitOption) error {
	t := emitTarget{nsp: s.socket.nsp}
	for _, o := range opts {
		o(&t)
	}
	for _, r := range append(slices.Clone(t.rooms), t.except...) {
		if !validRoom(r) {
			return fmt.Errorf("sio: emit %q: invalid room name %q", event, r)
		}
	}
	args, ok := payload.(Args)
	if !ok {
		args = Args{payload}
	}
	p, err := encodeEvent(t.nsp, event, args)
	if err != nil {
		return err
	}
	s.socket.batch.Broadcast(t.nsp, t.rooms, t.except, p)
	return nil
}

// encodeEvent encodes an EVENT (or BINARY_EVENT, when an argument is []byte) as the Engine.IO
// payload that carries it: one message packet, then one binary packet per attachment.
func encodeEvent(nsp, event string, args []any) ([]byte, error) {
	data := make([]byte, 0, 64)
	data = append(data, '[')
	var attachments [][]byte
	name, err := json.Marshal(event)
	if err != nil {
		return nil, fmt.Errorf("sio: emit: %w", err)
	}
	data = append(data, name...)
	data, attachments, err = appendArgs(data, args)
	if err != nil {
		return nil, fmt.Errorf("sio: emit %q: %w", event, err)
	}
	data = append(data, ']')
	pt := socketio.PacketEvent
	if len(attachments) > 0 {
		pt = socketio.PacketBinaryEvent
	}
	return encodePacket(socketio.Packet{Type: pt, Namespace: nsp, Attachments: len(attachments), Data: data}, attachments), nil
}

// appendArgs appends ",arg" for each argument; []byte arguments become placeholders.
func appendArgs(dst []byte, args []any) ([]byte, [][]byte, error) {
	var attachments [][]byte
	for _, a := range args {
		dst = append(dst, ',')
		if b, ok := a.([]byte); ok {
			dst = socketio.AppendPlaceholder(dst, len(attachments))
			attachments = append(attachments, b)
			continue
		}
		j, err := json.Marshal(a)
		if err != nil {
			return nil, nil, err
		}
		dst = append(dst, j...)
	}
	return dst, attachments, nil
}

// encodeAck encodes the ACK (or BINARY_ACK) answering id.
func encodeAck(nsp string, id uint64, args []any) ([]byte, error) {
	data, attachments, err := appendArgs([]byte{'['}, args)
	if err != nil {
		return nil, fmt.Errorf("sio: ack: %w", err)
	}
	// appendArgs writes a comma before every argument; the array has none before the first.
	if len(args) > 0 {
		data = append(data[:1], data[2:]...)
	}
	data = append(data, ']')
	pt := socketio.PacketAck
	if len(attachments) > 0 {
		pt = socketio.PacketBinaryAck
	}
	return encodePacket(socketio.Packet{Type: pt, Namespace: nsp, ID: id, HasID: true, Attachments: len(attachments), Data: data}, attachments), nil
}

// encodePacket frames a Socket.IO packet and its attachments as Engine.IO packets in the
// long-polling encoding, joined by the record separator (what a session log stores).
func encodePacket(p socketio.Packet, attachments [][]byte) []byte {
	out := make([]byte, 0, 16+len(p.Data))
	out = append(out, byte('0'+engineio.PacketMessage))
	out = socketio.AppendPacket(out, p)
	for _, a := range attachments {
		out = append(out, engineio.RecordSeparator, 'b')
		out = base64.StdEncoding.AppendEncode(out, a)
	}
	return out
}
