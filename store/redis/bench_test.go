package redis_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	goredis "github.com/redis/go-redis/v9"

	"github.com/serverless-socketio/server/internal/siotest"
	"github.com/serverless-socketio/server/session"
	"github.com/serverless-socketio/server/store/redis"
)

// The store's calls per request, each one round trip: Load (a POST rehydrates its session),
// Commit (a chat message: a broadcast to the lobby and an ack to the sender), and a GET's Read
// (that finds one packet) and Ack (with the release of its lease). Each runs on miniredis and,
// as "real", on the Redis at SIO_TEST_REDIS_URL (skipped when it is unset).

// benchStores runs bench on a store on a fresh miniredis, and on one on the real Redis under a
// key prefix of its own, whose keys are deleted at the end.
func benchStores(b *testing.B, bench func(b *testing.B, s *redis.Store)) {
	// Heartbeats far off (the sessions' are an hour and more, the TTL longer still): a long
	// benchmark never finds a session expired or a ping due. Room logs keep the default
	// retention, 2 minutes, so a benchmark's logs keep every entry.
	opt := redis.Options{SessionTTL: 3 * time.Hour, Retention: 2 * time.Minute, Pumped: true}
	b.Run("miniredis", func(b *testing.B) {
		mr := miniredis.RunT(b)
		rdb := goredis.NewClient(&goredis.Options{Addr: mr.Addr()})
		s := redis.New(rdb, opt)
		b.Cleanup(func() { s.Close(); rdb.Close() })
		bench(b, s)
	})
	b.Run("real", func(b *testing.B) {
		url := os.Getenv("SIO_TEST_REDIS_URL")
		if url == "" {
			b.Skip("SIO_TEST_REDIS_URL not set")
		}
		ropt, err := goredis.ParseURL(url)
		if err != nil {
			b.Fatalf("SIO_TEST_REDIS_URL: %v", err)
		}
		rdb := goredis.NewClient(ropt)
		opt := opt
		opt.Prefix = siotest.RandomPrefix("siobench")
		s := redis.New(rdb, opt)
		b.Cleanup(func() {
			s.Close()
			if err := siotest.DeleteKeys(context.Background(), rdb, opt.Prefix); err != nil {
				b.Errorf("deleting the benchmark's keys: %v", err)
			}
			rdb.Close()
		})
		bench(b, s)
	})
}

// benchLobby creates members sessions connected to /chat and in "lobby", as the chat consumer
// leaves them, and returns their ids.
func benchLobby(b *testing.B, s *redis.Store, members int) []string {
	b.Helper()
	ctx := context.Background()
	sids := make([]string, members)
	for i := range sids {
		sids[i] = fmt.Sprintf("bench-%d", i)
		ss := &session.Session{ID: sids[i], Transport: session.Polling, PingInterval: time.Hour, PingTimeout: time.Hour, LastPong: time.Now()}
		if err := s.Create(ctx, ss, ss.Schedule(true)); err != nil {
			b.Fatal(err)
		}
		var batch session.Batch
		batch.Connect("/chat", "sock-"+sids[i])
		batch.Join("/chat", "lobby")
		batch.SetData("/chat", []byte(`{"user":"bench"}`))
		if _, err := s.Commit(ctx, sids[i], &batch); err != nil {
			b.Fatal(err)
		}
	}
	return sids
}

// BenchmarkLoad measures the rehydration of a session with one socket in three rooms (its own,
// the namespace's and the lobby) and per-socket data: one HGETALL.
func BenchmarkLoad(b *testing.B) {
	benchStores(b, func(b *testing.B, s *redis.Store) {
		sid := benchLobby(b, s, 1)[0]
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			st, err := s.Load(ctx, sid)
			if err != nil {
				b.Fatal(err)
			}
			if sock := st.Sockets["/chat"]; sock == nil || len(sock.Rooms) != 2 {
				b.Fatalf("Load = %+v, want a /chat socket in lobby and its own room", st)
			}
		}
	})
}

// BenchmarkCommit measures a chat message's commit by a member of a lobby of 10: one broadcast
// to the lobby (one XADD whatever its size) and the ack to the sender, in one script call.
func BenchmarkCommit(b *testing.B) {
	benchStores(b, func(b *testing.B, s *redis.Store) {
		sid := benchLobby(b, s, 10)[0]
		ctx := context.Background()
		var batch session.Batch
		batch.Broadcast("/chat", []string{"lobby"}, nil, []byte(`42/chat,["chat_message",{"text":"hi"}]`))
		batch.Send([]byte(`43/chat,1[{"status":"ok"}]`))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.Commit(ctx, sid, &batch); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkRead measures a GET's read that finds one packet, a broadcast to the lobby (committed
// and acknowledged outside the timed part): one read-only script call reading the session's log
// and its three rooms' logs. On miniredis the time grows with the length of the lobby's log (one
// entry per iteration, all within the retention): miniredis's XRANGE scans a stream from its
// start, where Redis seeks. Compare its numbers at equal -benchtime only.
func BenchmarkRead(b *testing.B) {
	benchStores(b, func(b *testing.B, s *redis.Store) {
		sender, sid, msg := benchBroadcast(b, s)
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			broadcast(b, s, sender, msg)
			b.StartTimer()
			q, err := s.Read(ctx, sid, 0)
			if err != nil {
				b.Fatal(err)
			}
			if len(q.Entries) != 1 || string(q.Entries[0].Payload) != string(msg) {
				b.Fatalf("Read = %+v, want [%s]", q.Entries, msg)
			}
			b.StopTimer()
			if err := s.Ack(ctx, sid, session.Ack{Entries: q.Entries, Through: q.Through}); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
	})
}

// BenchmarkAck measures a GET's acknowledgement of the packet it wrote, with the release of its
// poll lease: one small script call.
func BenchmarkAck(b *testing.B) {
	benchStores(b, func(b *testing.B, s *redis.Store) {
		sender, sid, msg := benchBroadcast(b, s)
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			broadcast(b, s, sender, msg)
			if _, err := s.Acquire(ctx, sid, session.LeasePoll, "bench-poll", 30*time.Second); err != nil {
				b.Fatal(err)
			}
			q, err := s.Read(ctx, sid, 0)
			if err != nil || len(q.Entries) != 1 {
				b.Fatalf("Read = %+v, %v", q, err)
			}
			b.StartTimer()
			a := session.Ack{Entries: q.Entries, Through: q.Through, Release: session.LeasePoll, Token: "bench-poll"}
			if err := s.Ack(ctx, sid, a); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// benchBroadcast returns a lobby's sender and a member, and the chat message the sender sends.
func benchBroadcast(b *testing.B, s *redis.Store) (sender, member string, msg []byte) {
	sids := benchLobby(b, s, 2)
	return sids[0], sids[1], []byte(`42/chat,["chat_message",{"text":"hi"}]`)
}

func broadcast(b *testing.B, s *redis.Store, sender string, msg []byte) {
	var batch session.Batch
	batch.Broadcast("/chat", []string{"lobby"}, nil, msg)
	if _, err := s.Commit(context.Background(), sender, &batch); err != nil {
		b.Fatal(err)
	}
}
