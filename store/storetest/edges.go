package storetest

import (
	"fmt"
	"slices"
	"testing"

	"github.com/serverless-socketio/server/session"
)

// runEdges runs subtests for corners a store once got wrong (each found with a failing test
// first).
func runEdges(t *testing.T, setup func(t *testing.T) *env) {
	t.Run("ConnectCloseOneCommit", func(t *testing.T) { testConnectCloseOneCommit(t, setup(t)) })
	t.Run("Reconnect", func(t *testing.T) { testReconnect(t, setup(t)) })
	t.Run("CommitStaleState", func(t *testing.T) { testCommitStaleState(t, setup(t)) })
	t.Run("LeftAndRejoinedUnread", func(t *testing.T) { testLeftAndRejoinedUnread(t, setup(t)) })
	t.Run("LeftRoomAcrossReadMax", func(t *testing.T) { testLeftRoomAcrossReadMax(t, setup(t)) })
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
	e.wantTake(a, "first", "second")
}

// testConnectCloseOneCommit: a WebSocket session that connects a namespace and closes in one
// commit is in none of its rooms afterwards.
func testConnectCloseOneCommit(t *testing.T, e *env) {
	w := e.createWS(newConn(t))
	p := e.connect("/", "P")
	e.commit(w, func(b *session.Batch) { b.Connect("/", "W"); b.Close(session.ReasonServerNamespaceDisconnect, false) })
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
	e.wantTake(w)
}

// testLeftAndRejoinedUnread: a room left and joined again before the session read is read
// twice, up to the leave and from the rejoin, and what was sent in between is not delivered.
func testLeftAndRejoinedUnread(t *testing.T, e *env) {
	a, b := e.connect("/", "A"), e.connect("/", "B")
	e.commit(a, func(x *session.Batch) { x.Join("/", "r") })
	e.commit(b, func(x *session.Batch) { x.Broadcast("/", []string{"r"}, nil, []byte("m1")) })
	e.commit(a, func(x *session.Batch) { x.Leave("/", "r") })
	e.commit(b, func(x *session.Batch) { x.Broadcast("/", []string{"r"}, nil, []byte("while-out")) })
	e.commit(a, func(x *session.Batch) { x.Join("/", "r") })
	e.commit(b, func(x *session.Batch) { x.Broadcast("/", []string{"r"}, nil, []byte("m2")) })
	e.wantTake(a, "m1", "m2")
	e.wantTake(a)
}

// testLeftRoomAcrossReadMax: a left room's entries up to the leave arrive complete and in
// order over reads cut by max, and none after the leave.
func testLeftRoomAcrossReadMax(t *testing.T, e *env) {
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
	if got := e.takeAll(a, 4); !slices.Equal(got, want) {
		t.Fatalf("took %q, want %q", got, want)
	}
}
