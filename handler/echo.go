package handler

import (
	"context"

	"github.com/serverless-socketio/server/engineio"
	"github.com/serverless-socketio/server/session"
)

// Echo is a raw Engine.IO [App] that sends every message back to its sender: the application
// the official Engine.IO conformance suite expects at /engine.io/.
type Echo struct{}

// OnMessages queues each message packet back to the session, text or binary.
func (Echo) OnMessages(ctx context.Context, st *session.State, msgs []engineio.Packet, b *session.Batch) error {
	for _, m := range msgs {
		b.Send(AppendStoredPacket(nil, m))
	}
	return nil
}

// OnClose does nothing: an echo has no sockets.
func (Echo) OnClose(ctx context.Context, st *session.State, reason session.Reason, b *session.Batch) {
}

var _ App = Echo{}
