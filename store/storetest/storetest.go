// Package storetest is the conformance suite every [session.Store] must pass: the memory store,
// Redis (miniredis and a real server) and DynamoDB run the same subtests, so a backend is correct
// when the suite says so.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
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

// Factory returns a fresh, empty store reading time from clock. The store lists the WebSocket
// sessions to push to (it is not told that a pump writes every connection).
type Factory func(t *testing.T, clock *Clock) session.Store

const (
	testPingInterval = 25 * time.Second
	testPingTimeout  = 20 * time.Second
)

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

// createWith creates a polling session with the suite's heartbeat at the clock's time, after
// edit has adjusted it, with the hints the handler would give it.
func (e *env) createWith(edit func(s *session.Session)) string {
	e.t.Helper()
	s := &session.Session{ID: newSID(e.t), Transport: session.Polling, PingInterval: testPingInterval, PingTimeout: testPingTimeout, LastPong: e.clock.Now()}
	edit(s)
	if err := e.store.Create(e.ctx, s, s.Schedule(true)); err != nil {
		e.t.Fatalf("Create: %v", err)
	}
	return s.ID
}

func (e *env) create() string {
	e.t.Helper()
	return e.createWith(func(*session.Session) {})
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

func (e *env) read(sid string, max int) *session.Queued {
	e.t.Helper()
	q, err := e.store.Read(e.ctx, sid, max)
	if err != nil {
		e.t.Fatalf("Read(%s): %v", sid[:6], err)
	}
	return q
}

func payloads(entries []session.Entry) []string {
	out := make([]string, len(entries))
	for i, en := range entries {
		out[i] = string(en.Payload)
	}
	return out
}

func (e *env) ack(sid string, a session.Ack) {
	e.t.Helper()
	if err := e.store.Ack(e.ctx, sid, a); err != nil {
		e.t.Fatalf("Ack(%s): %v", sid[:6], err)
	}
}

// take reads what is queued and acknowledges all of it, as a reader that wrote it does.
func (e *env) take(sid string) []string {
	e.t.Helper()
	q := e.read(sid, 0)
	e.ack(sid, session.Ack{Entries: q.Entries, Through: q.Through})
	return payloads(q.Entries)
}

func (e *env) wantTake(sid string, want ...string) {
	e.t.Helper()
	if got := e.take(sid); !slices.Equal(got, append([]string{}, want...)) {
		e.t.Fatalf("take(%s) = %q, want %q", sid[:6], got, want)
	}
}

// connect creates a session with a socket in nsp, as a namespace CONNECT would.
func (e *env) connect(nsp, id string) string {
	sid := e.create()
	e.commit(sid, func(b *session.Batch) { b.Connect(nsp, id) })
	return sid
}

func (e *env) load(sid string) *session.State {
	e.t.Helper()
	st, err := e.store.Load(e.ctx, sid)
	if err != nil {
		e.t.Fatalf("Load(%s): %v", sid[:6], err)
	}
	return st
}

// due returns the sweeper's work at now.
func (e *env) due(now time.Time) *session.Due {
	e.t.Helper()
	d, err := e.store.Due(e.ctx, now, 100)
	if err != nil {
		e.t.Fatalf("Due: %v", err)
	}
	return d
}

// Run runs the whole suite against stores made by newStore.
func Run(t *testing.T, newStore Factory) {
	setup := func(t *testing.T) *env {
		clock := NewClock()
		return &env{t: t, ctx: context.Background(), store: newStore(t, clock), clock: clock}
	}
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, e *env)
	}{
		{"CreateLoad", testCreateLoad},
		{"UnknownSession", testUnknown},
		{"SendReadOrder", testSendOrder},
		{"ReadHasNoSideEffects", testReadNoSideEffects},
		{"AckPrefix", testAckPrefix},
		{"Rooms", testRooms},
		{"BroadcastOnceAcrossRooms", testMultiRoom},
		{"Except", testExcept},
		{"NamespaceWide", testNamespaceWide},
		{"JoinSeesOnlyLater", testJoinLater},
		{"LeaveKeepsEarlier", testLeaveKeeps},
		{"DisconnectKeepsEarlier", testDisconnect},
		{"OrderAcrossLogs", testOrderAcrossLogs},
		{"ReadMax", testReadMax},
		{"ReadPastExcepted", testReadPastExcepted},
		{"Data", testData},
		{"Close", testClose},
		{"Heartbeat", testHeartbeat},
		{"PingAck", testPingAck},
		{"Schedule", testSchedule},
		{"CloseIf", testCloseIf},
		{"CloseUnknown", testCloseUnknown},
		{"ConcurrentBroadcasts", testConcurrent},
		{"LargePackets", testLargePackets},
		{"ManyBroadcastsOneCommit", testManyBroadcasts},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, setup(t)) })
	}
	runLeases(t, setup)
	runWebSocket(t, setup)
	runEdges(t, setup)
	t.Run("Watch", func(t *testing.T) {
		e := setup(t)
		if _, ok := e.store.(session.Subscriber); !ok {
			// Not a skip: CI fails on skips, and a store without pub/sub is legitimate (DynamoDB).
			t.Log("the store is no Subscriber: waiting readers read it again on a bounded backoff, nothing to watch")
			return
		}
		runWatch(t, setup)
	})
}

