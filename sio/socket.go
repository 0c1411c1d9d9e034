package sio

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/serverless-socketio/server/session"
)

// Socket is a client's connection to one namespace, as loaded for the current request. Its
// methods record effects that are committed when the hooks of the request have run.
type Socket struct {
	id, nsp    string
	rooms      []string // sorted
	data       json.RawMessage
	batch      *session.Batch // where this hook call records its effects
	disconnect bool
}

func newSocket(s *session.Socket) *Socket {
	return &Socket{id: s.ID, nsp: s.Namespace, rooms: slices.Clone(s.Rooms), data: s.Data}
}

// ID returns the Socket.IO socket id: public, and distinct from the Engine.IO session id.
func (s *Socket) ID() string { return s.id }

// Namespace returns the socket's namespace, such as "/chat".
func (s *Socket) Namespace() string { return s.nsp }

// Rooms returns the rooms the socket is in, sorted, including the room named after its ID; it
// reflects the Join and Leave calls made so far in this request.
func (s *Socket) Rooms() []string { return slices.Clone(s.rooms) }

// Join puts the socket in room: it receives what is broadcast there from the commit on. A room
// name must not be empty or contain a NUL byte; such a Join is ignored.
func (s *Socket) Join(room string) {
	i, found := slices.BinarySearch(s.rooms, room)
	if found || !validRoom(room) {
		return
	}
	s.rooms = slices.Insert(s.rooms, i, room)
	s.batch.Join(s.nsp, room)
}

// Leave takes the socket out of room. Broadcasts made there before the commit still arrive.
func (s *Socket) Leave(room string) {
	i, found := slices.BinarySearch(s.rooms, room)
	if !found {
		return
	}
	s.rooms = slices.Delete(s.rooms, i, i+1)
	s.batch.Leave(s.nsp, room)
}

// Data returns the per-socket data stored by SetData, as JSON; nil when none.
func (s *Socket) Data() json.RawMessage { return s.data }

// SetData stores v (encoded as JSON) with the socket; later requests see it through Data.
func (s *Socket) SetData(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("sio: SetData: %w", err)
	}
	s.data = b
	s.batch.SetData(s.nsp, b)
	return nil
}

// Emit sends the event with args to this client only. A []byte argument travels as a binary
// attachment; everything else is encoded with encoding/json.
func (s *Socket) Emit(event string, args ...any) error {
	p, err := encodeEvent(s.nsp, event, args)
	if err != nil {
		return err
	}
	s.batch.Send(p)
	return nil
}

// Disconnect ends this namespace connection from the server side: the client receives a
// DISCONNECT packet and Disconnect runs with reason "server namespace disconnect".
func (s *Socket) Disconnect() { s.disconnect = true }

// Server returns the broadcaster of this request, for emits to rooms and namespaces.
func (s *Socket) Server() *Server { return &Server{socket: s} }

// validRoom reports whether a room name can be stored: not empty (the empty name is the
// namespace-wide room) and without NUL (the stores separate room names with it).
func validRoom(room string) bool {
	return room != session.AllRoom && !strings.ContainsRune(room, 0)
}
