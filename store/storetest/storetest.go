// Package storetest is the conformance suite every [session.Store] must pass: Redis (miniredis and
// a real server) and DynamoDB run the same subtests, so a backend is correct when the suite says so.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/serverless-socketio/server/session"
)

// Clock is the time source a suite run controls; the store under test must read time from it.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock at the current time, to the millisecond. It starts from the real
// time because a backend may expire items on its own clock (DynamoDB's TTL deletes items whose
// expiry is past, and DynamoDB Local does too).
func NewClock() *Clock { return &Clock{now: time.Now().Truncate(time.Millisecond)} }

// Now returns the current time of the clock.
func (c *Clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// Factory returns a fresh, empty store reading time from clock.
type Factory func(t *testing.T, clock *Clock) session.Store

func newSID(t *testing.T) string {
	t.Helper()
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

type env struct {
	t     *testing.T
	ctx   context.Context
	store session.Store
	clock *Clock
}

func (e *env) create() string {
	e.t.Helper()
	sid := newSID(e.t)
	s := &session.Session{ID: sid, Transport: "polling", PingInterval: 25 * time.Second, PingTimeout: 20 * time.Second, LastPong: e.clock.Now()}
	if err := e.store.Create(e.ctx, s); err != nil {
		e.t.Fatalf("Create: %v", err)
	}
	return sid
}

func (e *env) commit(sid string, build func(b *session.Batch)) {
	e.t.Helper()
	var b session.Batch
	build(&b)
	if _, err := e.store.Commit(e.ctx, sid, &b); err != nil {
		e.t.Fatalf("Commit: %v", err)
	}
	e.clock.Advance(time.Millisecond)
}

func (e *env) fetch(sid string) []string {
	e.t.Helper()
	f, err := e.store.Fetch(e.ctx, sid, session.FetchRequest{})
	if err != nil {
		e.t.Fatalf("Fetch: %v", err)
	}
	out := make([]string, len(f.Payloads))
	for i, p := range f.Payloads {
		out[i] = string(p)
	}
	return out
}

func (e *env) wantFetch(sid string, want ...string) {
	e.t.Helper()
	got := e.fetch(sid)
	if len(want) == 0 {
		want = []string{}
	}
	if !slices.Equal(got, want) {
		e.t.Fatalf("Fetch(%s) = %q, want %q", sid[:6], got, want)
	}
}

// expired lists the expired sessions at now.
func (e *env) expired(now time.Time, limit int) ([]string, error) {
	d, err := e.store.Due(e.ctx, now, limit)
	if err != nil {
		return nil, err
	}
	return d.Expired, nil
}

// connect creates a session with a socket in nsp, as a namespace CONNECT would.
func (e *env) connect(nsp, id string) string {
	sid := e.create()
	e.commit(sid, func(b *session.Batch) { b.Connect(nsp, id) })
	return sid
}

// Run runs the whole suite against stores made by newStore.
func Run(t *testing.T, newStore Factory) {
	setup := func(t *testing.T) *env {
		clock := NewClock()
		return &env{t: t, ctx: context.Background(), store: newStore(t, clock), clock: clock}
	}
	t.Run("CreateLoad", func(t *testing.T) { testCreateLoad(t, setup(t)) })
	t.Run("UnknownSession", func(t *testing.T) { testUnknown(t, setup(t)) })
	t.Run("SendFetchOrder", func(t *testing.T) { testSendOrder(t, setup(t)) })
	t.Run("Rooms", func(t *testing.T) { testRooms(t, setup(t)) })
	t.Run("BroadcastOnceAcrossRooms", func(t *testing.T) { testMultiRoom(t, setup(t)) })
	t.Run("Except", func(t *testing.T) { testExcept(t, setup(t)) })
	t.Run("NamespaceWide", func(t *testing.T) { testNamespaceWide(t, setup(t)) })
	t.Run("JoinSeesOnlyLater", func(t *testing.T) { testJoinLater(t, setup(t)) })
	t.Run("LeaveKeepsEarlier", func(t *testing.T) { testLeaveKeeps(t, setup(t)) })
	t.Run("DisconnectKeepsEarlier", func(t *testing.T) { testDisconnect(t, setup(t)) })
	t.Run("OrderAcrossLogs", func(t *testing.T) { testOrderAcrossLogs(t, setup(t)) })
	t.Run("FetchMax", func(t *testing.T) { testFetchMax(t, setup(t)) })
	t.Run("Data", func(t *testing.T) { testData(t, setup(t)) })
	t.Run("Close", func(t *testing.T) { testClose(t, setup(t)) })
	t.Run("Heartbeat", func(t *testing.T) { testHeartbeat(t, setup(t)) })
	t.Run("CloseIfExpired", func(t *testing.T) { testCloseIfExpired(t, setup(t)) })
	t.Run("CloseUnknownDropsIndex", func(t *testing.T) { testCloseUnknown(t, setup(t)) })
	t.Run("PollBusy", func(t *testing.T) { testPollBusy(t, setup(t)) })
	t.Run("ConcurrentBroadcasts", func(t *testing.T) { testConcurrent(t, setup(t)) })
	runWebSocket(t, setup)
	runEdges(t, setup)
	t.Run("Watch", func(t *testing.T) {
		e := setup(t)
		if _, ok := e.store.(session.Notifier); !ok {
			// Not a skip: CI fails on skips, and a store without push is legitimate (DynamoDB).
			t.Log("the store has no Notifier: held polls re-read it on a bounded backoff, nothing to watch")
			return
		}
		testWatch(t, e)
	})
}

func testCreateLoad(t *testing.T, e *env) {
	sid := e.create()
	st, err := e.store.Load(e.ctx, sid)
	if err != nil {
		t.Fatal(err)
	}
	if st.ID != sid || st.PingInterval != 25*time.Second || st.PingTimeout != 20*time.Second || st.Transport != "polling" {
		t.Fatalf("loaded %+v", st.Session)
	}
	if !st.LastPong.Equal(e.clock.Now()) || st.PingSent || len(st.Sockets) != 0 {
		t.Fatalf("loaded %+v with %d sockets", st.Session, len(st.Sockets))
	}
	e.commit(sid, func(b *session.Batch) { b.Connect("/chat", "sock1"); b.Join("/chat", "lobby") })
	st, err = e.store.Load(e.ctx, sid)
	if err != nil {
		t.Fatal(err)
	}
	s := st.Sockets["/chat"]
	if s == nil || s.ID != "sock1" || !slices.Equal(s.Rooms, []string{"lobby", "sock1"}) {
		t.Fatalf("socket %+v", s)
	}
}

func testUnknown(t *testing.T, e *env) {
	sid := newSID(t)
	if _, err := e.store.Load(e.ctx, sid); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("Load: %v, want ErrNotFound", err)
	}
	var b session.Batch
	b.Send([]byte("4x"))
	if _, err := e.store.Commit(e.ctx, sid, &b); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("Commit: %v, want ErrNotFound", err)
	}
	if _, err := e.store.Fetch(e.ctx, sid, session.FetchRequest{}); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("Fetch: %v, want ErrNotFound", err)
	}
}