func testCreateLoad(t *testing.T, e *env) {
	sid := e.create()
	st := e.load(sid)
	if st.ID != sid || st.PingInterval != testPingInterval || st.PingTimeout != testPingTimeout || st.Transport != session.Polling {
		t.Fatalf("loaded %+v", st.Session)
	}
	if !st.LastPong.Equal(e.clock.Now()) || st.PingSent || len(st.Sockets) != 0 {
		t.Fatalf("loaded %+v with %d sockets", st.Session, len(st.Sockets))
	}
	e.commit(sid, func(b *session.Batch) { b.Connect("/chat", "sock1"); b.Join("/chat", "lobby") })
	s := e.load(sid).Sockets["/chat"]
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
	if _, err := e.store.Read(e.ctx, sid, 0); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("Read: %v, want ErrNotFound", err)
	}
	if err := e.store.Ack(e.ctx, sid, session.Ack{Entries: []session.Entry{{ID: session.ID{Time: 1, Seq: 1}}}}); err != nil {
		t.Fatalf("Ack of an unknown session: %v, want nothing to do", err)
	}
}

func testSendOrder(t *testing.T, e *env) {
	sid := e.create()
	e.wantTake(sid)
	e.commit(sid, func(b *session.Batch) { b.Send([]byte("4a")); b.Send([]byte("4b")) })
	e.commit(sid, func(b *session.Batch) { b.Send([]byte("4c\x1ebAQID")) })
	e.wantTake(sid, "4a", "4b", "4c\x1ebAQID")
	e.wantTake(sid)
}

// testReadNoSideEffects: a Read takes nothing; only an Ack does.
func testReadNoSideEffects(t *testing.T, e *env) {
	a, b := e.connect("/", "A"), e.connect("/", "B")
	e.commit(a, func(x *session.Batch) { x.Join("/", "r"); x.Send([]byte("own")) })
	e.commit(b, func(x *session.Batch) { x.Broadcast("/", []string{"r"}, nil, []byte("room")) })
	first := e.read(a, 0)
	second := e.read(a, 0)
	if !slices.Equal(payloads(first.Entries), []string{"own", "room"}) || !slices.Equal(payloads(second.Entries), payloads(first.Entries)) {
		t.Fatalf("two Reads: %q then %q, want [own room] twice", payloads(first.Entries), payloads(second.Entries))
	}
	for i := range first.Entries {
		if first.Entries[i].ID != second.Entries[i].ID {
			t.Fatalf("entry %d: ID %v then %v", i, first.Entries[i].ID, second.Entries[i].ID)
		}
	}
	if !first.Entries[0].ID.Less(first.Entries[1].ID) {
		t.Fatalf("IDs %v, %v out of order", first.Entries[0].ID, first.Entries[1].ID)
	}
	e.wantTake(a, "own", "room")
	e.wantTake(a)
}

