// Package conformance is the application the official Socket.IO v5 test suite expects
// (docs/socket.io-protocol/v5-test-suite in socketio/socket.io) on the namespaces "/" and
// "/custom": the CONNECT auth payload is echoed back as an "auth" event, "message" is answered
// with "message-back" and the same arguments, and "message-with-ack" is acknowledged with its
// own arguments. cmd/local serves it with -conformance; the Go tests use it too.
package conformance

import (
	"context"
	"encoding/json"

	"github.com/serverless-socketio/server/sio"
)

// Namespaces are the namespaces the suite connects to.
var Namespaces = [...]string{"/", "/custom"}

// Register registers the conformance consumer on every namespace of [Namespaces].
func Register(r *sio.Router) error {
	for _, nsp := range Namespaces {
		if err := r.Register(Consumer(nsp), sio.On("message-with-ack", messageWithAck)); err != nil {
			return err
		}
	}
	return nil
}

// Consumer serves one namespace as the suite expects.
type Consumer string

// Namespace returns the namespace served.
func (c Consumer) Namespace() string { return string(c) }

// Connect accepts, and emits the auth payload ({} when none) as "auth".
func (Consumer) Connect(ctx context.Context, s *sio.Socket, auth json.RawMessage) error {
	if auth == nil {
		auth = json.RawMessage(`{}`)
	}
	return s.Emit("auth", auth)
}

// EventMessage answers "message" with "message-back" and the same arguments, binary included.
func (Consumer) EventMessage(ctx context.Context, s *sio.Socket, args sio.RawArgs) error {
	return s.Emit("message-back", args...)
}

// messageWithAck acknowledges "message-with-ack" with its own arguments.
func messageWithAck(ctx context.Context, s *sio.Socket, args sio.RawArgs, ack sio.Ack) error {
	if ack != nil {
		ack(args...)
	}
	return nil
}
