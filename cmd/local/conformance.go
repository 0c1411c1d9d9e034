package main

import (
	"context"
	"encoding/json"

	"github.com/serverless-socketio/server/sio"
)

// conformanceConsumer is what the official Socket.IO v5 suite expects on "/" and "/custom":
// the auth payload echoed as "auth" on connect, "message" answered with "message-back", and
// "message-with-ack" acknowledged with its own arguments.
type conformanceConsumer string

func (c conformanceConsumer) Namespace() string { return string(c) }

func (conformanceConsumer) Connect(ctx context.Context, s *sio.Socket, auth json.RawMessage) error {
	if auth == nil {
		auth = json.RawMessage(`{}`)
	}
	return s.Emit("auth", auth)
}

func (conformanceConsumer) EventMessage(ctx context.Context, s *sio.Socket, args sio.RawArgs) error {
	return s.Emit("message-back", args...)
}

// messageWithAck handles "message-with-ack" (registered with sio.On: the name has dashes).
func messageWithAck(ctx context.Context, s *sio.Socket, args sio.RawArgs, ack sio.Ack) error {
	if ack != nil {
		ack(args...)
	}
	return nil
}