// testAckPrefix: acknowledging the first entries of a Read leaves the rest queued.
func testAckPrefix(t *testing.T, e *env) {
	a, b := e.connect("/", "A"), e.connect("/", "B")
	e.commit(a, func(x *session.Batch) { x.Join("/", "r") })
	e.commit(b, func(x *session.Batch) {
		x.Broadcast("/", []string{"r"}, nil, []byte("1"))
		x.Broadcast("/", []string{"A"}, nil, []byte("2"))
		x.Broadcast("/", []string{"r"}, nil, []byte("3"))
	})
	e.commit(a, func(x *session.Batch) { x.Send([]byte("4")) })
	q := e.read(a, 0)
	if !slices.Equal(payloads(q.Entries), []string{"1", "2", "3", "4"}) {
		t.Fatalf("read %q", payloads(q.Entries))
	}
	e.ack(a, session.Ack{Entries: q.Entries[:2]})
	e.wantTake(a, "3", "4")
	// An acknowledgement older than the cursor changes nothing.
	e.ack(a, session.Ack{Entries: q.Entries[:1]})
	e.wantTake(a)
}

func testRooms(t *testing.T, e *env) {
	a, b, c := e.connect("/chat", "A"), e.connect("/chat", "B"), e.connect("/chat", "C")
	e.commit(a, func(x *session.Batch) { x.Join("/chat", "lobby") })
	e.commit(b, func(x *session.Batch) { x.Join("/chat", "lobby") })
	e.commit(c, func(x *session.Batch) { x.Broadcast("/chat", []string{"lobby"}, nil, []byte("m1")) })
	e.wantTake(a, "m1")
	e.wantTake(b, "m1")
	e.wantTake(c)
	// A socket's own id is a room.
	e.commit(c, func(x *session.Batch) { x.Broadcast("/chat", []string{"B"}, nil, []byte("to-b")) })
	e.wantTake(a)
	e.wantTake(b, "to-b")
	// Same room name, other namespace: separate.
	d := e.connect("/other", "D")
	e.commit(d, func(x *session.Batch) {
		x.Join("/other", "lobby")
		x.Broadcast("/other", []string{"lobby"}, nil, []byte("o"))
	})
	e.wantTake(a)
	e.wantTake(d, "o")
	if got := e.read(a, 0).Rooms; !slices.Contains(got, session.RoomRef{Namespace: "/chat", Room: "lobby"}) ||
		!slices.Contains(got, session.RoomRef{Namespace: "/chat", Room: session.AllRoom}) {
		t.Fatalf("Read's rooms %+v lack lobby or the namespace-wide room", got)
	}
}

func testMultiRoom(t *testing.T, e *env) {
	a := e.connect("/", "A")
	e.commit(a, func(x *session.Batch) { x.Join("/", "r1"); x.Join("/", "r2") })
	b := e.connect("/", "B")
	e.commit(b, func(x *session.Batch) { x.Join("/", "r2") })
	e.commit(b, func(x *session.Batch) { x.Broadcast("/", []string{"r1", "r2", "r3"}, nil, []byte("once")) })
	e.wantTake(a, "once")
	e.wantTake(b, "once")
}

func testExcept(t *testing.T, e *env) {
	a, b, c := e.connect("/", "A"), e.connect("/", "B"), e.connect("/", "C")
	for _, s := range []string{a, b, c} {
		e.commit(s, func(x *session.Batch) { x.Join("/", "lobby") })
	}
	e.commit(c, func(x *session.Batch) { x.Join("/", "muted") })
	e.commit(a, func(x *session.Batch) { x.Broadcast("/", []string{"lobby"}, []string{"A", "muted"}, []byte("m")) })
	e.wantTake(a)
	e.wantTake(b, "m")
	e.wantTake(c)
}

