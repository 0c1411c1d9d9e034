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
// flush lease, the heartbeat ping schedule (Due.Ping), the namespace-connect deadline, the
// pending partial packet and the close of a WebSocket session.

const (
	testPingInterval = 25 * time.Second
	testPingTimeout  = 20 * time.Second
)

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
		{"FlushLease", testFlushLease},
		{"Pin", testPin},
		{"FlushLeaseExpires", testFlushLeaseExpires},
		{"PingDue", testPingDue},
		{"ConnectDeadline", testConnectDeadline},
		{"Pending", testPending},
		{"WebSocketClose", testWSClose},
		{"WebSocketFetchOwesNoNoop", testWSFetchOwesNoNoop},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, setup(t)) })
	}
}

// newConn returns a fresh WebSocket connection id.
func newConn(t *testing.T) string {
	t.Helper()
	return "conn-" + newSID(t)[:20]
}

// createWith creates a polling session with the suite's heartbeat at the clock's time, after
// edit has adjusted it.
func (e *env) createWith(edit func(s *session.Session)) string {
	e.t.Helper()
	s := &session.Session{ID: newSID(e.t), Transport: "polling", PingInterval: testPingInterval, PingTimeout: testPingTimeout, LastPong: e.clock.Now()}
	edit(s)
	if err := e.store.Create(e.ctx, s); err != nil {
		e.t.Fatalf("Create: %v", err)
	}
	return s.ID
}

