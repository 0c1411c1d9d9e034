package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/serverless-socketio/server/session"
)

// The WebSocket parts of the contract: the connection index (LoadConn), the sessions a commit
// asks to push to (Committed.Flush), the upgrade of a polling session (Probe, Upgrade), the
// namespace-connect deadline, the pending partial packet and the close of a WebSocket session.

// runWebSocket runs the WebSocket subtests, each on a fresh store.
func runWebSocket(t *testing.T, setup func(t *testing.T) *env) {
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, e *env)
	}{
		{"WebSocketLoadConn", testWSLoadConn},
		{"WebSocketFlush", testWSFlush},
		{"ProbeUpgrade", testProbeUpgrade},
		{"ProbeFailed", testProbeFailed},
		{"ConnectDeadline", testConnectDeadline},
		{"Pending", testPending},
		{"WebSocketClose", testWSClose},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, setup(t)) })
	}
}

// newConn returns a fresh WebSocket connection id.
func newConn(t *testing.T) string {
	t.Helper()
	return "conn-" + newSID(t)[:20]
}

// createWS creates a session on WebSocket connection conn, as a WebSocket handshake would.
func (e *env) createWS(conn string) string {
	e.t.Helper()
	return e.createWith(func(s *session.Session) { s.Transport = session.WebSocket; s.Conn = conn })
}

// connectWS creates a WebSocket session with a socket id in nsp.
func (e *env) connectWS(nsp, id string) string {
	e.t.Helper()
	sid := e.createWS(newConn(e.t))
	e.commit(sid, func(b *session.Batch) { b.Connect(nsp, id) })
	return sid
}

// commitFlush commits like commit and returns the commit's Flush list, sorted.
func (e *env) commitFlush(sid string, build func(b *session.Batch)) []string {
	e.t.Helper()
	var b session.Batch
	build(&b)
	c, err := e.store.Commit(e.ctx, sid, &b)
	if err != nil {
		e.t.Fatalf("Commit: %v", err)
	}
	e.clock.Advance(time.Millisecond)
	out := slices.Clone(c.Flush)
	slices.Sort(out)
	if out == nil {
		out = []string{}
	}
	return out
}

func sorted(list ...string) []string {
	out := append([]string{}, list...)
	slices.Sort(out)
	return out
}

// testWSLoadConn: a session created on a WebSocket is found by its connection until it closes.
func testWSLoadConn(t *testing.T, e *env) {
	conn := newConn(t)
	sid := e.createWS(conn)
	st, err := e.store.LoadConn(e.ctx, conn)
	if err != nil {
		t.Fatalf("LoadConn: %v", err)
	}
	if st.ID != sid || st.Transport != session.WebSocket || st.Conn != conn || st.Probe != "" {
		t.Fatalf("LoadConn = %+v, want session %s on %s", st.Session, sid[:6], conn)
	}
	if st.PingInterval != testPingInterval || st.PingTimeout != testPingTimeout || !st.LastPong.Equal(e.clock.Now()) {
		t.Fatalf("LoadConn heartbeat %+v", st.Session)
	}
	if st := e.load(sid); st.Transport != session.WebSocket || st.Conn != conn {
		t.Fatalf("Load = %+v", st.Session)
	}
	e.commit(sid, func(b *session.Batch) { b.Connect("/chat", "W") })
	if st, err := e.store.LoadConn(e.ctx, conn); err != nil || st.Sockets["/chat"] == nil || st.Sockets["/chat"].ID != "W" {
		t.Fatalf("LoadConn after connect: %+v, %v", st, err)
	}
	if _, err := e.store.LoadConn(e.ctx, newConn(t)); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("LoadConn of an unknown connection: %v, want ErrNotFound", err)
	}
	e.commit(sid, func(b *session.Batch) { b.Send([]byte("4a")) })
	if q := e.read(sid, 0); q.Session.Transport != session.WebSocket || q.Session.Conn != conn {
		t.Fatalf("Read's session %+v", q.Session)
	}
	e.wantTake(sid, "4a")
	e.commit(sid, func(b *session.Batch) { b.Close(session.ReasonTransportClose, false) })
	if _, err := e.store.LoadConn(e.ctx, conn); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("LoadConn after close: %v, want ErrNotFound", err)
	}
}