func testNamespaceWide(t *testing.T, e *env) {
	a, b := e.connect("/chat", "A"), e.connect("/chat", "B")
	o := e.connect("/", "O")
	e.commit(a, func(x *session.Batch) { x.Broadcast("/chat", nil, nil, []byte("all")) })
	e.wantTake(a, "all")
	e.wantTake(b, "all")
	e.wantTake(o)
	if got := e.load(a).Sockets["/chat"].Rooms; !slices.Equal(got, []string{"A"}) {
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
	e.wantTake(b, "same-batch-after")
	e.wantTake(a, "before", "same-batch-before", "same-batch-after")
}

func testLeaveKeeps(t *testing.T, e *env) {
	a, b := e.connect("/", "A"), e.connect("/", "B")
	e.commit(a, func(x *session.Batch) { x.Join("/", "r") })
	e.commit(b, func(x *session.Batch) { x.Broadcast("/", []string{"r"}, nil, []byte("while-member")) })
	e.commit(a, func(x *session.Batch) { x.Leave("/", "r") })
	e.commit(b, func(x *session.Batch) { x.Broadcast("/", []string{"r"}, nil, []byte("after-leave")) })
	e.wantTake(a, "while-member")
	e.commit(b, func(x *session.Batch) { x.Broadcast("/", []string{"r"}, nil, []byte("later")) })
	e.wantTake(a)
	// Rejoin: later broadcasts arrive again, earlier ones do not.
	e.commit(a, func(x *session.Batch) { x.Join("/", "r") })
	e.commit(b, func(x *session.Batch) { x.Broadcast("/", []string{"r"}, nil, []byte("rejoined")) })
	e.wantTake(a, "rejoined")
	if got := e.load(a).Sockets["/"].Rooms; !slices.Equal(got, []string{"A", "r"}) {
		t.Fatalf("rooms %q", got)
	}
}

func testDisconnect(t *testing.T, e *env) {
	a, b := e.connect("/chat", "A"), e.connect("/chat", "B")
	e.commit(a, func(x *session.Batch) { x.Join("/chat", "lobby") })
	e.commit(b, func(x *session.Batch) { x.Broadcast("/chat", []string{"lobby"}, nil, []byte("before")) })
	e.commit(a, func(x *session.Batch) { x.Disconnect("/chat"); x.Send([]byte("41/chat,")) })
	e.commit(b, func(x *session.Batch) { x.Broadcast("/chat", []string{"lobby"}, nil, []byte("after")) })
	e.wantTake(a, "before", "41/chat,")
	if _, ok := e.load(a).Sockets["/chat"]; ok {
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
	e.wantTake(a, want...)
}

// takeAll takes in reads of max entries until one reports no more, and returns what it took.
func (e *env) takeAll(sid string, max int) []string {
	e.t.Helper()
	var got []string
	for range 20 {
		q := e.read(sid, max)
		if len(q.Entries) > max {
			e.t.Fatalf("%d entries, max %d", len(q.Entries), max)
		}
		got = append(got, payloads(q.Entries)...)
		e.ack(sid, session.Ack{Entries: q.Entries, Through: q.Through})
		if !q.More {
			break
		}
	}
	return got
}

func testReadMax(t *testing.T, e *env) {
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
	got := e.takeAll(a, 4)
	if len(got) != 25 {
		t.Fatalf("took %d payloads: %q", len(got), got)
	}
	for i, p := range got {
		if p != fmt.Sprintf("%02d", i) {
			t.Fatalf("payload %d = %q (all: %q)", i, p, got)
		}
	}
}

// testReadPastExcepted: reads cut by max make progress over a run of entries that are not for
// the session (excepted), with an Ack through what each read accounts for.
func testReadPastExcepted(t *testing.T, e *env) {
	a, b := e.connect("/", "A"), e.connect("/", "B")
	e.commit(a, func(x *session.Batch) { x.Join("/", "lobby"); x.Join("/", "muted") })
	e.commit(b, func(x *session.Batch) {
		for i := range 10 {
			x.Broadcast("/", []string{"lobby"}, []string{"muted"}, fmt.Appendf(nil, "muted%02d", i))
		}
		x.Broadcast("/", []string{"lobby"}, nil, []byte("for-a"))
	})
	if got := e.takeAll(a, 4); !slices.Equal(got, []string{"for-a"}) {
		t.Fatalf("took %q, want [for-a]", got)
	}
	e.wantTake(a)
}

func testData(t *testing.T, e *env) {
	a := e.connect("/chat", "A")
	e.commit(a, func(x *session.Batch) { x.SetData("/chat", []byte(`{"user":"ann","n":1.5e300}`)) })
	if got := string(e.load(a).Sockets["/chat"].Data); got != `{"user":"ann","n":1.5e300}` {
		t.Fatalf("data %s", got)
	}
}

func testClose(t *testing.T, e *env) {
	a, b := e.connect("/chat", "A"), e.connect("/chat", "B")
	e.commit(a, func(x *session.Batch) { x.Join("/chat", "lobby") })
	e.commit(b, func(x *session.Batch) { x.Join("/chat", "lobby") })
	e.commit(a, func(x *session.Batch) {
		x.Broadcast("/chat", []string{"lobby"}, []string{"A"}, []byte("bye"))
		x.Close(session.ReasonTransportClose, true)
		x.Send([]byte("ignored after close"))
	})
	var ce *session.ClosedError
	for _, op := range []struct {
		name string
		err  error
	}{{"Load", loadErr(e, a)}, {"Read", readErr(e, a)}} {
		if !errors.As(op.err, &ce) || ce.Reason != session.ReasonTransportClose || !ce.OwesNoop || !errors.Is(op.err, session.ErrNotFound) {
			t.Fatalf("%s after a client close: %v, want closed (transport close) owing a noop", op.name, op.err)
		}
	}
	var x session.Batch
	x.Send([]byte("late"))
	if _, err := e.store.Commit(e.ctx, a, &x); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("Commit after close: %v", err)
	}
	e.wantTake(b, "bye")
	if d := e.due(e.clock.Now().Add(time.Hour)); slices.Contains(d.Expired, a) {
		t.Fatal("closed session still listed as expirable")
	}
	// A close by the server owes nothing.
	c := e.create()
	e.commit(c, func(x *session.Batch) { x.Close(session.ReasonPingTimeout, false) })
	if err := readErr(e, c); !errors.As(err, &ce) || ce.Reason != session.ReasonPingTimeout || ce.OwesNoop {
		t.Fatalf("Read after a server close: %v, want closed (ping timeout) owing nothing", err)
	}
}

func loadErr(e *env, sid string) error { _, err := e.store.Load(e.ctx, sid); return err }
func readErr(e *env, sid string) error { _, err := e.store.Read(e.ctx, sid, 0); return err }

// testHeartbeat: a pong restarts the clock (never backwards) and owes the ping again.
func testHeartbeat(t *testing.T, e *env) {
	a := e.create()
	t0 := e.clock.Now()
	e.clock.Advance(30 * time.Second)
	e.ack(a, session.Ack{PingFor: t0})
	if st := e.load(a); !st.PingSent {
		t.Fatalf("after the ping's ack: %+v", st.Session)
	}
	pong := e.clock.Now()
	e.commit(a, func(x *session.Batch) { x.Pong(pong) })
	st := e.load(a)
	if st.PingSent || !st.LastPong.Equal(pong) {
		t.Fatalf("after a pong at %v: %+v", pong, st.Session)
	}
	if q := e.read(a, 0); !q.Session.LastPong.Equal(pong) || q.Session.PingSent {
		t.Fatalf("Read's session after the pong: %+v", q.Session)
	}
	e.commit(a, func(x *session.Batch) { x.Pong(t0) })
	if st := e.load(a); !st.LastPong.Equal(pong) {
		t.Fatalf("a pong older than the last one moved LastPong back to %v", st.LastPong)
	}
}

// testPingAck: the ping is recorded only for the period it was written in.
func testPingAck(t *testing.T, e *env) {
	a := e.create()
	t0 := e.clock.Now()
	e.clock.Advance(testPingInterval)
	pong := e.clock.Now()
	e.commit(a, func(x *session.Batch) { x.Pong(pong) })
	// The ping written for t0's period is acknowledged after the pong that answered it.
	e.ack(a, session.Ack{PingFor: t0})
	if st := e.load(a); st.PingSent {
		t.Fatal("a ping for an earlier period marked the current one as pinged")
	}
	e.ack(a, session.Ack{PingFor: pong})
	if st := e.load(a); !st.PingSent {
		t.Fatal("the ping for the current period was not recorded")
	}
}

// testSchedule: the sweeper's hints are stored as given, replaced by a Schedule, and Due lists
// the sessions whose hint has come: a deadline strictly before now, a ping at or before now.
func testSchedule(t *testing.T, e *env) {
	t0 := e.clock.Now()
	p := e.create()
	w := e.createWith(func(s *session.Session) { s.Transport = session.WebSocket; s.Conn = newConn(e.t) })
	deadline := t0.Add(testPingInterval + testPingTimeout)
	if d := e.due(deadline); slices.Contains(d.Expired, p) {
		t.Fatalf("Expired at the deadline = %q, want without it (strictly after)", d.Expired)
	}
	if d := e.due(deadline.Add(time.Millisecond)); !slices.Contains(d.Expired, p) || !slices.Contains(d.Expired, w) {
		t.Fatalf("Expired past the deadline = %q, want both", d.Expired)
	}
	if d := e.due(t0.Add(testPingInterval - time.Millisecond)); slices.Contains(d.Ping, w) {
		t.Fatalf("Ping before the interval = %q", d.Ping)
	}
	if d := e.due(t0.Add(testPingInterval)); !slices.Contains(d.Ping, w) || slices.Contains(d.Ping, p) {
		t.Fatalf("Ping at the interval = %q, want the WebSocket session only", d.Ping)
	}
	// The ping's ack takes the session off the ping list.
	e.ack(w, session.Ack{PingFor: t0})
	if d := e.due(t0.Add(time.Hour)); slices.Contains(d.Ping, w) {
		t.Fatalf("Ping after the ping's ack = %q", d.Ping)
	}
	later := t0.Add(time.Hour)
	e.commit(p, func(b *session.Batch) { b.Schedule(session.Schedule{Deadline: later, PingAt: later}) })
	if d := e.due(later); slices.Contains(d.Expired, p) || !slices.Contains(d.Ping, p) {
		t.Fatalf("Due at the new hints: expired %q ping %q", d.Expired, d.Ping)
	}
	e.commit(p, func(b *session.Batch) { b.Schedule(session.Schedule{Deadline: later}) })
	if d := e.due(later.Add(time.Millisecond)); !slices.Contains(d.Expired, p) || slices.Contains(d.Ping, p) {
		t.Fatalf("Due without a ping hint: expired %q ping %q", d.Expired, d.Ping)
	}
	// Limit bounds each list, earliest first.
	d, err := e.store.Due(e.ctx, t0.Add(time.Hour), 1)
	if err != nil || len(d.Expired) != 1 || d.Expired[0] != w {
		t.Fatalf("Due with limit 1: %+v, %v; want only the earliest (%s)", d, err, w[:6])
	}
}

// testCloseIf: a close conditional on the heartbeat clock applies only if the clock is
// unchanged; otherwise nothing of the batch applies.
func testCloseIf(t *testing.T, e *env) {
	a := e.create()
	clock := e.load(a).Clock()
	e.clock.Advance(time.Second)
	e.commit(a, func(b *session.Batch) { b.Pong(e.clock.Now()) })
	var x session.Batch
	x.Send([]byte("not applied"))
	x.CloseIf(session.ReasonPingTimeout, clock)
	if _, err := e.store.Commit(e.ctx, a, &x); !errors.Is(err, session.ErrAlive) {
		t.Fatalf("CloseIf after a pong: %v, want ErrAlive", err)
	}
	e.wantTake(a)
	x = session.Batch{}
	x.CloseIf(session.ReasonPingTimeout, e.load(a).Clock())
	if _, err := e.store.Commit(e.ctx, a, &x); err != nil {
		t.Fatalf("CloseIf on an unchanged clock: %v", err)
	}
	if _, err := e.store.Commit(e.ctx, a, &x); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("second close: %v, want ErrNotFound", err)
	}
}

