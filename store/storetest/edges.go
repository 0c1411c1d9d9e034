package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/serverless-socketio/server/session"
)

// runEdges runs subtests for corners the Redis store once got wrong (found by the WebSocket
// subtests' author, each with a failing test first).
func runEdges(t *testing.T, setup func(t *testing.T) *env) {
	t.Run("PongBeforeConnect", func(t *testing.T) { testPongBeforeConnect(t, setup(t)) })
	t.Run("UpgradeAfterPing", func(t *testing.T) { testUpgradeAfterPing(t, setup(t)) })
	t.Run("ConnectCloseOneCommit", func(t *testing.T) { testConnectCloseOneCommit(t, setup(t)) })
	t.Run("Reconnect", func(t *testing.T) { testReconnect(t, setup(t)) })
	t.Run("CommitStaleState", func(t *testing.T) { testCommitStaleState(t, setup(t)) })
	t.Run("LeftAndRejoinedUnread", func(t *testing.T) { testLeftAndRejoinedUnread(t, setup(t)) })
	t.Run("LeftRoomAcrossFetchMax", func(t *testing.T) { testLeftRoomAcrossFetchMax(t, setup(t)) })
}

// testCommitStaleState: a commit against a state loaded before another commit changed the
// session (session.StateCommitter) loses nothing of either; stores without it use Commit.
func testCommitStaleState(t *testing.T, e *env) {
	a := e.connect("/", "A")
	stale := e.load(a)
	e.commit(a, func(b *session.Batch) { b.Join("/", "r1"); b.Send([]byte("first")) })
	var b session.Batch
	b.Join("/", "r2")
	b.Send([]byte("second"))
	var err error
	if sc, ok := e.store.(session.StateCommitter); ok {
		_, err = sc.CommitState(e.ctx, stale, &b)
	} else {
		_, err = e.store.Commit(e.ctx, a, &b)
	}
	if err != nil {
		t.Fatalf("commit on a stale state: %v", err)
	}
	if got := e.load(a).Sockets["/"].Rooms; !slices.Equal(got, []string{"A", "r1", "r2"}) {
		t.Fatalf("rooms %q, want [A r1 r2]: a commit on a stale state lost the other's join", got)
	}
	e.wantFetch(a, "first", "second")
}

// testPongBeforeConnect: a pong before the first namespace connect moves the heartbeat deadline;
// the session is alive until the earlier of that and its connect deadline.
func testPongBeforeConnect(t *testing.T, e *env) {
	t0 := e.clock.Now()
	p := e.createWith(func(s *session.Session) { s.ConnectDeadline = t0.Add(60 * time.Second) })
	e.clock.Advance(30 * time.Second)
	e.commit(p, func(b *session.Batch) { b.Pong() })
	// At t0+46s the first heartbeat deadline (t0+45s) has passed; the one the pong set (t0+75s)
	// and the connect deadline (t0+60s) have not.
	now := t0.Add(testPingInterval + testPingTimeout + time.Second)
	if d := e.due(now); slices.Contains(d.Expired, p) {
		t.Fatalf("Expired at t0+%s = %q: the pong at t0+30s keeps it alive until the connect deadline", now.Sub(t0), d.Expired)
	}
	if d := e.due(t0.Add(60*time.Second + time.Millisecond)); !slices.Contains(d.Expired, p) {
		t.Fatalf("Expired past the connect deadline = %q, want %s", d.Expired, p[:6])
	}
}

// testUpgradeAfterPing: a polling session whose ping went out over polling is not listed for a
// WebSocket ping after the upgrade: that ping was sent already.
func testUpgradeAfterPing(t *testing.T, e *env) {
	p := e.create()
	e.clock.Advance(testPingInterval)
	if f := e.fetchWith(p, session.FetchRequest{Ping: true}); !f.Pinged {
		t.Fatalf("the polling ping is not due after %s", testPingInterval)
	}
	conn := newConn(t)
	e.commit(p, func(b *session.Batch) { b.Probe(conn) })
	e.commit(p, func(b *session.Batch) { b.Upgrade() })
	if d := e.due(e.clock.Now()); slices.Contains(d.Ping, p) {
		t.Fatalf("Ping = %q after the upgrade: its ping was sent already", d.Ping)
	}
	e.commit(p, func(b *session.Batch) { b.Pong() })
	if d := e.due(e.clock.Now().Add(testPingInterval)); !slices.Contains(d.Ping, p) {
		t.Fatalf("Ping an interval after the pong = %q, want %s", d.Ping, p[:6])
	}
}

