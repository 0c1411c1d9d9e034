package handler_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/serverless-socketio/server/handler"
	"github.com/serverless-socketio/server/internal/siotest"
	"github.com/serverless-socketio/server/session"
	"github.com/serverless-socketio/server/store/memory"
)

// stallingStore is a store whose Read, once armed, blocks until its request is cancelled and
// then fails as a network store does when its call is cut short.
type stallingStore struct {
	session.Store
	armed   atomic.Bool
	stalled chan struct{}
}

func (s *stallingStore) Read(ctx context.Context, sid string, max int) (*session.Queued, error) {
	if s.armed.CompareAndSwap(true, false) {
		close(s.stalled)
		<-ctx.Done()
		return nil, fmt.Errorf("stalling store: %w: %w", session.ErrUnavailable, ctx.Err())
	}
	return s.Store.Read(ctx, sid, max)
}

// TestCancelledPollDuringStoreCallClosesSession: a GET the client abandons while the store call
// is in flight (not while the poll waits) ends the session with "transport error" too; the
// cut-short call is not reported as a store failure. (Found by the official Engine.IO suite on
// the DynamoDB store, whose calls are slow enough to be cut short.)
func TestCancelledPollDuringStoreCallClosesSession(t *testing.T) {
	ms := memory.New(memory.Options{})
	store := &stallingStore{Store: ms, stalled: make(chan struct{})}
	eng, err := handler.New(handler.Config{
		Store: store, App: handler.Echo{}, PollHold: 5 * time.Second,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(eng)
	defer hs.Close()
	c := (&siotest.Server{URL: hs.URL + "/socket.io/"}).Open(t)

	store.armed.Store(true)
	abandonGet(t, c.URL, c.SID, ms, func() { <-store.stalled })
}
