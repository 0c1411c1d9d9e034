package redis_test

import (
	"context"
	"errors"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	goredis "github.com/redis/go-redis/v9"

	"github.com/serverless-socketio/server/session"
	"github.com/serverless-socketio/server/store/redis"
	"github.com/serverless-socketio/server/store/storetest"
)

func TestConformanceMiniredis(t *testing.T) {
	storetest.Run(t, func(t *testing.T, clock *storetest.Clock) session.Store {
		mr := miniredis.RunT(t)
		rdb := goredis.NewClient(&goredis.Options{Addr: mr.Addr()})
		t.Cleanup(func() { rdb.Close() })
		s := redis.New(rdb, redis.Options{Now: clock.Now})
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// TestConformanceRealRedis runs the suite against the server named by SIO_TEST_REDIS_URL
// (CI: redis://127.0.0.1:6379/0). Each subtest gets its own key prefix.
func TestConformanceRealRedis(t *testing.T) {
	url := os.Getenv("SIO_TEST_REDIS_URL")
	if url == "" {
		t.Skip("SIO_TEST_REDIS_URL not set")
	}
	opt, err := goredis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	storetest.Run(t, func(t *testing.T, clock *storetest.Clock) session.Store {
		rdb := goredis.NewClient(opt)
		t.Cleanup(func() { rdb.Close() })
		if err := rdb.Ping(context.Background()).Err(); err != nil {
			t.Fatalf("redis at %s: %v", url, err)
		}
		prefix := "siotest:" + t.Name()
		t.Cleanup(func() {
			ctx := context.Background()
			iter := rdb.Scan(ctx, 0, prefix+":*", 1000).Iterator()
			for iter.Next(ctx) {
				rdb.Del(ctx, iter.Val())
			}
		})
		s := redis.New(rdb, redis.Options{Prefix: prefix, Now: clock.Now})
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// miniStore returns a store on a fresh miniredis, on the suite's clock, closed when the test ends.
func miniStore(t *testing.T) (*miniredis.Miniredis, *goredis.Client, *storetest.Clock, *redis.Store) {
	t.Helper()
	mr := miniredis.RunT(t)
	rdb := goredis.NewClient(&goredis.Options{Addr: mr.Addr()})
	clock := storetest.NewClock()
	s := redis.New(rdb, redis.Options{Now: clock.Now})
	t.Cleanup(func() { s.Close(); rdb.Close() })
	return mr, rdb, clock, s
}

// TestSweepForgetsVanishedSession: a session whose keys expired without a close (no sweeper ran
// in time) is listed by Expired once, and the sweeper's close drops it from the index.
func TestSweepForgetsVanishedSession(t *testing.T) {
	mr, _, clock, s := miniStore(t)
	ctx := context.Background()
	ss := &session.Session{ID: "vanished", Transport: session.Polling, PingInterval: time.Second, PingTimeout: time.Second, LastPong: clock.Now()}
	if err := s.Create(ctx, ss, ss.Schedule(true)); err != nil {
		t.Fatal(err)
	}
	mr.Del("sio:{vanished}")
	later := clock.Now().Add(time.Minute)
	if due, err := s.Due(ctx, later, 10); err != nil || len(due.Expired) != 1 || due.Expired[0] != "vanished" {
		t.Fatalf("Due = %+v, %v", due, err)
	}
	var b session.Batch
	b.Close(session.ReasonPingTimeout, false)
	if _, err := s.Commit(ctx, "vanished", &b); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("close: %v", err)
	}
	if due, err := s.Due(ctx, later, 10); err != nil || len(due.Expired) != 0 {
		t.Fatalf("Due after the close = %+v, %v; want none", due, err)
	}
}

// TestMemberSetOutlivesQuietRoom: a live WebSocket member stays in a room's member set however
// long nobody joins the room (its pongs keep it there), so broadcasts keep being pushed to it.
func TestMemberSetOutlivesQuietRoom(t *testing.T) {
	mr, _, clock, s := miniStore(t)
	ctx := context.Background()
	create := func(id, transport, conn string) {
		ss := &session.Session{ID: id, Transport: session.Transport(transport), Conn: conn, PingInterval: 25 * time.Second, PingTimeout: 20 * time.Second, LastPong: clock.Now()}
		if err := s.Create(ctx, ss, ss.Schedule(true)); err != nil {
			t.Fatal(err)
		}
	}
	commit := func(sid string, f func(b *session.Batch)) []string {
		t.Helper()
		var b session.Batch
		f(&b)
		c, err := s.Commit(ctx, sid, &b)
		if err != nil {
			t.Fatal(err)
		}
		return c.Flush
	}
	create("w", "websocket", "c1")
	create("p", "polling", "")
	commit("w", func(b *session.Batch) { b.Connect("/", "W"); b.Join("/", "lobby") })
	commit("p", func(b *session.Batch) { b.Connect("/", "P") })
	for range 6 { // 3 minutes, past the 2-minute session TTL, with a pong every 30 s
		mr.FastForward(30 * time.Second)
		clock.Advance(30 * time.Second)
		commit("w", func(b *session.Batch) { b.Pong(clock.Now()) })
		commit("p", func(b *session.Batch) { b.Pong(clock.Now()) })
	}
	if got := commit("p", func(b *session.Batch) { b.Broadcast("/", []string{"lobby"}, nil, []byte("m")) }); !slices.Contains(got, "w") {
		t.Fatalf("Flush = %q: the live WebSocket member of lobby is not pushed to", got)
	}
}

// TestAckTrimsSessionLog: an acknowledgement drops from the session's own log what it passed,
// also when the log's last entry is older than entries of the session's rooms it passed, and an
// acknowledgement that passes only room entries leaves the log alone.
func TestAckTrimsSessionLog(t *testing.T) {
	mr, _, clock, s := miniStore(t)
	ctx := context.Background()
	ss := &session.Session{ID: "p", Transport: session.Polling, PingInterval: time.Minute, PingTimeout: time.Minute, LastPong: clock.Now()}
	if err := s.Create(ctx, ss, ss.Schedule(true)); err != nil {
		t.Fatal(err)
	}
	commit := func(f func(b *session.Batch)) {
		t.Helper()
		var b session.Batch
		f(&b)
		if _, err := s.Commit(ctx, "p", &b); err != nil {
			t.Fatal(err)
		}
	}
	logLen := func() int {
		t.Helper()
		if !mr.Exists("sio:{p}:q") {
			return 0
		}
		ids, err := mr.Stream("sio:{p}:q")
		if err != nil {
			t.Fatal(err)
		}
		return len(ids)
	}
	read := func() *session.Queued {
		t.Helper()
		q, err := s.Read(ctx, "p", 0)
		if err != nil {
			t.Fatal(err)
		}
		return q
	}
	ack := func(through session.ID) {
		t.Helper()
		if err := s.Ack(ctx, "p", session.Ack{Through: through}); err != nil {
			t.Fatal(err)
		}
	}
	commit(func(b *session.Batch) {
		b.Connect("/", "P")
		b.Join("/", "lobby")
		b.Send([]byte("a"))
		b.Send([]byte("b"))
	})
	q := read()
	ack(q.Entries[0].ID)
	if n := logLen(); n != 1 {
		t.Fatalf("after an ack through the first of 2 entries the log holds %d; want 1", n)
	}
	commit(func(b *session.Batch) { b.Broadcast("/", []string{"lobby"}, nil, []byte("r")) })
	ack(read().Through)
	if n := logLen(); n != 0 {
		t.Fatalf("after an ack past every entry the log holds %d; want 0", n)
	}
	commit(func(b *session.Batch) { b.Send([]byte("c")) })
	commit(func(b *session.Batch) { b.Broadcast("/", []string{"lobby"}, nil, []byte("r2")) })
	q = read()
	if len(q.Entries) != 2 {
		t.Fatalf("read %d entries; want c and r2", len(q.Entries))
	}
	ack(q.Through)
	if n := logLen(); n != 0 {
		t.Fatalf("after an ack past c (and a later room entry) the log holds %d; want 0", n)
	}
}