// testWSFlush: a commit lists the WebSocket sessions it queued packets for, never polling ones.
func testWSFlush(t *testing.T, e *env) {
	w1, w2, w3 := e.connectWS("/chat", "W1"), e.connectWS("/chat", "W2"), e.connectWS("/chat", "W3")
	p := e.connect("/chat", "P")
	s := e.connect("/chat", "S")
	for _, sid := range []string{w1, w2, p} {
		e.commit(sid, func(b *session.Batch) { b.Join("/chat", "lobby") })
	}
	if got := e.commitFlush(s, func(b *session.Batch) { b.Broadcast("/chat", []string{"lobby"}, nil, []byte("m1")) }); !slices.Equal(got, sorted(w1, w2)) {
		t.Fatalf("Flush of a broadcast to lobby = %q, want the websocket members %q", got, sorted(w1, w2))
	}
	if got := e.commitFlush(s, func(b *session.Batch) { b.Broadcast("/chat", nil, nil, []byte("m2")) }); !slices.Equal(got, sorted(w1, w2, w3)) {
		t.Fatalf("Flush of a namespace-wide broadcast = %q, want %q", got, sorted(w1, w2, w3))
	}
	if got := e.commitFlush(s, func(b *session.Batch) { b.Broadcast("/chat", []string{"W3"}, nil, []byte("m3")) }); !slices.Equal(got, []string{w3}) {
		t.Fatalf("Flush of a broadcast to a socket's own room = %q, want %q", got, []string{w3})
	}
	if got := e.commitFlush(w1, func(b *session.Batch) { b.Send([]byte("self")) }); !slices.Equal(got, []string{w1}) {
		t.Fatalf("Flush of a websocket session's Send to itself = %q, want itself", got)
	}
	if got := e.commitFlush(p, func(b *session.Batch) { b.Send([]byte("self")) }); len(got) != 0 {
		t.Fatalf("Flush of a polling session's Send to itself = %q, want none", got)
	}
	if got := e.commitFlush(s, func(b *session.Batch) { b.Broadcast("/other", nil, nil, []byte("x")) }); len(got) != 0 {
		t.Fatalf("Flush of a broadcast to another namespace = %q, want none", got)
	}
	// A member that left is no longer pushed to.
	e.commit(w2, func(b *session.Batch) { b.Leave("/chat", "lobby") })
	if got := e.commitFlush(s, func(b *session.Batch) { b.Broadcast("/chat", []string{"lobby"}, nil, []byte("m4")) }); !slices.Equal(got, []string{w1}) {
		t.Fatalf("Flush after w2 left lobby = %q, want %q", got, []string{w1})
	}
	e.wantTake(w1, "m1", "m2", "self", "m4")
	e.wantTake(w2, "m1", "m2")
	e.wantTake(w3, "m2", "m3")
	e.wantTake(p, "m1", "m2", "self", "m4")
}