// createWS creates a session on WebSocket connection conn, as a WebSocket handshake would.
func (e *env) createWS(conn string) string {
	e.t.Helper()
	return e.createWith(func(s *session.Session) { s.Transport = "websocket"; s.Conn = conn })
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

// fetchWith fetches with req and fails the test on an error.
func (e *env) fetchWith(sid string, req session.FetchRequest) *session.Fetched {
	e.t.Helper()
	f, err := e.store.Fetch(e.ctx, sid, req)
	if err != nil {
		e.t.Fatalf("Fetch(%s, %+v): %v", sid[:6], req, err)
	}
	return f
}

func payloads(f *session.Fetched) []string {
	out := make([]string, len(f.Payloads))
	for i, p := range f.Payloads {
		out[i] = string(p)
	}
	return out
}

// wantFetchWS is wantFetch over WebSocket.
func (e *env) wantFetchWS(sid string, want ...string) {
	e.t.Helper()
	f := e.fetchWith(sid, session.FetchRequest{Transport: "websocket"})
	if got := payloads(f); !slices.Equal(got, append([]string{}, want...)) {
		e.t.Fatalf("websocket Fetch(%s) = %q, want %q", sid[:6], got, want)
	}
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

func (e *env) load(sid string) *session.State {
	e.t.Helper()
	st, err := e.store.Load(e.ctx, sid)
	if err != nil {
		e.t.Fatalf("Load(%s): %v", sid[:6], err)
	}
	return st
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
	if st.ID != sid || st.Transport != "websocket" || st.Conn != conn || st.Probe != "" {
		t.Fatalf("LoadConn = %+v, want session %s on %s", st.Session, sid[:6], conn)
	}
	if st.PingInterval != testPingInterval || st.PingTimeout != testPingTimeout || !st.LastPong.Equal(e.clock.Now()) {
		t.Fatalf("LoadConn heartbeat %+v", st.Session)
	}
	if st := e.load(sid); st.Transport != "websocket" || st.Conn != conn {
		t.Fatalf("Load = %+v", st.Session)
	}
	e.commit(sid, func(b *session.Batch) { b.Connect("/chat", "W") })
	if st, err := e.store.LoadConn(e.ctx, conn); err != nil || st.Sockets["/chat"] == nil || st.Sockets["/chat"].ID != "W" {
		t.Fatalf("LoadConn after connect: %+v, %v", st, err)
	}
	if _, err := e.store.LoadConn(e.ctx, newConn(t)); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("LoadConn of an unknown connection: %v, want ErrNotFound", err)
	}
	// Its packets go out over WebSocket only.
	e.commit(sid, func(b *session.Batch) { b.Send([]byte("4a")) })
	if _, err := e.store.Fetch(e.ctx, sid, session.FetchRequest{}); !errors.Is(err, session.ErrTransport) {
		t.Fatalf("polling Fetch of a websocket session: %v, want ErrTransport", err)
	}
	e.wantFetchWS(sid, "4a")
	e.commit(sid, func(b *session.Batch) { b.Close("transport close", false) })
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
	e.wantFetchWS(w1, "m1", "m2", "self", "m4")
	e.wantFetchWS(w2, "m1", "m2")
	e.wantFetchWS(w3, "m2", "m3")
	e.wantFetch(p, "m1", "m2", "self", "m4")
}

// testProbeUpgrade: a WebSocket probes an upgrade of a polling session, then completes it.
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
	if st.ID != p || st.Transport != "polling" || st.Probe != conn || st.Conn != "" {
		t.Fatalf("LoadConn of the probing connection = %+v", st.Session)
	}
	if st := e.load(p); st.Probe != conn || st.Transport != "polling" {
		t.Fatalf("Load during the probe = %+v", st.Session)
	}
	// A polling GET during the probe is told so and takes nothing: it goes out over WebSocket.
	f := e.fetchWith(p, session.FetchRequest{})
	if !f.Upgrading || len(f.Payloads) != 0 {
		t.Fatalf("polling Fetch during the probe: upgrading %v, payloads %q", f.Upgrading, payloads(f))
	}
	e.commit(q, func(b *session.Batch) { b.Broadcast("/chat", []string{"lobby"}, nil, []byte("during")) })
	if f := e.fetchWith(p, session.FetchRequest{}); !f.Upgrading || len(f.Payloads) != 0 {
		t.Fatalf("second polling Fetch during the probe: upgrading %v, payloads %q", f.Upgrading, payloads(f))
	}
	e.commit(p, func(b *session.Batch) { b.Upgrade() })
	st = e.load(p)
	if st.Transport != "websocket" || st.Conn != conn || st.Probe != "" {
		t.Fatalf("Load after the upgrade = %+v", st.Session)
	}
	if st, err := e.store.LoadConn(e.ctx, conn); err != nil || st.ID != p || st.Transport != "websocket" {
		t.Fatalf("LoadConn after the upgrade: %+v, %v", st, err)
	}
	if _, err := e.store.Fetch(e.ctx, p, session.FetchRequest{}); !errors.Is(err, session.ErrTransport) {
		t.Fatalf("polling Fetch after the upgrade: %v, want ErrTransport", err)
	}
	f = e.fetchWith(p, session.FetchRequest{Transport: "websocket"})
	if f.Upgrading || !slices.Equal(payloads(f), []string{"4a", "during"}) {
		t.Fatalf("websocket Fetch after the upgrade: upgrading %v, payloads %q, want the queued ones", f.Upgrading, payloads(f))
	}
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
	e.wantFetchWS(p, "after", "all", "self")
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
	if st := e.load(p); st.Probe != "" || st.Transport != "polling" || st.Conn != "" {
		t.Fatalf("Load after the probe failed = %+v", st.Session)
	}
	// Polling goes on as if nothing happened.
	f := e.fetchWith(p, session.FetchRequest{})
	if f.Upgrading || !slices.Equal(payloads(f), []string{"4a"}) {
		t.Fatalf("polling Fetch after the probe failed: upgrading %v, payloads %q", f.Upgrading, payloads(f))
	}
}

