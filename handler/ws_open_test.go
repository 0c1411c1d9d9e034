package handler_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/serverless-socketio/server/handler"
	"github.com/serverless-socketio/server/internal/siotest"
)

// pendingSender answers ErrGone until the connection is "established" (after gone calls), as
// API Gateway does for a connection whose $connect has not returned yet.
type pendingSender struct {
	mu     sync.Mutex
	gone   int
	frames []string
}

func (p *pendingSender) Send(ctx context.Context, conn string, frame []byte, binary bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.gone > 0 {
		p.gone--
		return handler.ErrGone
	}
	p.frames = append(p.frames, conn+" "+string(frame))
	return nil
}

func (p *pendingSender) Close(ctx context.Context, conn string) error { return nil }

func TestWSOpenRetry(t *testing.T) {
	ps := &pendingSender{gone: 3}
	srv := siotest.Start(t, handler.Echo{}, handler.Config{Sender: ps})
	ctx := context.Background()
	if err := srv.Engine.WSConnect(ctx, "conn-1", url.Values{"EIO": {"4"}, "transport": {"websocket"}}); err != nil {
		t.Fatal(err)
	}
	if err := srv.Engine.WSOpenRetry(ctx, "conn-1"); err != nil {
		t.Fatalf("WSOpenRetry: %v", err)
	}
	if len(ps.frames) != 1 || !strings.HasPrefix(ps.frames[0], `conn-1 0{"sid":`) {
		t.Fatalf("frames %q, want the open packet once", ps.frames)
	}

	never := &pendingSender{gone: 1 << 30}
	srv2 := siotest.Start(t, handler.Echo{}, handler.Config{Sender: never})
	if err := srv2.Engine.WSConnect(ctx, "conn-2", url.Values{"EIO": {"4"}, "transport": {"websocket"}}); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if err := srv2.Engine.WSOpenRetry(short, "conn-2"); !errors.Is(err, handler.ErrGone) {
		t.Fatalf("WSOpenRetry on a connection that never opens: %v, want ErrGone", err)
	}
}