// testProbeUpgrade: a WebSocket probes an upgrade of a polling session, then completes it; what
// was queued meanwhile stays queued for the WebSocket.
func testProbeUpgrade(t *testing.T, e *env) {
	p := e.connect("/chat", "P")
	q := e.connect("/chat", "Q")
	e.commit(p, func(b *session.Batch) { b.Join("/chat", "lobby") })
	e.commit(p, func(b *session.Batch) { b.Send([]byte("4a")) })
	conn := newConn(t)
	if got := e.commitFlush(p, func(b *session.Batch) { b.Probe(conn) }); len(got) != 0 {
		t.Fatalf("Flush of a probe = %q: the session is still polling", got)
	}
	st, err := e.store.LoadConn(e.ctx, conn)
	if err != nil {
		t.Fatalf("LoadConn of the probing connection: %v", err)
	}
	if st.ID != p || st.Transport != session.Polling || st.Probe != conn || st.Conn != "" {
		t.Fatalf("LoadConn of the probing connection = %+v", st.Session)
	}
	if rq := e.read(p, 0); rq.Session.Probe != conn || rq.Session.Transport != session.Polling {
		t.Fatalf("Read during the probe = %+v", rq.Session)
	}
	e.commit(q, func(b *session.Batch) { b.Broadcast("/chat", []string{"lobby"}, nil, []byte("during")) })
	e.commit(p, func(b *session.Batch) { b.Upgrade() })
	st = e.load(p)
	if st.Transport != session.WebSocket || st.Conn != conn || st.Probe != "" {
		t.Fatalf("Load after the upgrade = %+v", st.Session)
	}
	if st, err := e.store.LoadConn(e.ctx, conn); err != nil || st.ID != p || st.Transport != session.WebSocket {
		t.Fatalf("LoadConn after the upgrade: %+v, %v", st, err)
	}
	e.wantTake(p, "4a", "during")
	// It is now a websocket member of the rooms it was in.
	if got := e.commitFlush(q, func(b *session.Batch) { b.Broadcast("/chat", []string{"lobby"}, nil, []byte("after")) }); !slices.Equal(got, []string{p}) {
		t.Fatalf("Flush of a broadcast to lobby after the upgrade = %q, want %q", got, []string{p})
	}
	if got := e.commitFlush(q, func(b *session.Batch) { b.Broadcast("/chat", nil, nil, []byte("all")) }); !slices.Equal(got, []string{p}) {
		t.Fatalf("Flush of a namespace-wide broadcast after the upgrade = %q, want %q", got, []string{p})
	}
	if got := e.commitFlush(p, func(b *session.Batch) { b.Send([]byte("self")) }); !slices.Equal(got, []string{p}) {
		t.Fatalf("Flush of a Send to itself after the upgrade = %q, want itself", got)
	}
	e.wantTake(p, "after", "all", "self")
}

// testProbeFailed: Probe("") forgets a probe whose connection closed before the upgrade.
func testProbeFailed(t *testing.T, e *env) {
	p := e.connect("/", "P")
	e.commit(p, func(b *session.Batch) { b.Send([]byte("4a")) })
	conn := newConn(t)
	e.commit(p, func(b *session.Batch) { b.Probe(conn) })
	if _, err := e.store.LoadConn(e.ctx, conn); err != nil {
		t.Fatalf("LoadConn during the probe: %v", err)
	}
	e.commit(p, func(b *session.Batch) { b.Probe("") })
	if _, err := e.store.LoadConn(e.ctx, conn); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("LoadConn after the probe failed: %v, want ErrNotFound", err)
	}
	if st := e.load(p); st.Probe != "" || st.Transport != session.Polling || st.Conn != "" {
		t.Fatalf("Load after the probe failed = %+v", st.Session)
	}
	e.wantTake(p, "4a")
}