// testCloseUnknown: closing a session that does not exist fails with ErrNotFound.
func testCloseUnknown(t *testing.T, e *env) {
	var x session.Batch
	x.Close(session.ReasonPingTimeout, false)
	if _, err := e.store.Commit(e.ctx, newSID(t), &x); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("close of an unknown session: %v", err)
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
	got := e.takeAll(recv, 1024)
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

// LargePacket is the size of the packets testLargePackets queues: Engine.IO's default
// maxPayload, which every store takes.
const LargePacket = 1_000_000

// testLargePackets: packets of Engine.IO's default maxPayload are queued whole, to the session
// and through a room, between small ones, and are read, taken one at a time and in part, exactly.
func testLargePackets(t *testing.T, e *env) {
	a, b := e.create(), e.create()
	// Socket data of 350 KB makes the session's state large too (a store may read state and
	// queue together, in pages).
	data := `"` + strings.Repeat("d", 350_000) + `"`
	e.commit(a, func(x *session.Batch) { x.Connect("/", "A"); x.Join("/", "r"); x.SetData("/", json.RawMessage(data)) })
	e.commit(b, func(x *session.Batch) { x.Connect("/", "B"); x.Join("/", "r") })
	big := func(c byte) string {
		p := make([]byte, LargePacket)
		for i := range p {
			p[i] = c + byte(i%7)
		}
		return string(p)
	}
	big1, big2, big3 := big('a'), big('k'), big('u')
	e.commit(a, func(x *session.Batch) {
		x.Send([]byte("before"))
		x.Send([]byte(big1))
		x.Broadcast("/", []string{"r"}, []string{"A"}, []byte(big2))
		x.Send([]byte(big3))
		x.Send([]byte("after"))
	})
	got := e.read(a, 0)
	if want := []string{"before", big1, big3, "after"}; !slices.Equal(payloads(got.Entries), want) && !(got.More && slices.Equal(payloads(got.Entries), want[:len(got.Entries)]) && len(got.Entries) >= 2) {
		t.Fatalf("the sender read %d entries of %v bytes (more: %v), want 4 of 6, 1000000, 1000000, 5", len(got.Entries), sizes(got.Entries), got.More)
	}
	// Taken two entries, then the rest (a read may end early, saying so with More).
	e.ack(a, session.Ack{Entries: got.Entries[:2], Through: got.Entries[1].ID})
	if left := e.read(a, 0); len(left.Entries) == 0 || string(left.Entries[0].Payload) != big3 {
		t.Fatalf("after taking two entries the sender read %v bytes, want the third first", sizes(left.Entries))
	}
	if rest := e.takeAll(a, 10); !slices.Equal(rest, []string{big3, "after"}) {
		t.Fatalf("the sender took %d more entries, want the last two", len(rest))
	}
	if got := e.takeAll(b, 10); !slices.Equal(got, []string{big2}) {
		t.Fatalf("the member took %d entries, want the 1000000-byte broadcast", len(got))
	}
	e.wantTake(b)
}

func sizes(entries []session.Entry) []int {
	out := make([]int, len(entries))
	for i, en := range entries {
		out[i] = len(en.Payload)
	}
	return out
}

// testManyBroadcasts: one commit that broadcasts 300 times (a polling POST with a burst) reaches
// a member whole and in order.
func testManyBroadcasts(t *testing.T, e *env) {
	a, b := e.create(), e.create()
	e.commit(a, func(x *session.Batch) { x.Connect("/", "A"); x.Join("/", "r") })
	e.commit(b, func(x *session.Batch) { x.Connect("/", "B"); x.Join("/", "r") })
	var want []string
	e.commit(a, func(x *session.Batch) {
		for i := range 300 {
			p := fmt.Sprintf("message %03d", i)
			x.Broadcast("/", []string{"r"}, []string{"A"}, []byte(p))
			want = append(want, p)
		}
	})
	if got := e.takeAll(b, 1000); !slices.Equal(got, want) {
		t.Fatalf("the member took %d of 300 broadcasts (in order: %v)", len(got), slices.Equal(got, want[:min(len(got), len(want))]))
	}
}
