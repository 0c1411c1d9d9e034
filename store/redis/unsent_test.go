package redis

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	goredis "github.com/redis/go-redis/v9"

	"github.com/serverless-socketio/server/session"
)

// TestCallGivenUpWhileQueued: a store call whose caller gives up while it waits in the batcher
// (a pump whose connection closed, a GET whose client left) is not sent, and the call returns
// the caller's error: Create, Load, Acquire and Commit each, none of them answering as if it had
// been sent (a panic on its missing reply, or a Create that says it created the session).
func TestCallGivenUpWhileQueued(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb := goredis.NewClient(&goredis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { rdb.Close() })
	s := New(rdb, Options{})
	t.Cleanup(func() { s.Close() })
	s.batch.close()
	s.batch = newBatcher(rdb, 0) // no worker: the test sends what is queued
	live := &session.Session{ID: "live", Transport: session.Polling, PingInterval: time.Minute, PingTimeout: time.Minute, LastPong: time.Now()}
	for name, do := range map[string]func(ctx context.Context) error{
		"Create": func(ctx context.Context) error {
			ss := &session.Session{ID: "new", Transport: session.Polling, PingInterval: time.Minute, PingTimeout: time.Minute, LastPong: time.Now()}
			return s.Create(ctx, ss, ss.Schedule(true))
		},
		"Load": func(ctx context.Context) error { _, err := s.Load(ctx, live.ID); return err },
		"Acquire": func(ctx context.Context) error {
			_, err := s.Acquire(ctx, live.ID, session.LeaseWrite, "t", time.Second)
			return err
		},
		"Commit": func(ctx context.Context) error {
			var b session.Batch
			b.Send([]byte("x"))
			_, err := s.Commit(ctx, live.ID, &b)
			return err
		},
	} {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- do(ctx) }()
		c := <-s.batch.calls // queued
		cancel()
		s.batch.send([]*call{c})
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("%s given up while queued: %v, want context.Canceled", name, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s given up while queued did not return", name)
		}
	}
	if mr.Exists("sio:{new}") {
		t.Error("the Create given up was sent")
	}
}