// testConnectDeadline: a session keeps its ConnectDeadline until a namespace connects; the
// sweeper's hint is the earlier of it and the heartbeat deadline.
func testConnectDeadline(t *testing.T, e *env) {
	t0 := e.clock.Now()
	cd := t0.Add(5 * time.Second)
	withCD := func(s *session.Session) { s.ConnectDeadline = cd }
	lazy := e.createWith(withCD)
	quick := e.createWith(withCD)
	if st := e.load(lazy); !st.ConnectDeadline.Equal(cd) || !st.Deadline().Equal(cd) {
		t.Fatalf("Load: ConnectDeadline %v (deadline %v), want %v", st.ConnectDeadline, st.Deadline(), cd)
	}
	e.commit(quick, func(b *session.Batch) { b.Connect("/", "Q") })
	if st := e.load(quick); !st.ConnectDeadline.IsZero() {
		t.Fatalf("Load after a connect: ConnectDeadline %v, want zero", st.ConnectDeadline)
	}
	if d := e.due(cd.Add(time.Millisecond)); !slices.Contains(d.Expired, lazy) {
		t.Fatalf("Expired past the connect deadline = %q, want %s", d.Expired, lazy[:6])
	}
	// The connect changed the clock: a close decided on the old one does not apply.
	var b session.Batch
	b.CloseIf(session.ReasonPingTimeout, session.Clock{LastPong: t0, ConnectDeadline: cd})
	if _, err := e.store.Commit(e.ctx, quick, &b); !errors.Is(err, session.ErrAlive) {
		t.Fatalf("CloseIf on the connected session's old clock: %v, want ErrAlive", err)
	}
	if _, err := e.store.Commit(e.ctx, lazy, &b); err != nil {
		t.Fatalf("CloseIf on the unconnected session: %v", err)
	}
}

// testPending: the partial packet kept between requests.
func testPending(t *testing.T, e *env) {
	w := e.createWS(newConn(t))
	if st := e.load(w); st.Pending != nil {
		t.Fatalf("Pending of a new session = %q, want nil", st.Pending)
	}
	data := []byte(`451-["up",{"_placeholder":true,"num":0}]`)
	e.commit(w, func(b *session.Batch) { b.Connect("/", "W"); b.SetPending(data) })
	if st := e.load(w); string(st.Pending) != string(data) {
		t.Fatalf("Pending = %q, want %q", st.Pending, data)
	}
	e.commit(w, func(b *session.Batch) { b.Send([]byte("4x")) })
	if st := e.load(w); string(st.Pending) != string(data) {
		t.Fatalf("Pending after an unrelated commit = %q, want %q", st.Pending, data)
	}
	if st, err := e.store.LoadConn(e.ctx, e.load(w).Conn); err != nil || string(st.Pending) != string(data) {
		t.Fatalf("LoadConn: Pending %v, %v; want %q", st, err, data)
	}
	e.commit(w, func(b *session.Batch) { b.SetPending(nil) })
	if st := e.load(w); st.Pending != nil {
		t.Fatalf("Pending after SetPending(nil) = %q, want nil", st.Pending)
	}
}

// testWSClose: closing a WebSocket session forgets its connection, its pushes and its hints.
func testWSClose(t *testing.T, e *env) {
	conn := newConn(t)
	w := e.createWS(conn)
	e.commit(w, func(b *session.Batch) { b.Connect("/chat", "W"); b.Join("/chat", "lobby") })
	other := e.connectWS("/chat", "O")
	e.commit(other, func(b *session.Batch) { b.Join("/chat", "lobby") })
	e.commit(w, func(b *session.Batch) { b.Send([]byte("unsent")); b.Close(session.ReasonTransportClose, false) })
	var ce *session.ClosedError
	if err := readErr(e, w); !errors.As(err, &ce) || ce.Reason != session.ReasonTransportClose || ce.OwesNoop {
		t.Fatalf("Read after close: %v, want closed (transport close) owing nothing", err)
	}
	if _, err := e.store.LoadConn(e.ctx, conn); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("LoadConn after close: %v, want ErrNotFound", err)
	}
	if got := e.commitFlush(other, func(b *session.Batch) { b.Broadcast("/chat", []string{"lobby"}, nil, []byte("m")) }); !slices.Equal(got, []string{other}) {
		t.Fatalf("Flush of a broadcast to lobby after w closed = %q, want only %q", got, []string{other})
	}
	if d := e.due(e.clock.Now().Add(time.Hour)); slices.Contains(d.Ping, w) || slices.Contains(d.Expired, w) {
		t.Fatalf("closed session still due: ping %q expired %q", d.Ping, d.Expired)
	}
}