// testPin: a pump's pin holds a WebSocket session whatever its fetches find, renewed by each,
// and reports the rooms to watch with the payloads. A store without wake-ups refuses it.
func testPin(t *testing.T, e *env) {
	w := e.createWS(newConn(t))
	pin := func(poll string) session.FetchRequest {
		return session.FetchRequest{Transport: "websocket", Poll: poll, Hold: 10 * time.Second, Pin: true}
	}
	if _, ok := e.store.(session.Notifier); !ok {
		if _, err := e.store.Fetch(e.ctx, w, pin("p1")); err == nil {
			t.Fatal("a store without wake-ups took a pin")
		}
		return
	}
	e.commit(w, func(b *session.Batch) { b.Connect("/", "S"); b.Join("/", "room") })
	f := e.fetchWith(w, pin("p1"))
	if len(f.Payloads) != 0 {
		t.Fatalf("first pinned fetch took %q", payloads(f))
	}
	// Nothing queued, and still held.
	if _, err := e.store.Fetch(e.ctx, w, pin("p2")); !errors.Is(err, session.ErrBusy) {
		t.Fatalf("p2 while p1 pins: %v, want ErrBusy", err)
	}
	e.commit(w, func(b *session.Batch) { b.Send([]byte("a")) })
	f = e.fetchWith(w, pin("p1"))
	if !slices.Equal(payloads(f), []string{"a"}) {
		t.Fatalf("p1 took %q, want [a]", payloads(f))
	}
	if !slices.Contains(f.Rooms, session.RoomRef{Namespace: "/", Room: "room"}) {
		t.Fatalf("rooms with the payloads: %v, want room among them", f.Rooms)
	}
	if _, err := e.store.Fetch(e.ctx, w, pin("p2")); !errors.Is(err, session.ErrBusy) {
		t.Fatalf("p2 after p1 took something: %v, want ErrBusy", err)
	}
	// Each fetch renews the pin; it ends Hold after the last one.
	e.clock.Advance(8 * time.Second)
	e.fetchWith(w, pin("p1"))
	e.clock.Advance(8 * time.Second)
	if _, err := e.store.Fetch(e.ctx, w, pin("p2")); !errors.Is(err, session.ErrBusy) {
		t.Fatalf("p2 8 s after p1's last fetch: %v, want ErrBusy", err)
	}
	e.clock.Advance(3 * time.Second)
	if _, err := e.store.Fetch(e.ctx, w, pin("p2")); err != nil {
		t.Fatalf("p2 after p1's pin expired: %v", err)
	}
}

// testFlushLease: one flusher at a time takes a WebSocket session's packets.
func testFlushLease(t *testing.T, e *env) {
	w := e.createWS(newConn(t))
	lease := func(poll string) session.FetchRequest {
		return session.FetchRequest{Transport: "websocket", Poll: poll, Hold: 10 * time.Second, Lease: true}
	}
	// Nothing queued: no lease is taken.
	if f := e.fetchWith(w, lease("f0")); len(f.Payloads) != 0 {
		t.Fatalf("lease fetch of an empty session: %q", payloads(f))
	}
	if f := e.fetchWith(w, lease("f2")); len(f.Payloads) != 0 {
		t.Fatalf("lease fetch of an empty session: %q", payloads(f))
	}
	e.commit(w, func(b *session.Batch) { b.Send([]byte("a")); b.Send([]byte("b")) })
	if f := e.fetchWith(w, lease("f1")); !slices.Equal(payloads(f), []string{"a", "b"}) {
		t.Fatalf("f1 took %q, want [a b]", payloads(f))
	}
	if _, err := e.store.Fetch(e.ctx, w, lease("f2")); !errors.Is(err, session.ErrBusy) {
		t.Fatalf("f2 while f1 holds the lease: %v, want ErrBusy", err)
	}
	// What is committed meanwhile is the holder's to push.
	e.commit(w, func(b *session.Batch) { b.Send([]byte("c")) })
	if _, err := e.store.Fetch(e.ctx, w, lease("f2")); !errors.Is(err, session.ErrBusy) {
		t.Fatalf("f2 while f1 holds the lease: %v, want ErrBusy", err)
	}
	if f := e.fetchWith(w, lease("f1")); !slices.Equal(payloads(f), []string{"c"}) {
		t.Fatalf("f1 took %q, want [c]", payloads(f))
	}
	if f := e.fetchWith(w, lease("f1")); len(f.Payloads) != 0 {
		t.Fatalf("f1 with nothing queued took %q", payloads(f))
	}
	e.commit(w, func(b *session.Batch) { b.Send([]byte("d")) })
	if f := e.fetchWith(w, lease("f2")); !slices.Equal(payloads(f), []string{"d"}) {
		t.Fatalf("f2 after f1 released took %q, want [d]", payloads(f))
	}
	if _, err := e.store.Fetch(e.ctx, w, lease("f1")); !errors.Is(err, session.ErrBusy) {
		t.Fatalf("f1 while f2 holds the lease: %v, want ErrBusy", err)
	}
}

