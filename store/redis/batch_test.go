package redis_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/serverless-socketio/server/session"
	"github.com/serverless-socketio/server/store/redis"
)

// createPolling creates n polling sessions, s000, s001, …, and returns their ids.
func createPolling(t *testing.T, s *redis.Store, n int) []string {
	t.Helper()
	sids := make([]string, n)
	for i := range sids {
		sids[i] = fmt.Sprintf("s%03d", i)
		ss := &session.Session{ID: sids[i], Transport: session.Polling, PingInterval: time.Minute, PingTimeout: time.Minute, LastPong: time.Now()}
		if err := s.Create(context.Background(), ss, ss.Schedule(true)); err != nil {
			t.Fatal(err)
		}
	}
	return sids
}

// allAtOnce runs do for every session at once, and returns the first error.
func allAtOnce(sids []string, do func(i int, sid string) error) error {
	var wg sync.WaitGroup
	errs := make(chan error, len(sids))
	for i, sid := range sids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := do(i, sid); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// TestConcurrentReadsBatched: many reads and acks at once (sent together in pipelines) each get
// their own session's packets, also right after Redis forgot the scripts (NOSCRIPT inside a
// pipeline).
func TestConcurrentReadsBatched(t *testing.T) {
	_, rdb, _, s := miniStore(t)
	ctx := context.Background()
	const n = 200
	sids := createPolling(t, s, n)
	for round := range 2 {
		for i, sid := range sids {
			var b session.Batch
			b.Send(fmt.Appendf(nil, "%s-%d-%d", sid, round, i))
			if _, err := s.Commit(ctx, sid, &b); err != nil {
				t.Fatal(err)
			}
		}
		if round == 1 {
			if err := rdb.ScriptFlush(ctx).Err(); err != nil {
				t.Fatal(err)
			}
		}
		err := allAtOnce(sids, func(i int, sid string) error {
			q, err := s.Read(ctx, sid, 0)
			want := fmt.Sprintf("%s-%d-%d", sid, round, i)
			switch {
			case err != nil:
				return err
			case len(q.Entries) != 1 || string(q.Entries[0].Payload) != want:
				return fmt.Errorf("read of %s got %+v, want [%s]", sid, q.Entries, want)
			}
			return s.Ack(ctx, sid, session.Ack{Entries: q.Entries, Through: q.Through})
		})
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
	}
}

// TestConcurrentCommitsAndLoadsBatched: many loads and commits at once (sent together in
// pipelines, the first right after Redis forgot the scripts) each act on their own session.
func TestConcurrentCommitsAndLoadsBatched(t *testing.T) {
	_, rdb, _, s := miniStore(t)
	ctx := context.Background()
	const n = 200
	sids := createPolling(t, s, n)
	if err := rdb.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	err := allAtOnce(sids, func(i int, sid string) error {
		st, err := s.Load(ctx, sid)
		if err != nil || st.ID != sid {
			return fmt.Errorf("load of %s: %v, %+v", sid, err, st)
		}
		var b session.Batch
		b.Connect("/", fmt.Sprintf("sock%d", i))
		b.Send(fmt.Appendf(nil, "to-%s", sid))
		if _, err := s.Commit(ctx, sid, &b); err != nil {
			return fmt.Errorf("commit of %s: %v", sid, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, sid := range sids {
		st, err := s.Load(ctx, sid)
		if err != nil || st.Sockets["/"] == nil || st.Sockets["/"].ID != fmt.Sprintf("sock%d", i) {
			t.Fatalf("%s after the commits: %v, %+v", sid, err, st)
		}
		q, err := s.Read(ctx, sid, 0)
		if err != nil || len(q.Entries) != 1 || string(q.Entries[0].Payload) != "to-"+sid {
			t.Fatalf("read of %s: %v, %+v", sid, err, q)
		}
	}
}
