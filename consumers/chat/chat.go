// Package chat is the tutorial's chat consumer: every client of /chat joins the lobby, is
// welcomed, and each chat_message is broadcast to the whole lobby, sender included.
package chat

import (
	"context"
	"encoding/json"

	"github.com/serverless-socketio/server/sio"
)

// Message is the payload of system_message and chat_message.
type Message struct {
	Text string `json:"text"`
}

// Consumer serves the namespace /chat.
type Consumer struct{}

// Namespace returns "/chat".
func (Consumer) Namespace() string { return "/chat" }

// Connect puts the client in the lobby and welcomes it (this client only).
func (Consumer) Connect(ctx context.Context, s *sio.Socket, auth json.RawMessage) error {
	s.Join("lobby")
	return s.Emit("system_message", Message{Text: "Welcome!"})
}

// Disconnect needs no cleanup: leaving the rooms is part of the disconnect.
func (Consumer) Disconnect(ctx context.Context, s *sio.Socket, reason string) {}

// EventChatMessage broadcasts the text to the lobby of the socket's namespace and acks it.
func (Consumer) EventChatMessage(ctx context.Context, s *sio.Socket, m Message, ack sio.Ack) error {
	if err := s.Server().Emit("chat_message", Message{Text: m.Text}, sio.To("lobby"), sio.Namespace(s.Namespace())); err != nil {
		return err
	}
	if ack != nil {
		ack(map[string]string{"status": "ok"})
	}
	return nil
}