// testFlushLeaseExpires: a lease whose flusher died ends after Hold.
func testFlushLeaseExpires(t *testing.T, e *env) {
	w := e.createWS(newConn(t))
	req := func(poll string) session.FetchRequest {
		return session.FetchRequest{Transport: "websocket", Poll: poll, Hold: 10 * time.Second, Lease: true}
	}
	e.commit(w, func(b *session.Batch) { b.Send([]byte("a")) })
	if f := e.fetchWith(w, req("dead")); !slices.Equal(payloads(f), []string{"a"}) {
		t.Fatalf("dead flusher took %q, want [a]", payloads(f))
	}
	e.commit(w, func(b *session.Batch) { b.Send([]byte("b")) })
	e.clock.Advance(9 * time.Second)
	if _, err := e.store.Fetch(e.ctx, w, req("f2")); !errors.Is(err, session.ErrBusy) {
		t.Fatalf("f2 before the lease expired: %v, want ErrBusy", err)
	}
	e.clock.Advance(time.Second + time.Millisecond)
	f, err := e.store.Fetch(e.ctx, w, req("f2"))
	if err != nil || !slices.Equal(payloads(f), []string{"b"}) {
		t.Fatalf("f2 after the lease expired: %v, %v; want [b]", f, err)
	}
}

// testPingDue: WebSocket sessions are listed for their ping PingInterval after the last pong,
// until it is sent; polling sessions never are (their GET pings).
func testPingDue(t *testing.T, e *env) {
	t0 := e.clock.Now()
	w := e.createWS(newConn(t))
	p := e.create()
	if d := e.due(t0.Add(testPingInterval - time.Millisecond)); slices.Contains(d.Ping, w) {
		t.Fatalf("Ping before the interval = %q, want without %s", d.Ping, w[:6])
	}
	if d := e.due(t0.Add(testPingInterval)); !slices.Contains(d.Ping, w) {
		t.Fatalf("Ping at the interval = %q, want %s", d.Ping, w[:6])
	}
	if d := e.due(t0.Add(testPingInterval + time.Second)); slices.Contains(d.Ping, p) || !slices.Contains(d.Ping, w) {
		t.Fatalf("Ping past the interval = %q, want %s and not the polling %s", d.Ping, w[:6], p[:6])
	}
	if d := e.due(t0.Add(time.Hour)); slices.Contains(d.Ping, p) {
		t.Fatalf("Ping an hour later = %q, want without the polling %s", d.Ping, p[:6])
	}
	ping := session.FetchRequest{Transport: "websocket", Ping: true}
	if f := e.fetchWith(w, ping); f.Pinged || f.Session.PingSent {
		t.Fatalf("websocket Fetch before the ping is due: pinged %v, %+v", f.Pinged, f.Session)
	}
	e.clock.Advance(testPingInterval)
	if f := e.fetchWith(w, ping); f.Expired || !f.Pinged || !f.Session.PingSent {
		t.Fatalf("websocket Fetch when the ping is due: pinged %v expired %v, %+v", f.Pinged, f.Expired, f.Session)
	}
	if d := e.due(e.clock.Now()); slices.Contains(d.Ping, w) {
		t.Fatalf("Ping after the ping was sent = %q, want without %s", d.Ping, w[:6])
	}
	if f := e.fetchWith(w, ping); f.Pinged {
		t.Fatal("the ping went out twice")
	}
	deadline := t0.Add(testPingInterval + testPingTimeout)
	if d := e.due(deadline); slices.Contains(d.Expired, w) {
		t.Fatalf("Expired at the deadline = %q, want without %s (strictly after)", d.Expired, w[:6])
	}
	if d := e.due(deadline.Add(time.Millisecond)); !slices.Contains(d.Expired, w) || slices.Contains(d.Ping, w) {
		t.Fatalf("Due past the deadline: expired %q ping %q, want %s expired only", d.Expired, d.Ping, w[:6])
	}
	// A pong restarts the schedule.
	pong := e.clock.Now()
	e.commit(w, func(b *session.Batch) { b.Pong() })
	e.commit(p, func(b *session.Batch) { b.Pong() })
	if d := e.due(deadline.Add(time.Millisecond)); slices.Contains(d.Expired, w) {
		t.Fatalf("Expired after a pong = %q, want without %s", d.Expired, w[:6])
	}
	if d := e.due(pong.Add(testPingInterval - time.Millisecond)); slices.Contains(d.Ping, w) {
		t.Fatalf("Ping before the interval after the pong = %q, want without %s", d.Ping, w[:6])
	}
	if d := e.due(pong.Add(testPingInterval)); !slices.Contains(d.Ping, w) || slices.Contains(d.Ping, p) {
		t.Fatalf("Ping at the interval after the pong = %q, want %s and not the polling %s", d.Ping, w[:6], p[:6])
	}
}