func testSendOrder(t *testing.T, e *env) {
	sid := e.create()
	e.wantFetch(sid)
	e.commit(sid, func(b *session.Batch) { b.Send([]byte("4a")); b.Send([]byte("4b")) })
	e.commit(sid, func(b *session.Batch) { b.Send([]byte("4c\x1ebAQID")) })
	e.wantFetch(sid, "4a", "4b", "4c\x1ebAQID")
	e.wantFetch(sid)
}

func testRooms(t *testing.T, e *env) {
	a, b, c := e.connect("/chat", "A"), e.connect("/chat", "B"), e.connect("/chat", "C")
	e.commit(a, func(x *session.Batch) { x.Join("/chat", "lobby") })
	e.commit(b, func(x *session.Batch) { x.Join("/chat", "lobby") })
	e.commit(c, func(x *session.Batch) { x.Broadcast("/chat", []string{"lobby"}, nil, []byte("m1")) })
	e.wantFetch(a, "m1")
	e.wantFetch(b, "m1")
	e.wantFetch(c)
	// A socket's own id is a room.
	e.commit(c, func(x *session.Batch) { x.Broadcast("/chat", []string{"B"}, nil, []byte("to-b")) })
	e.wantFetch(a)
	e.wantFetch(b, "to-b")
	// Same room name, other namespace: separate.
	d := e.connect("/other", "D")
	e.commit(d, func(x *session.Batch) {
		x.Join("/other", "lobby")
		x.Broadcast("/other", []string{"lobby"}, nil, []byte("o"))
	})
	e.wantFetch(a)
	e.wantFetch(d, "o")
}

