package handler_test

// The WebSocket pump (Config.Pump, cmd/local on Redis): the process holding a connection
// delivers its session's packets, woken by the store. Heartbeats run on the real clock here (the
// pump's timer is a real timer), with intervals long enough for a slow machine.

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/serverless-socketio/server/consumers/chat"
	"github.com/serverless-socketio/server/handler"
	"github.com/serverless-socketio/server/internal/siotest"
	"github.com/serverless-socketio/server/session"
	"github.com/serverless-socketio/server/sio"
)

func chatRouter(t *testing.T, extra ...sio.Consumer) *sio.Router {
	t.Helper()
	r := sio.NewRouter(slog.New(slog.DiscardHandler))
	for _, c := range append([]sio.Consumer{chat.Consumer{}}, extra...) {
		if err := r.Register(c); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

func pumpChat(t *testing.T, cfg handler.Config, extra ...sio.Consumer) *siotest.WSServer {
	return siotest.StartWS(t, chatRouter(t, extra...), cfg, siotest.WSOptions{Pump: true})
}

// pumpChatRedis is pumpChat on miniredis: for the tests that share the store between servers
// or stop it.
func pumpChatRedis(t *testing.T, cfg handler.Config) *siotest.WSServer {
	return siotest.StartWS(t, chatRouter(t), cfg, siotest.WSOptions{Pump: true, Miniredis: true})
}

// joinChat opens a WebSocket session and connects it to /chat.
func joinChat(t *testing.T, srv *siotest.WSServer) (*siotest.WSConn, string) {
	t.Helper()
	c, sid := srv.OpenWS(t)
	c.Send("40/chat,")
	readExactly(t, c, []string{`40/chat,{"sid":"*`, `42/chat,["system_message",{"text":"Welcome!"}]`})
	return c, sid
}

func chatMsg(text string) string { return `42/chat,["chat_message",{"text":"` + text + `"}]` }

// TestPumpBroadcastOrder: several clients broadcast bursts at once; every client gets every
// message once, each sender's in order, and every ack.
func TestPumpBroadcastOrder(t *testing.T) {
	srv := pumpChat(t, handler.Config{})
	const clients, burst = 4, 25
	conns := make([]*siotest.WSConn, clients)
	for i := range conns {
		conns[i], _ = joinChat(t, srv)
	}
	for i, c := range conns {
		for k := range burst {
			c.Send(fmt.Sprintf(`42/chat,%d["chat_message",{"text":"c%d-%d"}]`, k, i, k))
		}
	}
	for i, c := range conns {
		next := make([]int, clients) // next expected message number per sender
		acks := 0
		for range clients*burst + burst {
			f := c.ReadText()
			if strings.HasPrefix(f, "43/chat,") {
				acks++
				continue
			}
			var from, k int
			if _, err := fmt.Sscanf(f, `42/chat,["chat_message",{"text":"c%d-%d"}]`, &from, &k); err != nil {
				t.Fatalf("client %d: unexpected frame %q", i, f)
			}
			if k != next[from] {
				t.Fatalf("client %d: message %d of client %d, want %d", i, k, from, next[from])
			}
			next[from]++
		}
		if acks != burst {
			t.Fatalf("client %d: %d acks, want %d", i, acks, burst)
		}
	}
}

// TestPumpHeartbeat: the pump pings on time, once per interval although the sweeper runs too,
// and a pong keeps the session open.
func TestPumpHeartbeat(t *testing.T) {
	app := &echoRecorder{}
	srv := siotest.StartWS(t, app, handler.Config{PingInterval: 400 * time.Millisecond, PingTimeout: siotest.Wait}, siotest.WSOptions{Pump: true})
	srv.RunSweeper(t, 10*time.Millisecond)
	c, _ := srv.OpenWS(t)
	// Nothing but pings and pongs: the pong alone must tell the pump when the next ping is due
	// (a pump that waited for the deadline instead would ping after siotest.Wait).
	for i := range 3 {
		if got := c.ReadText(); got != "2" {
			t.Fatalf("round %d: %q, want a ping", i, got)
		}
		c.Send("3")
	}
	// The next ping is due 400 ms after the last pong: the echo comes first (a second pinger
	// would show up here).
	c.Send("4after")
	readExactly(t, c, []string{"4after"})
	if got := app.got(); len(got) != 0 {
		t.Fatalf("session closed (%q)", got)
	}
}

// TestPumpPingTimeout: without a sweeper, the pump itself closes a session whose client stops
// answering pings, with "ping timeout", and closes the connection.
func TestPumpPingTimeout(t *testing.T) {
	app := &echoRecorder{}
	srv := siotest.StartWS(t, app, handler.Config{PingInterval: 200 * time.Millisecond, PingTimeout: 200 * time.Millisecond}, siotest.WSOptions{Pump: true})
	c, sid := srv.OpenWS(t)
	frames, _ := c.WaitClose()
	if len(frames) != 1 || frames[0].String() != "2" {
		t.Fatalf("frames before the close: %q, want one ping", frames)
	}
	assertGone(t, srv, sid)
	if got := app.got(); len(got) != 1 || got[0] != "ping timeout" {
		t.Fatalf("close reasons %q, want [ping timeout]", got)
	}
}

// TestPumpUpgrade: a polling session upgrades; what was queued during the probe, and what is
// broadcast afterwards, arrives over the WebSocket through its pump.
func TestPumpUpgrade(t *testing.T) {
	srv := pumpChat(t, handler.Config{PollHold: 20 * time.Second})
	other, _ := joinChat(t, srv)
	p := srv.Open(t)
	p.Connect("/chat")
	ws := probe(t, srv, p.SID)
	other.Send(chatMsg("during the probe"))
	readExactly(t, other, []string{chatMsg("during the probe")})
	if got := p.Get(); len(got) != 1 || got[0] != "6" {
		t.Fatalf("GET during the probe: %q, want a noop", got)
	}
	ws.Send("5")
	readExactly(t, ws, []string{chatMsg("during the probe")})
	other.Send(chatMsg("after"))
	readExactly(t, ws, []string{chatMsg("after")})
}

// roomsConsumer joins rooms on request without sending anything, and broadcasts to a room.
type roomsConsumer struct{}

func (roomsConsumer) Namespace() string { return "/rooms" }
func (roomsConsumer) Connect(ctx context.Context, s *sio.Socket, auth json.RawMessage) error {
	return nil
}
func (roomsConsumer) Disconnect(ctx context.Context, s *sio.Socket, reason string) {}

type roomText struct {
	Room string `json:"room"`
	Text string `json:"text"`
}

func (roomsConsumer) EventJoin(ctx context.Context, s *sio.Socket, m roomText) error {
	s.Join(m.Room)
	return nil
}

func (roomsConsumer) EventSay(ctx context.Context, s *sio.Socket, m roomText) error {
	return s.Server().Emit("said", m.Text, sio.To(m.Room), sio.Namespace("/rooms"))
}

// TestPumpWatchesNewRooms: a socket that joins a room, with nothing sent to it, gets what is
// broadcast to the room at once (its pump learns to watch the room), not at its next ping.
func TestPumpWatchesNewRooms(t *testing.T) {
	srv := pumpChat(t, handler.Config{}, roomsConsumer{})
	a, sidA := srv.OpenWS(t)
	b, _ := srv.OpenWS(t)
	for _, c := range []*siotest.WSConn{a, b} {
		c.Send("40/rooms,")
		readExactly(t, c, []string{`40/rooms,{"sid":"*`})
	}
	a.Send(`42/rooms,["join",{"room":"r"}]`)
	siotest.Until(t, "a in room r", func() bool {
		st := mustLoad(t, srv, sidA)
		return st.Sockets["/rooms"] != nil && slices.Contains(st.Sockets["/rooms"].Rooms, "r")
	})
	b.Send(`42/rooms,["say",{"room":"r","text":"hi"}]`)
	readExactly(t, a, []string{`42/rooms,["said","hi"]`})
}

// TestPumpAcrossProcesses: two processes on one Redis, each pumping its own connections: a
// burst committed by one arrives complete and in order at the other's connection, with no frame
// relayed between them; an upgrade whose polling side and WebSocket are on different processes
// completes.
func TestPumpAcrossProcesses(t *testing.T) {
	first := pumpChatRedis(t, handler.Config{})
	second := siotest.StartWS(t, chatRouter(t), handler.Config{}, siotest.WSOptions{Redis: first.Client, Pump: true})
	a, sidA := joinChat(t, first)
	b, sidB := joinChat(t, second)
	owner := func(sid string) string { return strings.Split(mustLoad(t, first, sid).Conn, ".")[0] }
	if owner(sidA) == owner(sidB) {
		t.Fatal("both connections are held by one gateway")
	}
	relay := first.Client.PSubscribe(context.Background(), "sio:gw:*")
	defer relay.Close()
	if _, err := relay.Receive(context.Background()); err != nil {
		t.Fatal(err)
	}
	const burst = 30
	want := make([]string, burst)
	for i := range want {
		want[i] = chatMsg(fmt.Sprintf("m%d", i))
		b.Send(want[i])
	}
	readExactly(t, a, want)
	readExactly(t, b, want)
	select {
	case m := <-relay.Channel():
		t.Fatalf("a frame crossed the relay: %q on %s", m.Payload, m.Channel)
	case <-time.After(50 * time.Millisecond):
	}

	// An upgrade with its polling side on the first process and its WebSocket on the second:
	// what is broadcast during the probe arrives through the second process's pump.
	p := first.Open(t)
	p.Connect("/chat")
	ws := probe(t, second, p.SID)
	a.Send(chatMsg("during the probe"))
	readExactly(t, a, []string{chatMsg("during the probe")})
	if got := p.Get(); len(got) != 1 || got[0] != "6" {
		t.Fatalf("GET on the first process during the probe on the second: %q, want a noop", got)
	}
	ws.Send("5")
	readExactly(t, ws, []string{chatMsg("during the probe")})
	a.Send(chatMsg("after"))
	readExactly(t, ws, []string{chatMsg("after")})
}

// TestPumpStoreDown: while Redis is down the pump keeps the heartbeat from memory (the ping that
// falls due goes out; recording it fails, logged), nothing panics, and once Redis is back (its
// pub/sub resubscribed: a gap, read again) a broadcast reaches the connection again.
func TestPumpStoreDown(t *testing.T) {
	logs := &lockedBuffer{}
	srv := pumpChatRedis(t, handler.Config{
		PingInterval: 500 * time.Millisecond, PingTimeout: siotest.Wait,
		Logger: slog.New(slog.NewTextHandler(logs, nil)),
	})
	a, sid := joinChat(t, srv)
	t.Cleanup(func() {
		if t.Failed() {
			t.Log("server log:\n" + logs.String())
		}
	})
	// Answer the first ping, so that the next one falls due while Redis is down.
	if got := a.ReadText(); got != "2" {
		t.Fatalf("%q, want the first ping", got)
	}
	before := mustLoad(t, srv, sid).LastPong
	a.Send("3")
	siotest.Until(t, "pong recorded", func() bool { return mustLoad(t, srv, sid).LastPong.After(before) })
	// The pump learns of the pong from the store (a change, read again): a message committed
	// after it comes out only once the pump has read the session with its new pong.
	a.Send(chatMsg("before"))
	readExactly(t, a, []string{chatMsg("before")})
	srv.Redis.Close()
	if got := a.ReadText(); got != "2" {
		t.Fatalf("with Redis down: %q, want the ping that fell due", got)
	}
	siotest.Until(t, "the failed record of the ping logged", func() bool {
		return strings.Contains(logs.String(), "pump: recording the ping failed")
	})
	if err := srv.Redis.Restart(); err != nil {
		t.Fatal(err)
	}
	// A frame that comes while the store cannot be reached closes the connection; the client's
	// pool takes a moment to find Redis back.
	siotest.Until(t, "Redis reachable again", func() bool { _, err := load(t, srv, sid); return err == nil })
	a.Send("3")
	a.Send(chatMsg("back"))
	readExactly(t, a, []string{chatMsg("back")})
}

// lockedBuffer is a log destination that tests read while the server writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestPumpNeedsSubscriber: Config.Pump with a store that publishes nothing is refused.
func TestPumpNeedsSubscriber(t *testing.T) {
	srv := pumpChat(t, handler.Config{})
	_, err := handler.New(handler.Config{Store: plainStore{srv.Store}, App: handler.Echo{}, Pump: true})
	if err == nil || !strings.Contains(err.Error(), "Pump") {
		t.Fatalf("handler.New with Pump and no notifier: %v, want an error", err)
	}
}

// plainStore hides every optional capability of a store.
type plainStore struct{ session.Store }

// TestPumpIdleNoGoroutine: an idle pumped connection holds one goroutine, the gateway's reader:
// the pump waits on the store's events and its timer, not on a goroutine of its own.
func TestPumpIdleNoGoroutine(t *testing.T) {
	srv := pumpChat(t, handler.Config{})
	warm, _ := joinChat(t, srv)
	defer warm.Close()
	settle := func() int {
		// Goroutines that end (a step, an acknowledgement round) are given a moment.
		n := runtime.NumGoroutine()
		for range 50 {
			time.Sleep(20 * time.Millisecond)
			n = min(n, runtime.NumGoroutine())
		}
		return n
	}
	before := settle()
	const conns = 20
	for range conns {
		c, _ := joinChat(t, srv)
		defer c.Close()
	}
	after := settle()
	// The test's client runs in this process too, but reads only when told to: no goroutine.
	if per := float64(after-before) / conns; per > 1.5 {
		t.Fatalf("%.2f goroutines per idle pumped connection, want 1: the gateway's reader", per)
	} else {
		t.Logf("%.2f goroutines per idle pumped connection", per)
	}
}