// testConnectDeadline: a session no namespace connected to dies at its ConnectDeadline, however
// recent its heartbeat; a connect lifts the deadline.
func testConnectDeadline(t *testing.T, e *env) {
	t0 := e.clock.Now()
	cd := t0.Add(5 * time.Second)
	withCD := func(s *session.Session) { s.ConnectDeadline = cd }
	lazy := e.createWith(withCD)
	quick := e.createWith(withCD)
	if st := e.load(lazy); !st.ConnectDeadline.Equal(cd) {
		t.Fatalf("Load: ConnectDeadline %v, want %v", st.ConnectDeadline, cd)
	}
	e.commit(quick, func(b *session.Batch) { b.Connect("/", "Q") })
	if st := e.load(quick); !st.ConnectDeadline.IsZero() {
		t.Fatalf("Load after a connect: ConnectDeadline %v, want zero", st.ConnectDeadline)
	}
	if d := e.due(cd); slices.Contains(d.Expired, lazy) {
		t.Fatalf("Expired at the connect deadline = %q, want without %s (strictly after)", d.Expired, lazy[:6])
	}
	d := e.due(cd.Add(time.Millisecond))
	if !slices.Contains(d.Expired, lazy) || slices.Contains(d.Expired, quick) {
		t.Fatalf("Expired past the connect deadline = %q, want %s and not %s (connected)", d.Expired, lazy[:6], quick[:6])
	}
	e.clock.Advance(5*time.Second + time.Millisecond)
	if f := e.fetchWith(lazy, session.FetchRequest{}); !f.Expired {
		t.Fatalf("Fetch past the connect deadline: %+v, want Expired", f)
	}
	if f := e.fetchWith(quick, session.FetchRequest{}); f.Expired {
		t.Fatalf("Fetch of the connected session: %+v, want alive", f)
	}
	// The connected one still dies by its heartbeat.
	if d := e.due(t0.Add(testPingInterval + testPingTimeout + time.Millisecond)); !slices.Contains(d.Expired, quick) {
		t.Fatalf("Expired past the heartbeat deadline = %q, want %s", d.Expired, quick[:6])
	}
	var b session.Batch
	b.Close("ping timeout", true)
	if _, err := e.store.Commit(e.ctx, lazy, &b); err != nil {
		t.Fatalf("close-if-expired past the connect deadline: %v", err)
	}
	if _, err := e.store.Commit(e.ctx, quick, &b); !errors.Is(err, session.ErrAlive) {
		t.Fatalf("close-if-expired of the connected session: %v, want ErrAlive", err)
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

// testWSClose: closing a WebSocket session forgets its connection, its pushes and its ping.
func testWSClose(t *testing.T, e *env) {
	conn := newConn(t)
	w := e.createWS(conn)
	e.commit(w, func(b *session.Batch) { b.Connect("/chat", "W"); b.Join("/chat", "lobby") })
	other := e.connectWS("/chat", "O")
	e.commit(other, func(b *session.Batch) { b.Join("/chat", "lobby") })
	e.commit(w, func(b *session.Batch) { b.Send([]byte("unsent")); b.Close("transport close", false) })
	_, err := e.store.Load(e.ctx, w)
	var ce *session.ClosedError
	if !errors.As(err, &ce) || ce.Reason != "transport close" || !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("Load after close: %v, want closed (transport close)", err)
	}
	if _, err := e.store.LoadConn(e.ctx, conn); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("LoadConn after close: %v, want ErrNotFound", err)
	}
	for range 2 {
		_, err := e.store.Fetch(e.ctx, w, session.FetchRequest{Transport: "websocket"})
		if !errors.As(err, &ce) || ce.Reason != "transport close" || ce.Answer {
			t.Fatalf("websocket Fetch after close: %v (answer %v), want closed without an answer", err, ce != nil && ce.Answer)
		}
	}
	if got := e.commitFlush(other, func(b *session.Batch) { b.Broadcast("/chat", []string{"lobby"}, nil, []byte("m")) }); !slices.Equal(got, []string{other}) {
		t.Fatalf("Flush of a broadcast to lobby after w closed = %q, want only %q", got, []string{other})
	}
	if d := e.due(e.clock.Now().Add(time.Hour)); slices.Contains(d.Ping, w) || slices.Contains(d.Expired, w) {
		t.Fatalf("closed session still due: ping %q expired %q", d.Ping, d.Expired)
	}
}