// testConnectCloseOneCommit: a WebSocket session that connects a namespace and closes in one
// commit is in none of its rooms afterwards.
func testConnectCloseOneCommit(t *testing.T, e *env) {
	w := e.createWS(newConn(t))
	p := e.connect("/", "P")
	e.commit(w, func(b *session.Batch) { b.Connect("/", "W"); b.Close("server shutting down", false) })
	if got := e.commitFlush(p, func(b *session.Batch) { b.Broadcast("/", nil, nil, []byte("m")) }); slices.Contains(got, w) {
		t.Fatalf("Flush = %q lists the closed session", got)
	}
}

// testReconnect: a second connect of a namespace replaces the socket, rooms included.
func testReconnect(t *testing.T, e *env) {
	w := e.connectWS("/", "W")
	p := e.connect("/", "P")
	e.commit(w, func(b *session.Batch) { b.Join("/", "lobby") })
	e.commit(w, func(b *session.Batch) { b.Connect("/", "W2") })
	if got := e.commitFlush(p, func(b *session.Batch) { b.Broadcast("/", []string{"lobby"}, nil, []byte("m")) }); slices.Contains(got, w) {
		t.Fatalf("Flush = %q lists the session no longer in lobby", got)
	}
	if got := e.load(w).Sockets["/"].Rooms; !slices.Equal(got, []string{"W2"}) {
		t.Fatalf("rooms after the second connect %q, want [W2]", got)
	}
	e.wantFetchWS(w)
}

// testLeftAndRejoinedUnread: a room left and joined again before the session fetched is read
// twice, up to the leave and from the rejoin, and what was sent in between is not delivered.
func testLeftAndRejoinedUnread(t *testing.T, e *env) {
	a, b := e.connect("/", "A"), e.connect("/", "B")
	e.commit(a, func(x *session.Batch) { x.Join("/", "r") })
	e.commit(b, func(x *session.Batch) { x.Broadcast("/", []string{"r"}, nil, []byte("m1")) })
	e.commit(a, func(x *session.Batch) { x.Leave("/", "r") })
	e.commit(b, func(x *session.Batch) { x.Broadcast("/", []string{"r"}, nil, []byte("while-out")) })
	e.commit(a, func(x *session.Batch) { x.Join("/", "r") })
	e.commit(b, func(x *session.Batch) { x.Broadcast("/", []string{"r"}, nil, []byte("m2")) })
	e.wantFetch(a, "m1", "m2")
	e.wantFetch(a)
}

// testLeftRoomAcrossFetchMax: a left room's entries up to the leave arrive complete and in
// order over fetches cut by Max, and none after the leave.
func testLeftRoomAcrossFetchMax(t *testing.T, e *env) {
	a, b := e.connect("/", "A"), e.connect("/", "B")
	e.commit(a, func(x *session.Batch) { x.Join("/", "r") })
	var want []string
	for i := range 10 {
		p := fmt.Sprintf("in%02d", i)
		want = append(want, p)
		e.commit(b, func(x *session.Batch) { x.Broadcast("/", []string{"r"}, nil, []byte(p)) })
	}
	e.commit(a, func(x *session.Batch) { x.Leave("/", "r") })
	for i := range 10 {
		e.commit(b, func(x *session.Batch) { x.Broadcast("/", []string{"r"}, nil, fmt.Appendf(nil, "out%02d", i)) })
	}
	var got []string
	for range 10 {
		f, err := e.store.Fetch(e.ctx, a, session.FetchRequest{Max: 4})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, payloads(f)...)
		if !f.More && len(f.Payloads) == 0 {
			break
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("fetched %q, want %q", got, want)
	}
}