func testMultiRoom(t *testing.T, e *env) {
	a := e.connect("/", "A")
	e.commit(a, func(x *session.Batch) { x.Join("/", "r1"); x.Join("/", "r2") })
	b := e.connect("/", "B")
	e.commit(b, func(x *session.Batch) { x.Join("/", "r2") })
	e.commit(b, func(x *session.Batch) { x.Broadcast("/", []string{"r1", "r2", "r3"}, nil, []byte("once")) })
	e.wantFetch(a, "once")
	e.wantFetch(b, "once")
}

func testExcept(t *testing.T, e *env) {
	a, b, c := e.connect("/", "A"), e.connect("/", "B"), e.connect("/", "C")
	for _, s := range []string{a, b, c} {
		e.commit(s, func(x *session.Batch) { x.Join("/", "lobby") })
	}
	e.commit(c, func(x *session.Batch) { x.Join("/", "muted") })
	e.commit(a, func(x *session.Batch) { x.Broadcast("/", []string{"lobby"}, []string{"A", "muted"}, []byte("m")) })
	e.wantFetch(a)
	e.wantFetch(b, "m")
	e.wantFetch(c)
}

func testNamespaceWide(t *testing.T, e *env) {
	a, b := e.connect("/chat", "A"), e.connect("/chat", "B")
	o := e.connect("/", "O")
	e.commit(a, func(x *session.Batch) { x.Broadcast("/chat", nil, nil, []byte("all")) })
	e.wantFetch(a, "all")
	e.wantFetch(b, "all")
	e.wantFetch(o)
	st, err := e.store.Load(e.ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Sockets["/chat"].Rooms; !slices.Equal(got, []string{"A"}) {
		t.Fatalf("rooms %q: the namespace-wide room must not show", got)
	}
}

func testJoinLater(t *testing.T, e *env) {
	a, b := e.connect("/", "A"), e.connect("/", "B")
	e.commit(a, func(x *session.Batch) { x.Join("/", "r") })
	e.commit(a, func(x *session.Batch) { x.Broadcast("/", []string{"r"}, nil, []byte("before")) })
	e.commit(b, func(x *session.Batch) {
		x.Broadcast("/", []string{"r"}, nil, []byte("same-batch-before"))
		x.Join("/", "r")
		x.Broadcast("/", []string{"r"}, nil, []byte("same-batch-after"))
	})
	e.wantFetch(b, "same-batch-after")
	e.wantFetch(a, "before", "same-batch-before", "same-batch-after")
}

func testLeaveKeeps(t *testing.T, e *env) {
	a, b := e.connect("/", "A"), e.connect("/", "B")
	e.commit(a, func(x *session.Batch) { x.Join("/", "r") })
	e.commit(b, func(x *session.Batch) { x.Broadcast("/", []string{"r"}, nil, []byte("while-member")) })
	e.commit(a, func(x *session.Batch) { x.Leave("/", "r") })
	e.commit(b, func(x *session.Batch) { x.Broadcast("/", []string{"r"}, nil, []byte("after-leave")) })
	e.wantFetch(a, "while-member")
	e.commit(b, func(x *session.Batch) { x.Broadcast("/", []string{"r"}, nil, []byte("later")) })
	e.wantFetch(a)
	// Rejoin: later broadcasts arrive again, earlier ones do not.
	e.commit(a, func(x *session.Batch) { x.Join("/", "r") })
	e.commit(b, func(x *session.Batch) { x.Broadcast("/", []string{"r"}, nil, []byte("rejoined")) })
	e.wantFetch(a, "rejoined")
	st, _ := e.store.Load(e.ctx, a)
	if got := st.Sockets["/"].Rooms; !slices.Equal(got, []string{"A", "r"}) {
		t.Fatalf("rooms %q", got)
	}
}

func testDisconnect(t *testing.T, e *env) {
	a, b := e.connect("/chat", "A"), e.connect("/chat", "B")
	e.commit(a, func(x *session.Batch) { x.Join("/chat", "lobby") })
	e.commit(b, func(x *session.Batch) { x.Broadcast("/chat", []string{"lobby"}, nil, []byte("before")) })
	e.commit(a, func(x *session.Batch) { x.Disconnect("/chat"); x.Send([]byte("41/chat,")) })
	e.commit(b, func(x *session.Batch) { x.Broadcast("/chat", []string{"lobby"}, nil, []byte("after")) })
	e.wantFetch(a, "before", "41/chat,")
	st, err := e.store.Load(e.ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := st.Sockets["/chat"]; ok {
		t.Fatal("socket still there after Disconnect")
	}
}

func testOrderAcrossLogs(t *testing.T, e *env) {
	a, b := e.connect("/", "A"), e.connect("/", "B")
	e.commit(a, func(x *session.Batch) { x.Join("/", "r1"); x.Join("/", "r2") })
	e.commit(b, func(x *session.Batch) {
		for i := range 20 {
			switch i % 3 {
			case 0:
				x.Broadcast("/", []string{"r1"}, nil, fmt.Appendf(nil, "%02d", i))
			case 1:
				x.Broadcast("/", []string{"r2"}, nil, fmt.Appendf(nil, "%02d", i))
			default:
				x.Broadcast("/", []string{"A"}, nil, fmt.Appendf(nil, "%02d", i))
			}
		}
	})
	e.commit(a, func(x *session.Batch) { x.Send([]byte("20")) })
	want := make([]string, 21)
	for i := range want {
		want[i] = fmt.Sprintf("%02d", i)
	}
	e.wantFetch(a, want...)
}

func testFetchMax(t *testing.T, e *env) {
	a, b := e.connect("/", "A"), e.connect("/", "B")
	e.commit(a, func(x *session.Batch) { x.Join("/", "r") })
	e.commit(b, func(x *session.Batch) {
		for i := range 25 {
			if i%2 == 0 {
				x.Broadcast("/", []string{"r"}, nil, fmt.Appendf(nil, "%02d", i))
			} else {
				x.Broadcast("/", []string{"A"}, nil, fmt.Appendf(nil, "%02d", i))
			}
		}
	})
	var got []string
	for range 10 {
		f, err := e.store.Fetch(e.ctx, a, session.FetchRequest{Max: 4})
		if err != nil {
			t.Fatal(err)
		}
		if len(f.Payloads) > 4 {
			t.Fatalf("%d payloads, max 4", len(f.Payloads))
		}
		for _, p := range f.Payloads {
			got = append(got, string(p))
		}
		if !f.More {
			break
		}
	}
	if len(got) != 25 {
		t.Fatalf("got %d payloads: %q", len(got), got)
	}
	for i, p := range got {
		if p != fmt.Sprintf("%02d", i) {
			t.Fatalf("payload %d = %q (all: %q)", i, p, got)
		}
	}
}

func testData(t *testing.T, e *env) {
	a := e.connect("/chat", "A")
	e.commit(a, func(x *session.Batch) { x.SetData("/chat", []byte(`{"user":"ann","n":1.5e300}`)) })
	st, err := e.store.Load(e.ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(st.Sockets["/chat"].Data); got != `{"user":"ann","n":1.5e300}` {
		t.Fatalf("data %s", got)
	}
}

func testClose(t *testing.T, e *env) {
	a, b := e.connect("/chat", "A"), e.connect("/chat", "B")
	e.commit(a, func(x *session.Batch) { x.Join("/chat", "lobby") })
	e.commit(b, func(x *session.Batch) { x.Join("/chat", "lobby") })
	e.commit(a, func(x *session.Batch) {
		x.Broadcast("/chat", []string{"lobby"}, []string{"A"}, []byte("bye"))
		x.Close("transport close", false)
		x.Send([]byte("ignored after close"))
	})
	_, err := e.store.Load(e.ctx, a)
	var ce *session.ClosedError
	if !errors.As(err, &ce) || ce.Reason != "transport close" || !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("Load after close: %v", err)
	}
	if _, err := e.store.Fetch(e.ctx, a, session.FetchRequest{}); !errors.As(err, &ce) || !ce.Answer {
		t.Fatalf("first Fetch after a client close: %v (answer %v), want the owed noop", err, ce != nil && ce.Answer)
	}
	if _, err := e.store.Fetch(e.ctx, a, session.FetchRequest{}); !errors.As(err, &ce) || ce.Answer {
		t.Fatalf("second Fetch after a client close: %v, want closed without an answer", err)
	}
	var x session.Batch
	x.Send([]byte("late"))
	if _, err := e.store.Commit(e.ctx, a, &x); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("Commit after close: %v", err)
	}
	e.wantFetch(b, "bye")
	if sids, _ := e.expired(e.clock.Now().Add(time.Hour), 100); slices.Contains(sids, a) {
		t.Fatal("closed session still listed as expirable")
	}
}

func testHeartbeat(t *testing.T, e *env) {
	a := e.create()
	f, err := e.store.Fetch(e.ctx, a, session.FetchRequest{Ping: true})
	if err != nil || f.Pinged || f.Session.PingSent {
		t.Fatalf("Fetch before the ping is due: %+v %v", f, err)
	}
	e.clock.Advance(26 * time.Second)
	f, err = e.store.Fetch(e.ctx, a, session.FetchRequest{Ping: true})
	if err != nil || f.Expired || !f.Pinged || !f.Session.PingSent {
		t.Fatalf("Fetch when the ping is due: %+v %v", f, err)
	}
	f, err = e.store.Fetch(e.ctx, a, session.FetchRequest{Ping: true})
	if err != nil || f.Pinged {
		t.Fatalf("the ping went out twice: %+v %v", f, err)
	}
	e.commit(a, func(x *session.Batch) { x.Pong() })
	st, _ := e.store.Load(e.ctx, a)
	if st.PingSent || !st.LastPong.Equal(e.clock.Now().Add(-time.Millisecond)) {
		t.Fatalf("after pong: %+v", st.Session)
	}
	if sids, _ := e.expired(e.clock.Now(), 10); slices.Contains(sids, a) {
		t.Fatal("fresh session listed as expired")
	}
	e.clock.Advance(46 * time.Second)
	sids, err := e.expired(e.clock.Now(), 10)
	if err != nil || !slices.Contains(sids, a) {
		t.Fatalf("Expired = %q, %v; want %s", sids, err, a)
	}
	f, err = e.store.Fetch(e.ctx, a, session.FetchRequest{})
	if err != nil || !f.Expired {
		t.Fatalf("Fetch of expired session: %+v %v", f, err)
	}
}

func testCloseIfExpired(t *testing.T, e *env) {
	a := e.create()
	var x session.Batch
	x.Close("ping timeout", true)
	if _, err := e.store.Commit(e.ctx, a, &x); !errors.Is(err, session.ErrAlive) {
		t.Fatalf("close-if-expired on a live session: %v", err)
	}
	if _, err := e.store.Load(e.ctx, a); err != nil {
		t.Fatalf("session gone after a refused close: %v", err)
	}
	e.clock.Advance(46 * time.Second)
	if _, err := e.store.Commit(e.ctx, a, &x); err != nil {
		t.Fatalf("close-if-expired on an expired session: %v", err)
	}
	if _, err := e.store.Commit(e.ctx, a, &x); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("second close: %v, want ErrNotFound", err)
	}
}