// testWSFetchOwesNoNoop: the noop owed for a client close goes to a polling fetch only; a
// WebSocket fetch meanwhile leaves it owed.
func testWSFetchOwesNoNoop(t *testing.T, e *env) {
	p := e.create()
	e.commit(p, func(b *session.Batch) { b.Close("transport close", false) })
	var ce *session.ClosedError
	if _, err := e.store.Fetch(e.ctx, p, session.FetchRequest{Transport: "websocket"}); !errors.As(err, &ce) || ce.Answer {
		t.Fatalf("websocket Fetch after a client close: %v (answer %v), want closed without an answer", err, ce != nil && ce.Answer)
	}
	if _, err := e.store.Fetch(e.ctx, p, session.FetchRequest{}); !errors.As(err, &ce) || !ce.Answer {
		t.Fatalf("polling Fetch after it: %v (answer %v), want the owed noop", err, ce != nil && ce.Answer)
	}
	if _, err := e.store.Fetch(e.ctx, p, session.FetchRequest{}); !errors.As(err, &ce) || ce.Answer {
		t.Fatalf("second polling Fetch: %v, want closed without an answer", err)
	}
	// A WebSocket session closed by its client owes no noop to a polling GET either: it has none
	// waiting, and the Node server answers such a GET 400 at once.
	w := e.createWS(newConn(t))
	e.commit(w, func(b *session.Batch) { b.Close("transport close", false) })
	if _, err := e.store.Fetch(e.ctx, w, session.FetchRequest{}); !errors.As(err, &ce) || ce.Answer {
		t.Fatalf("polling Fetch after a WebSocket session's client close: %v (answer %v), want closed without an answer", err, ce != nil && ce.Answer)
	}
}
