// Package sio is the application-facing API of the server: consumers, sockets and emits, in the
// style of the Django-Channels-like tutorial the project follows.
//
// A consumer serves one Socket.IO namespace. It may implement Connect (accept or refuse a
// namespace connection), Disconnect (called once per socket with a Socket.IO reason string) and
// any number of event methods: a method named Event<Name> handles the event <name> in snake_case
// (EventChatMessage handles "chat_message"). An event method takes a context, the *Socket, then
// zero or more payload parameters (the event's arguments, decoded with encoding/json; a []byte
// parameter receives a binary attachment) and optionally a final [Ack]; it returns nothing or an
// error. Events whose names do not map to a Go identifier are registered with [On].
//
// Nothing a hook does touches the network or the store: Join, Leave, Emit, SetData and
// Server().Emit are recorded and committed atomically once the request's hooks have run. A hook
// that returns an error or panics is logged and its recorded effects are discarded, as if it had
// not run; the session carries on.
//
// # Example
//
//	type Chat struct{}
//
//	func (Chat) Namespace() string { return "/chat" }
//
//	func (Chat) Connect(ctx context.Context, s *sio.Socket, auth json.RawMessage) error {
//		s.Join("lobby")
//		return s.Emit("system_message", Message{Text: "Welcome!"})
//	}
//
//	func (Chat) EventChatMessage(ctx context.Context, s *sio.Socket, m Message, ack sio.Ack) error {
//		err := s.Server().Emit("chat_message", Message{Text: m.Text}, sio.To("lobby"), sio.Namespace(s.Namespace()))
//		if ack != nil {
//			ack(map[string]string{"status": "ok"})
//		}
//		return err
//	}
//
//	router := sio.NewRouter(logger)
//	err := router.Register(Chat{})
//
// # Concurrency
//
// A [Router] is safe for concurrent use once registration is done (register everything before
// serving). A [Socket] and the [Server] it returns belong to one hook call and must not be kept or
// shared beyond it.
package sio
