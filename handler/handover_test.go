package handler_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/serverless-socketio/server/handler"
	"github.com/serverless-socketio/server/internal/siotest"
	"github.com/serverless-socketio/server/session"
)

// handover is the Config.PollHandover of these tests: the longest there is, so that a loaded
// machine's next GET still comes within it.
const handover = 50 * time.Millisecond

// echoes posts n messages to c one at a time, each followed by a GET on get(i), and fails
// unless every GET answers exactly its message. It returns how many GETs made no Redis round
// trip on srv.
func echoes(t *testing.T, srv *siotest.Server, c *siotest.Client, n int, get func(i int) *siotest.Client) int {
	t.Helper()
	free := 0
	for i := range n {
		msg := fmt.Sprintf("4m%d", i)
		c.Post(msg)
		before := srv.RoundTrips.Load()
		got := get(i).Get()
		if srv.RoundTrips.Load() == before {
			free++
		}
		if !slices.Equal(got, []string{msg}) {
			t.Fatalf("GET %d: %q, want [%q]", i, got, msg)
		}
	}
	return free
}

// TestPollHandover: with Config.PollHandover, the session's next GET on the same process takes
// the lease the GET before kept: no Redis round trip for a GET whose message is on the process
// already, where without it every GET makes some. Every message comes once, in order; once the
// lease is let go, what the GETs wrote is acknowledged (the queue is empty).
func TestPollHandover(t *testing.T) {
	for _, tc := range []struct {
		name     string
		handover time.Duration
	}{{"kept", handover}, {"off", -1}} {
		t.Run(tc.name, func(t *testing.T) {
			srv := siotest.StartRedis(t, handler.Echo{}, handler.Config{PollHandover: tc.handover})
			c := srv.Open(t)
			const n = 20
			free := echoes(t, srv, c, n, func(int) *siotest.Client { return c })
			switch {
			case tc.handover > 0 && free < n/2:
				t.Errorf("%d of %d GETs made no round trip, want at least half", free, n)
			case tc.handover < 0 && free > 0:
				t.Errorf("%d of %d GETs made no round trip without a handover, want none", free, n)
			}
			srv.Released(t, c.SID)
			q, err := srv.Store.Read(context.Background(), c.SID, 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(q.Entries) != 0 {
				t.Fatalf("after the lease was let go, still queued: %d entries, first %q", len(q.Entries), q.Entries[0].Payload)
			}
		})
	}
}

// TestPollHandoverAcrossProcesses: GETs that alternate between two processes (a load balancer
// without sticky sessions) find the lease a GET kept on the other process let go in time: no
// overlap refused, every message once, in order.
func TestPollHandoverAcrossProcesses(t *testing.T) {
	cfg := handler.Config{PollHandover: handover}
	a := siotest.StartRedis(t, handler.Echo{}, cfg)
	b := a.Another(t, handler.Echo{}, cfg)
	c := a.Open(t)
	on := []*siotest.Client{c, c.On(b)}
	echoes(t, a, c, 20, func(i int) *siotest.Client { return on[i%2] })
}

// TestDrainLetsKeptLeasesGo: Engine.Drain lets go, at once, of the lease a GET kept for the next
// (a process that shuts down must not leave its sessions' next GETs waiting on another process),
// with the acknowledgement of what the GET wrote. The GET's handler keeps the lease just after
// its answer reaches the client (the session's first GET on a process keeps none: see
// heldPoll.park): the test gives it a moment, and counts only a try whose
// Acquire came well before the handover would have let the lease go anyway.
func TestDrainLetsKeptLeasesGo(t *testing.T) {
	srv := siotest.StartRedis(t, handler.Echo{}, handler.Config{PollHandover: handover})
	ctx := context.Background()
	for try := 0; ; try++ {
		c := srv.Open(t)
		echoes(t, srv, c, 3, func(int) *siotest.Client { return c }) // the first GET parks nothing
		answered := time.Now()
		time.Sleep(5 * time.Millisecond)
		srv.Engine.Drain(ctx)
		_, err := srv.Store.Acquire(ctx, c.SID, session.LeasePoll, "another", time.Second)
		if time.Since(answered) > handover/2 && try < 10 {
			continue // too slow to tell Drain from the handover's end
		}
		if errors.Is(err, session.ErrBusy) {
			t.Fatal("after Drain the poll lease is still held")
		}
		if err != nil {
			t.Fatal(err)
		}
		q, err := srv.Store.Read(ctx, c.SID, 0)
		if err != nil || len(q.Entries) != 0 {
			t.Fatalf("after Drain: %v queued (%v), want the GET's message acknowledged", q, err)
		}
		return
	}
}