func testPollBusy(t *testing.T, e *env) {
	a := e.create()
	if _, err := e.store.Fetch(e.ctx, a, session.FetchRequest{Poll: "p1", Hold: 20 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Fetch(e.ctx, a, session.FetchRequest{Poll: "p1", Hold: 20 * time.Second}); err != nil {
		t.Fatalf("same poll again: %v", err)
	}
	if _, err := e.store.Fetch(e.ctx, a, session.FetchRequest{Poll: "p2", Hold: 20 * time.Second}); !errors.Is(err, session.ErrBusy) {
		t.Fatalf("second poll: %v, want ErrBusy", err)
	}
	if _, err := e.store.Fetch(e.ctx, a, session.FetchRequest{Poll: "p1"}); err != nil {
		t.Fatalf("release: %v", err)
	}
	if _, err := e.store.Fetch(e.ctx, a, session.FetchRequest{Poll: "p2", Hold: 20 * time.Second}); err != nil {
		t.Fatalf("poll after release: %v", err)
	}
	// A hold by a poll that died expires on its own.
	e.clock.Advance(21 * time.Second)
	if _, err := e.store.Fetch(e.ctx, a, session.FetchRequest{Poll: "p3", Hold: 20 * time.Second}); err != nil {
		t.Fatalf("poll after the hold expired: %v", err)
	}
}

func testConcurrent(t *testing.T, e *env) {
	const senders, each = 4, 25
	recv := e.connect("/", "R")
	e.commit(recv, func(x *session.Batch) { x.Join("/", "room") })
	sids := make([]string, senders)
	for i := range sids {
		sids[i] = e.connect("/", fmt.Sprintf("S%d", i))
	}
	var wg sync.WaitGroup
	errs := make(chan error, senders)
	for i, sid := range sids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range each {
				var b session.Batch
				b.Broadcast("/", []string{"room"}, nil, fmt.Appendf(nil, "%d:%03d", i, j))
				if _, err := e.store.Commit(e.ctx, sid, &b); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got := e.fetch(recv)
	if len(got) != senders*each {
		t.Fatalf("received %d of %d", len(got), senders*each)
	}
	next := make([]int, senders)
	for _, p := range got {
		var i, j int
		if _, err := fmt.Sscanf(p, "%d:%d", &i, &j); err != nil || j != next[i] {
			t.Fatalf("out of order or duplicate: %q after %d from sender %d", p, next[i], i)
		}
		next[i]++
	}
}

func testWatch(t *testing.T, e *env) {
	n := e.store.(session.Notifier)
	a, b := e.connect("/chat", "A"), e.connect("/chat", "B")
	e.commit(a, func(x *session.Batch) { x.Join("/chat", "lobby") })
	f, err := e.store.Fetch(e.ctx, a, session.FetchRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(f.Rooms, session.RoomRef{Namespace: "/chat", Room: "lobby"}) {
		t.Fatalf("watch rooms %+v lack lobby", f.Rooms)
	}
	ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
	defer cancel()
	w, err := n.Watch(ctx, a, f.Rooms)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	e.commit(b, func(x *session.Batch) { x.Broadcast("/chat", []string{"lobby"}, nil, []byte(strings.Repeat("x", 3))) })
	select {
	case <-w.C():
	case <-ctx.Done():
		t.Fatal("no wake-up for a broadcast to a watched room")
	}
	e.wantFetch(a, "xxx")
	w2, err := n.Watch(ctx, a, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Stop()
	e.commit(a, func(x *session.Batch) { x.Send([]byte("direct")) })
	select {
	case <-w2.C():
	case <-ctx.Done():
		t.Fatal("no wake-up for a packet sent to the session")
	}
}

// testCloseUnknown: closing a session that does not exist fails with ErrNotFound.
func testCloseUnknown(t *testing.T, e *env) {
	sid := newSID(t)
	var x session.Batch
	x.Close("ping timeout", true)
	if _, err := e.store.Commit(e.ctx, sid, &x); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("close of an unknown session: %v", err)
	}
}
