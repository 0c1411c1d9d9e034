package handler_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/serverless-socketio/server/handler"
)

// hgetalls counts the HGETALLs sent (a session's load), alone or in pipelines.
type hgetalls struct{ n atomic.Int64 }

func (h *hgetalls) DialHook(next goredis.DialHook) goredis.DialHook { return next }
func (h *hgetalls) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		h.count(cmd)
		return next(ctx, cmd)
	}
}
func (h *hgetalls) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		for _, c := range cmds {
			h.count(c)
		}
		return next(ctx, cmds)
	}
}
func (h *hgetalls) count(cmd goredis.Cmder) {
	if strings.EqualFold(cmd.Name(), "hgetall") {
		h.n.Add(1)
	}
}

// TestPumpOpenLoadsNothing: the pump of a WebSocket session created on its own process writes
// the open packet from the session its $connect created, without loading it back: opening and
// connecting to /chat loads the session once (for the CONNECT frame).
func TestPumpOpenLoadsNothing(t *testing.T) {
	srv := pumpChatRedis(t, handler.Config{})
	h := &hgetalls{}
	srv.Client.AddHook(h)
	joinChat(t, srv)
	if n := h.n.Load(); n != 1 {
		t.Fatalf("opening a WebSocket and connecting /chat loaded the session %d times, want 1", n)
	}
}
