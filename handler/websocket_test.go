package handler_test

// The WebSocket transport, the upgrade from long-polling, and Socket.IO over WebSocket, through
// the local gateway as cmd/local serves them. Each test names the test of the official Engine.IO
// v4 or Socket.IO v5 conformance suite it mirrors (docs/engine.io-protocol/v4-test-suite and
// docs/socket.io-protocol/v5-test-suite in the socket.io repository); CI cannot run those suites.
//
// Heartbeats run on a clock the test moves and on sweeps the test calls, so nothing depends on
// the machine's speed; waits are bounded by siotest.Wait only to fail instead of hanging.

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/serverless-socketio/server/consumers/conformance"
	"github.com/serverless-socketio/server/engineio"
	"github.com/serverless-socketio/server/handler"
	"github.com/serverless-socketio/server/internal/siotest"
	"github.com/serverless-socketio/server/session"
	"github.com/serverless-socketio/server/sio"
	"github.com/serverless-socketio/server/store/storetest"
)

// Heartbeat values of the tests that move a clock: long enough that a frozen clock never
// expires a session by accident.
const (
	pingInterval = 25 * time.Second
	pingTimeout  = 20 * time.Second
)

// echoRecorder is the raw Engine.IO echo that also records why sessions closed.
type echoRecorder struct {
	handler.Echo
	mu      sync.Mutex
	reasons []string
}

func (r *echoRecorder) OnClose(ctx context.Context, st *session.State, reason session.Reason, b *session.Batch) {
	r.mu.Lock()
	r.reasons = append(r.reasons, string(reason))
	r.mu.Unlock()
}

func (r *echoRecorder) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.reasons...)
}

func conformanceRouter(t *testing.T) *sio.Router {
	t.Helper()
	r := sio.NewRouter(nil)
	if err := conformance.Register(r); err != nil {
		t.Fatal(err)
	}
	return r
}

// echoWS serves the recording echo on a clock the test moves.
func echoWS(t *testing.T, cfg handler.Config) (*siotest.WSServer, *echoRecorder, *storetest.Clock) {
	t.Helper()
	clock := storetest.NewClock()
	if cfg.PingInterval == 0 {
		cfg.PingInterval, cfg.PingTimeout = pingInterval, pingTimeout
	}
	cfg.Now = clock.Now
	app := &echoRecorder{}
	return siotest.StartWS(t, app, cfg, siotest.WSOptions{}), app, clock
}

// sioWS serves the conformance namespaces on a clock the test moves.
func sioWS(t *testing.T, cfg handler.Config) (*siotest.WSServer, *storetest.Clock) {
	t.Helper()
	clock := storetest.NewClock()
	if cfg.PingInterval == 0 {
		cfg.PingInterval, cfg.PingTimeout = pingInterval, pingTimeout
	}
	cfg.Now = clock.Now
	return siotest.StartWS(t, conformanceRouter(t), cfg, siotest.WSOptions{}), clock
}

// sioConnect is the suite's initSocketIOConnection: a WebSocket session connected to "/", its
// CONNECT answer and "auth" event read.
func sioConnect(t *testing.T, srv *siotest.WSServer) (*siotest.WSConn, string) {
	t.Helper()
	c, sid := srv.OpenWS(t)
	c.Send("40")
	if got := c.ReadText(); !strings.HasPrefix(got, `40{"sid":"`) {
		t.Fatalf("CONNECT answered %q", got)
	}
	if got := c.ReadText(); got != `42["auth",{}]` {
		t.Fatalf("after CONNECT: %q, want the auth event", got)
	}
	srv.Delivered(t, sid) // the tests move the clock on next
	return c, sid
}

func load(t *testing.T, srv *siotest.WSServer, sid string) (*session.State, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), siotest.Wait)
	defer cancel()
	return srv.Store.Load(ctx, sid)
}

// mustLoad loads a session that must exist.
func mustLoad(t *testing.T, srv *siotest.WSServer, sid string) *session.State {
	t.Helper()
	st, err := load(t, srv, sid)
	if err != nil {
		t.Fatalf("session %s: %v", sid, err)
	}
	return st
}

// assertGone fails unless the session is closed or unknown in the store.
func assertGone(t *testing.T, srv *siotest.WSServer, sid string) {
	t.Helper()
	if _, err := load(t, srv, sid); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("session %s after the close: %v, want ErrNotFound", sid, err)
	}
}

// assertClosedQuietly waits for the server to end the connection and fails if anything was
// sent before the end.
func assertClosedQuietly(t *testing.T, c *siotest.WSConn) {
	t.Helper()
	frames, _ := c.WaitClose()
	if len(frames) != 0 {
		t.Fatalf("frames before the close: %q, want none", frames)
	}
}

func text(s string) siotest.Frame    { return siotest.Frame{Data: []byte(s)} }
func binary(b ...byte) siotest.Frame { return siotest.Frame{Binary: true, Data: b} }
func sendAll(c *siotest.WSConn, frames []siotest.Frame) {
	for _, f := range frames {
		if f.Binary {
			c.SendBinary(f.Data)
		} else {
			c.Send(string(f.Data))
		}
	}
}

// readExactly reads len(want) frames and compares them with want, where an entry ending in "*"
// matches by prefix; binary frames compare as siotest.Frame.String.
func readExactly(t *testing.T, c *siotest.WSConn, want []string) {
	t.Helper()
	for i, w := range want {
		got := c.Read().String()
		match := got == w
		if prefix, ok := strings.CutSuffix(w, "*"); ok {
			match = strings.HasPrefix(got, prefix)
		}
		if !match {
			t.Fatalf("frame %d: %q, want %q", i, got, w)
		}
	}
}

// TestWSHandshake mirrors "handshake > WebSocket > successfully opens a session" and, with a
// Sender configured, "handshake > HTTP long-polling > successfully opens a session" (upgrades
// ["websocket"]), for the raw Engine.IO echo and for Socket.IO.
func TestWSHandshake(t *testing.T) {
	cfg := handler.Config{PingInterval: 300 * time.Millisecond, PingTimeout: 200 * time.Millisecond}
	apps := []struct {
		name  string
		start func(t *testing.T) *siotest.WSServer
	}{
		{"engine.io echo", func(t *testing.T) *siotest.WSServer { s, _, _ := echoWS(t, cfg); return s }},
		{"socket.io", func(t *testing.T) *siotest.WSServer { s, _ := sioWS(t, cfg); return s }},
	}
	for _, app := range apps {
		for _, transport := range []string{"websocket", "polling"} {
			t.Run(app.name+"/"+transport, func(t *testing.T) {
				srv := app.start(t)
				var packet string
				if transport == "websocket" {
					packet = srv.Dial(t, "EIO=4&transport=websocket").ReadText()
				} else {
					status, body := siotest.Do(t, http.MethodGet, srv.URL+"?EIO=4&transport=polling", "")
					if status != http.StatusOK {
						t.Fatalf("handshake: %d %q", status, body)
					}
					packet = body
				}
				sid := siotest.OpenSID(t, packet)
				var open map[string]any
				if err := json.Unmarshal([]byte(packet[1:]), &open); err != nil {
					t.Fatal(err)
				}
				upgrades := []any{}
				if transport == "polling" {
					upgrades = []any{"websocket"}
				}
				want := map[string]any{"sid": sid, "upgrades": upgrades, "pingInterval": 300.0, "pingTimeout": 200.0, "maxPayload": 1e6}
				if got := mustJSON(open); got != mustJSON(want) {
					t.Fatalf("open packet %s, want %s", got, mustJSON(want))
				}
				if len(sid) < 22 {
					t.Fatalf("sid %q: want at least 128 bits", sid)
				}
				if st := mustLoad(t, srv, sid); string(st.Transport) != transport || (transport == "websocket") != (st.Conn != "") {
					t.Fatalf("stored session: transport %q conn %q, want %q", st.Transport, st.Conn, transport)
				}
			})
		}
	}
}

// TestWSRefused mirrors "handshake > WebSocket > fails with an invalid 'EIO' query parameter"
// and "... an invalid 'transport' query parameter": the upgrade is answered with the
// Engine.IO error instead of 101.
func TestWSRefused(t *testing.T) {
	echo, _, _ := echoWS(t, handler.Config{})
	sioSrv, _ := sioWS(t, handler.Config{})
	cases := []struct {
		query  string
		status int
		body   string
	}{
		{"transport=websocket", 400, errorBody(5, "Unsupported protocol version")},
		{"EIO=abc&transport=websocket", 400, errorBody(5, "Unsupported protocol version")},
		{"EIO=3&transport=websocket", 400, errorBody(5, "Unsupported protocol version")},
		{"EIO=4", 400, errorBody(0, "Transport unknown")},
		{"EIO=4&transport=abc", 400, errorBody(0, "Transport unknown")},
		{"EIO=4&transport=polling", 400, errorBody(0, "Transport unknown")},
		{"EIO=4&transport=websocket&sid=nope", 400, errorBody(1, "Session ID unknown")},
	}
	for _, tc := range cases {
		t.Run(tc.query, func(t *testing.T) {
			for _, srv := range []*siotest.WSServer{echo, sioSrv} {
				if status, body := srv.DialRefused(t, tc.query); status != tc.status || body != tc.body {
					t.Fatalf("got %d %q, want %d %q", status, body, tc.status, tc.body)
				}
			}
		})
	}
}

// TestWSEcho mirrors "message > WebSocket > sends and receives a plain text packet" and "... a
// binary packet". A sentinel message after each case proves that nothing else was sent: the
// server answers a connection's frames in order.
func TestWSEcho(t *testing.T) {
	cases := []struct {
		name string
		send []siotest.Frame
		want []string
		bug  string // a known defect: the case is skipped with this message
	}{
		{"plain text", []siotest.Frame{text("4hello")}, []string{"4hello"}, ""},
		{"binary", []siotest.Frame{binary(1, 2, 3, 4)}, []string{"binary:01020304"}, ""},
		{"empty message", []siotest.Frame{text("4")}, []string{"4"}, ""},
		{"unicode", []siotest.Frame{text("4héllo ✓ 😀")}, []string{"4héllo ✓ 😀"}, ""},
		// Over WebSocket a message is a frame: a record separator inside it is data (Engine.IO v4
		// §"WebSocket" frames carry one packet each; only the long-polling payload uses \x1e).
		{"record separator in a message", []siotest.Frame{text("4a\x1eb")}, []string{"4a\x1eb"}, ""},
		{"record separator then base64", []siotest.Frame{text("4a\x1ebAQID")}, []string{"4a\x1ebAQID"}, ""},
		{"text and binary in order", []siotest.Frame{text("4a"), binary(0xff), text("4b"), binary()},
			[]string{"4a", "binary:ff", "4b", "binary:"}, ""},
		{"client ping, noop and upgrade are ignored", []siotest.Frame{text("2"), text("6"), text("5"), text("4x")}, []string{"4x"}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.bug != "" {
				t.Skip("BUG: " + tc.bug)
			}
			srv, app, _ := echoWS(t, handler.Config{})
			c, sid := srv.OpenWS(t)
			sendAll(c, tc.send)
			c.Send("4sentinel")
			readExactly(t, c, append(tc.want, "4sentinel"))
			if st := mustLoad(t, srv, sid); st.Transport != "websocket" {
				t.Fatalf("transport %q after the echo", st.Transport)
			}
			if got := app.got(); len(got) != 0 {
				t.Fatalf("session closed (%q)", got)
			}
		})
	}
}

// TestWSCloses mirrors "message > WebSocket > closes the session upon invalid packet format"
// and "close > WebSocket > forcefully closes the session": the server ends the session, with
// the reason the App sees, and closes the connection without sending anything.
func TestWSCloses(t *testing.T) {
	cases := []struct {
		name   string
		frame  string
		reason string
	}{
		{"invalid packet format", "abc", "parse error"},
		{"empty frame", "", "parse error"},
		{"open packet from the client", "0", "parse error"},
		{"unknown packet type", "9", "parse error"},
		{"close packet", "1", "transport close"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv, app, _ := echoWS(t, handler.Config{})
			c, sid := srv.OpenWS(t)
			c.Send("4before")
			readExactly(t, c, []string{"4before"})
			c.Send(tc.frame)
			assertClosedQuietly(t, c)
			assertGone(t, srv, sid)
			if got := app.got(); len(got) != 1 || got[0] != tc.reason {
				t.Fatalf("close reasons %q, want [%q]", got, tc.reason)
			}
		})
	}
	t.Run("socket.io/close packet", func(t *testing.T) {
		srv, _ := sioWS(t, handler.Config{})
		c, sid := sioConnect(t, srv)
		c.Send("1")
		assertClosedQuietly(t, c)
		assertGone(t, srv, sid)
	})
	t.Run("client closes the WebSocket", func(t *testing.T) {
		srv, app, _ := echoWS(t, handler.Config{})
		c, sid := srv.OpenWS(t)
		c.Close()
		siotest.Until(t, "session closed after the client's close", func() bool {
			_, err := load(t, srv, sid)
			return errors.Is(err, session.ErrNotFound)
		})
		if got := app.got(); len(got) != 1 || got[0] != "transport close" {
			t.Fatalf("close reasons %q, want [transport close]", got)
		}
	})
}

// TestWSHeartbeat mirrors "heartbeat > WebSocket > sends ping/pong packets": each sweep past
// pingInterval since the last pong sends one ping, and each pong restarts the interval.
func TestWSHeartbeat(t *testing.T) {
	srv, app, clock := echoWS(t, handler.Config{})
	c, sid := srv.OpenWS(t)
	if n := srv.Sweep(t); n != 0 {
		t.Fatalf("Sweep at the handshake closed %d sessions", n)
	}
	if mustLoad(t, srv, sid).PingSent {
		t.Fatal("ping sent before pingInterval")
	}
	for i := range 3 {
		clock.Advance(pingInterval)
		if n := srv.Sweep(t); n != 0 {
			t.Fatalf("round %d: Sweep closed %d sessions", i, n)
		}
		if got := c.ReadText(); got != "2" {
			t.Fatalf("round %d: %q, want a ping", i, got)
		}
		if n := srv.Sweep(t); n != 0 {
			t.Fatalf("round %d: second Sweep closed %d sessions", i, n)
		}
		pong := clock.Now()
		c.Send("3")
		siotest.Until(t, "pong recorded", func() bool {
			st := mustLoad(t, srv, sid)
			return !st.PingSent && st.LastPong.Equal(pong)
		})
	}
	// The second sweep of each round sent nothing: the next frame answers this message.
	c.Send("4after")
	readExactly(t, c, []string{"4after"})
	if got := app.got(); len(got) != 0 {
		t.Fatalf("session closed (%q)", got)
	}
}

// TestWSPingTimeout mirrors "heartbeat > WebSocket > closes the session upon ping timeout": a
// client that does not answer the ping is closed by the sweep after pingInterval+pingTimeout.
func TestWSPingTimeout(t *testing.T) {
	srv, app, clock := echoWS(t, handler.Config{})
	c, sid := srv.OpenWS(t)
	clock.Advance(pingInterval)
	srv.Sweep(t)
	if got := c.ReadText(); got != "2" {
		t.Fatalf("%q, want a ping", got)
	}
	clock.Advance(pingTimeout)
	if n := srv.Sweep(t); n != 0 {
		t.Fatalf("Sweep at the deadline closed %d sessions, want 0", n)
	}
	clock.Advance(time.Millisecond)
	if n := srv.Sweep(t); n != 1 {
		t.Fatalf("Sweep past the deadline closed %d sessions, want 1", n)
	}
	assertClosedQuietly(t, c)
	assertGone(t, srv, sid)
	if got := app.got(); len(got) != 1 || got[0] != "ping timeout" {
		t.Fatalf("close reasons %q, want [ping timeout]", got)
	}
}

// TestWSLateFrame: a frame that arrives after the heartbeat deadline, before any sweep, closes
// the session instead of being served.
func TestWSLateFrame(t *testing.T) {
	srv, app, clock := echoWS(t, handler.Config{})
	c, sid := srv.OpenWS(t)
	clock.Advance(pingInterval + pingTimeout + time.Millisecond)
	c.Send("4late")
	assertClosedQuietly(t, c)
	assertGone(t, srv, sid)
	if got := app.got(); len(got) != 1 || got[0] != "ping timeout" {
		t.Fatalf("close reasons %q, want [ping timeout]", got)
	}
}

// TestWSHeartbeatSweeper runs the two heartbeat tests of the suites as they run there: the
// sweeper loop on the real clock, at the suites' pingInterval of 300 ms (the ping/pong case
// with a generous pingTimeout so that a slow machine cannot fail it).
func TestWSHeartbeatSweeper(t *testing.T) {
	apps := []struct {
		name string
		app  func(t *testing.T) handler.App
	}{
		{"engine.io echo", func(*testing.T) handler.App { return handler.Echo{} }},
		{"socket.io", func(t *testing.T) handler.App { return conformanceRouter(t) }},
	}
	for _, app := range apps {
		t.Run(app.name+"/ping/pong", func(t *testing.T) {
			t.Parallel()
			srv := siotest.StartWS(t, app.app(t), handler.Config{PingInterval: 300 * time.Millisecond, PingTimeout: siotest.Wait}, siotest.WSOptions{})
			srv.RunSweeper(t, 10*time.Millisecond)
			c, _ := srv.OpenWS(t)
			for i := range 3 {
				if got := c.ReadText(); got != "2" {
					t.Fatalf("round %d: %q, want a ping", i, got)
				}
				c.Send("3")
			}
		})
		t.Run(app.name+"/ping timeout", func(t *testing.T) {
			t.Parallel()
			srv := siotest.StartWS(t, app.app(t), handler.Config{PingInterval: 300 * time.Millisecond, PingTimeout: 200 * time.Millisecond}, siotest.WSOptions{})
			srv.RunSweeper(t, 10*time.Millisecond)
			c, sid := srv.OpenWS(t)
			frames, _ := c.WaitClose()
			// One ping, or none if the machine stalled the sweeper past the deadline itself.
			if len(frames) > 1 || (len(frames) == 1 && frames[0].String() != "2") {
				t.Fatalf("frames before the close: %q, want at most one ping", frames)
			}
			assertGone(t, srv, sid)
		})
	}
}

// upgradeApps are the two applications the upgrade tests run on, each with a check that the
// upgraded connection carries the application's traffic.
var upgradeApps = []struct {
	name  string
	start func(t *testing.T) *siotest.WSServer
	// queued is posted during the probe; its answers, delivered, must arrive over the WebSocket.
	queued    string
	delivered []string
	check     func(t *testing.T, c *siotest.WSConn)
}{
	{
		name: "engine.io echo",
		start: func(t *testing.T) *siotest.WSServer {
			s, _, _ := echoWS(t, handler.Config{PollHold: 20 * time.Second})
			return s
		},
		queued:    "4queued",
		delivered: []string{"4queued"},
		check: func(t *testing.T, c *siotest.WSConn) {
			c.Send("4hello")
			readExactly(t, c, []string{"4hello"})
		},
	},
	{
		name: "socket.io",
		start: func(t *testing.T) *siotest.WSServer {
			s, _ := sioWS(t, handler.Config{PollHold: 20 * time.Second})
			return s
		},
		queued:    "40/custom,",
		delivered: []string{`40/custom,{"sid":"*`, `42/custom,["auth",{}]`},
		check: func(t *testing.T, c *siotest.WSConn) {
			c.Send("40")
			readExactly(t, c, []string{`40{"sid":"*`, `42["auth",{}]`})
		},
	},
}

// probe opens a WebSocket for the polling session sid and completes "2probe"/"3probe".
func probe(t *testing.T, srv *siotest.WSServer, sid string) *siotest.WSConn {
	t.Helper()
	ws := srv.Dial(t, "EIO=4&transport=websocket&sid="+sid)
	ws.Send("2probe")
	if got := ws.ReadText(); got != "3probe" {
		t.Fatalf("probe answered %q, want 3probe", got)
	}
	return ws
}

// TestWSUpgrade mirrors "upgrade > successfully upgrades from HTTP long-polling to WebSocket"
// (both suites): "2probe" is answered "3probe"; a GET held across the probe and a GET made
// during it answer a noop; "5" moves the session to the WebSocket, which then carries the
// application's traffic, starting with what was queued during the probe.
func TestWSUpgrade(t *testing.T) {
	for _, app := range upgradeApps {
		t.Run(app.name, func(t *testing.T) {
			srv := app.start(t)
			c := srv.Open(t)
			held := make(chan []string, 1)
			go func() { held <- c.Get() }()
			time.Sleep(100 * time.Millisecond) // let the GET start holding; correctness does not depend on it
			ws := probe(t, srv, c.SID)
			select {
			case p := <-held:
				if len(p) != 1 || p[0] != "6" {
					t.Fatalf("held GET answered %q during the probe, want a noop", p)
				}
			case <-time.After(siotest.Wait):
				t.Fatal("held GET not answered during the probe")
			}
			if p := c.Get(); len(p) != 1 || p[0] != "6" {
				t.Fatalf("GET during the probe answered %q, want a noop", p)
			}
			if st := mustLoad(t, srv, c.SID); st.Transport != "polling" || st.Probe == "" {
				t.Fatalf("during the probe: transport %q probe %q", st.Transport, st.Probe)
			}
			// What is queued during the probe waits for the WebSocket.
			c.Post(app.queued)
			if p := c.Get(); len(p) != 1 || p[0] != "6" {
				t.Fatalf("GET during the probe, with packets queued, answered %q, want a noop", p)
			}
			ws.Send("5")
			readExactly(t, ws, app.delivered)
			app.check(t, ws)
			if st := mustLoad(t, srv, c.SID); st.Transport != "websocket" || st.Probe != "" || st.Conn == "" {
				t.Fatalf("after the upgrade: transport %q conn %q probe %q", st.Transport, st.Conn, st.Probe)
			}
		})
	}
}

// TestWSUpgradeThenPollingRefused mirrors "upgrade > ignores HTTP requests with same sid after
// upgrade" (both suites). "5" has no answer, so the GETs that follow it may still find the
// probe: those answer a noop, and once the upgrade is committed a GET gets 400.
func TestWSUpgradeThenPollingRefused(t *testing.T) {
	for _, app := range upgradeApps {
		t.Run(app.name, func(t *testing.T) {
			srv := app.start(t)
			c := srv.Open(t)
			ws := probe(t, srv, c.SID)
			ws.Send("5")
			siotest.Until(t, "a GET refused after the upgrade", func() bool {
				status, body := siotest.Do(t, http.MethodGet, c.URL, "")
				switch {
				case status == http.StatusOK && body == "6":
					return false
				case status == http.StatusBadRequest && body == errorBody(3, "Bad request"):
					return true
				}
				t.Fatalf("GET after 5: %d %q", status, body)
				return false
			})
			if status, body := siotest.Do(t, http.MethodPost, c.URL, "4x"); status != 400 || body != errorBody(3, "Bad request") {
				t.Fatalf("POST after the upgrade: %d %q", status, body)
			}
			app.check(t, ws)
		})
	}
}

// TestWSSecondWebSocketClosed mirrors "upgrade > ignores WebSocket connection with same sid
// after upgrade" (both suites): a second WebSocket for a session that is upgrading or upgraded
// is accepted and closed at once, and the first one carries on.
func TestWSSecondWebSocketClosed(t *testing.T) {
	for _, app := range upgradeApps {
		for _, upgraded := range []bool{false, true} {
			name := app.name + "/during the probe"
			if upgraded {
				name = app.name + "/after the upgrade"
			}
			t.Run(name, func(t *testing.T) {
				srv := app.start(t)
				c := srv.Open(t)
				ws := probe(t, srv, c.SID)
				if upgraded {
					ws.Send("5")
					siotest.Until(t, "upgrade committed", func() bool { return mustLoad(t, srv, c.SID).Transport == "websocket" })
				}
				second := srv.Dial(t, "EIO=4&transport=websocket&sid="+c.SID)
				frames, err := second.WaitClose()
				if len(frames) != 0 || websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
					t.Fatalf("second WebSocket: frames %q, end %v; want none and a policy-violation close", frames, err)
				}
				if !upgraded {
					ws.Send("5")
				}
				app.check(t, ws)
			})
		}
	}
}

// TestWSSecondWebSocketOnWebSocketSession: a WebSocket carrying the sid of a session opened
// over WebSocket is closed at once too, and the session's own connection carries on.
func TestWSSecondWebSocketOnWebSocketSession(t *testing.T) {
	srv, _, _ := echoWS(t, handler.Config{})
	c, sid := srv.OpenWS(t)
	second := srv.Dial(t, "EIO=4&transport=websocket&sid="+sid)
	frames, err := second.WaitClose()
	if len(frames) != 0 || websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
		t.Fatalf("second WebSocket: frames %q, end %v; want none and a policy-violation close", frames, err)
	}
	c.Send("4hello")
	readExactly(t, c, []string{"4hello"})
}

// TestWSSessionRefusesPolling: long-polling requests with the sid of a session opened over
// WebSocket are refused (Engine.IO: a request on another transport than the session's, without
// an upgrade, is a bad request), and the session carries on.
func TestWSSessionRefusesPolling(t *testing.T) {
	srv, app, _ := echoWS(t, handler.Config{})
	c, sid := srv.OpenWS(t)
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		status, body := siotest.Do(t, method, srv.URL+"?EIO=4&transport=polling&sid="+sid, "4x")
		if status != http.StatusBadRequest || body != errorBody(3, "Bad request") {
			t.Fatalf("%s on a WebSocket session: %d %q", method, status, body)
		}
	}
	c.Send("4hello")
	readExactly(t, c, []string{"4hello"})
	if got := app.got(); len(got) != 0 {
		t.Fatalf("session closed (%q)", got)
	}
}

// TestWSProbeAbandoned: a probe that ends before "5" — closed by the client, or closed by the
// server because it sent something other than "2probe", "5" or a noop — leaves the session on
// polling, as if it had not happened (Engine.IO v4 §"Upgrade": the upgrade is optional).
func TestWSProbeAbandoned(t *testing.T) {
	cases := []struct {
		name string
		end  func(t *testing.T, ws *siotest.WSConn)
	}{
		{"closed by the client", func(_ *testing.T, ws *siotest.WSConn) { ws.Close() }},
		{"message before the upgrade", func(t *testing.T, ws *siotest.WSConn) {
			ws.Send("4too early")
			if frames, _ := ws.WaitClose(); len(frames) != 0 {
				t.Fatalf("frames before the probe's close: %q", frames)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv, app, _ := echoWS(t, handler.Config{PollHold: time.Second})
			c := srv.Open(t)
			ws := probe(t, srv, c.SID)
			ws.Send("6") // a noop is allowed during the probe
			tc.end(t, ws)
			siotest.Until(t, "probe forgotten", func() bool { return mustLoad(t, srv, c.SID).Probe == "" })
			c.Post("4still polling")
			if p := c.Get(); len(p) != 1 || p[0] != "4still polling" {
				t.Fatalf("GET after the abandoned probe: %q", p)
			}
			if got := app.got(); len(got) != 0 {
				t.Fatalf("session closed (%q)", got)
			}
		})
	}
}

// TestSIOConnectWS mirrors the five "Socket.IO protocol > connect" tests that connect over
// WebSocket: the main and a custom namespace, with and without an auth payload, and an unknown
// namespace. A sentinel after each case proves that nothing else was sent.
func TestSIOConnectWS(t *testing.T) {
	cases := []struct {
		name     string
		connect  string
		want     []string
		sentinel string
		answer   string
	}{
		{"main namespace", "40", []string{`40{"sid":"*`, `42["auth",{}]`},
			`42["message","end"]`, `42["message-back","end"]`},
		{"main namespace with a payload", `40{"token":"123"}`, []string{`40{"sid":"*`, `42["auth",{"token":"123"}]`},
			`42["message","end"]`, `42["message-back","end"]`},
		{"custom namespace", "40/custom,", []string{`40/custom,{"sid":"*`, `42/custom,["auth",{}]`},
			`42/custom,["message","end"]`, `42/custom,["message-back","end"]`},
		{"custom namespace with a payload", `40/custom,{"token":"abc"}`, []string{`40/custom,{"sid":"*`, `42/custom,["auth",{"token":"abc"}]`},
			`42/custom,["message","end"]`, `42/custom,["message-back","end"]`},
		{"unknown namespace", "40/random", []string{`44/random,{"message":"Invalid namespace"}`},
			"40", `40{"sid":"*`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := sioWS(t, handler.Config{})
			c, sid := srv.OpenWS(t)
			c.Send(tc.connect)
			readExactly(t, c, tc.want)
			c.Send(tc.sentinel)
			readExactly(t, c, []string{tc.answer})
			mustLoad(t, srv, sid)
		})
	}
}

// TestSIOConnectAnswer checks the CONNECT answer's payload as the suite does: an object whose
// only key is "sid", a string, which is not the Engine.IO session id.
func TestSIOConnectAnswer(t *testing.T) {
	for _, nsp := range []string{"", "/custom,"} {
		t.Run("namespace /"+strings.Trim(nsp, "/,"), func(t *testing.T) {
			srv, _ := sioWS(t, handler.Config{})
			c, sid := srv.OpenWS(t)
			c.Send("40" + nsp)
			got := c.ReadText()
			body, ok := strings.CutPrefix(got, "40"+nsp)
			if !ok {
				t.Fatalf("CONNECT answered %q", got)
			}
			var ans map[string]any
			if err := json.Unmarshal([]byte(body), &ans); err != nil {
				t.Fatalf("CONNECT answer %q: %v", got, err)
			}
			id, isString := ans["sid"].(string)
			if len(ans) != 1 || !isString || id == "" || id == sid {
				t.Fatalf("CONNECT payload %s: want {\"sid\": a socket id distinct from the session id}", body)
			}
		})
	}
}

// TestSIOProtocolErrorsCloseWS mirrors "connect > should disallow connection with an invalid
// handshake" and the three "message > should close the connection upon invalid format" tests.
func TestSIOProtocolErrorsCloseWS(t *testing.T) {
	cases := []struct {
		name      string
		connected bool
		frame     string
	}{
		{"invalid handshake", false, "4abc"},
		{"unknown packet type", true, "4abc"},
		{"invalid payload format", true, "42{}"},
		{"invalid ack id", true, `42abc["message-with-ack",1,"2",{"3":[false]}]`},
		{"binary frame without an announcement", true, "\x00binary"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := sioWS(t, handler.Config{})
			var c *siotest.WSConn
			var sid string
			if tc.connected {
				c, sid = sioConnect(t, srv)
			} else {
				c, sid = srv.OpenWS(t)
			}
			if tc.frame[0] == 0 {
				c.SendBinary([]byte(tc.frame[1:]))
			} else {
				c.Send(tc.frame)
			}
			assertClosedQuietly(t, c)
			assertGone(t, srv, sid)
		})
	}
}

// TestSIOConnectTimeoutWS mirrors "connect > should close the connection if no handshake is
// received": a session that connects no namespace within connectTimeout is closed by the sweep,
// and one that did connect is not.
func TestSIOConnectTimeoutWS(t *testing.T) {
	const connectTimeout = 10 * time.Second
	srv, clock := sioWS(t, handler.Config{ConnectTimeout: connectTimeout})
	idle, idleSID := srv.OpenWS(t)
	active, _ := sioConnect(t, srv)
	clock.Advance(connectTimeout)
	if n := srv.Sweep(t); n != 0 {
		t.Fatalf("Sweep at connectTimeout closed %d sessions, want 0", n)
	}
	clock.Advance(time.Millisecond)
	if n := srv.Sweep(t); n != 1 {
		t.Fatalf("Sweep past connectTimeout closed %d sessions, want 1", n)
	}
	assertClosedQuietly(t, idle)
	assertGone(t, srv, idleSID)
	active.Send(`42["message","alive"]`)
	readExactly(t, active, []string{`42["message-back","alive"]`})
}

// TestSIODisconnectMainWS mirrors "disconnect > should disconnect from the main namespace":
// after "41" the server sends nothing until the next ping.
func TestSIODisconnectMainWS(t *testing.T) {
	srv, clock := sioWS(t, handler.Config{})
	c, sid := sioConnect(t, srv)
	c.Send("41")
	siotest.Until(t, "socket of / removed", func() bool { return mustLoad(t, srv, sid).Sockets["/"] == nil })
	clock.Advance(pingInterval)
	srv.Sweep(t)
	if got := c.ReadText(); got != "2" {
		t.Fatalf("after 41: %q, want only the ping", got)
	}
	// Events for the namespace left are ignored; the session stays open.
	c.Send(`42["message","gone"]`)
	c.Send("3")
	c.Send("40")
	readExactly(t, c, []string{`40{"sid":"*`, `42["auth",{}]`})
}

// TestSIOCustomNamespaceWS mirrors "disconnect > should connect then disconnect from a custom
// namespace": after connecting to and leaving /custom, a message to the main namespace is still
// answered.
func TestSIOCustomNamespaceWS(t *testing.T) {
	srv, clock := sioWS(t, handler.Config{})
	c, sid := sioConnect(t, srv)
	clock.Advance(pingInterval)
	srv.Sweep(t)
	if got := c.ReadText(); got != "2" {
		t.Fatalf("%q, want a ping", got)
	}
	c.Send("40/custom")
	readExactly(t, c, []string{`40/custom,{"sid":"*`, `42/custom,["auth",{}]`})
	c.Send("41/custom")
	c.Send(`42["message","message to main namespace"]`)
	readExactly(t, c, []string{`42["message-back","message to main namespace"]`})
	st := mustLoad(t, srv, sid)
	if st.Sockets["/custom"] != nil || st.Sockets["/"] == nil {
		t.Fatalf("sockets after leaving /custom: %v", st.Sockets)
	}
}

// TestSIOMessagesWS mirrors the four "message" tests that exchange events: a plain-text event,
// one with binary attachments (separate binary frames both ways), and both with an ack. A
// sentinel after each case proves that nothing else was sent.
func TestSIOMessagesWS(t *testing.T) {
	const placeholders = `{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}`
	cases := []struct {
		name string
		send []siotest.Frame
		want []string
	}{
		{"plain-text packet", []siotest.Frame{text(`42["message",1,"2",{"3":[true]}]`)},
			[]string{`42["message-back",1,"2",{"3":[true]}]`}},
		{"binary attachments", []siotest.Frame{text(`452-["message",` + placeholders + `]`), binary(1, 2, 3), binary(4, 5, 6)},
			[]string{`452-["message-back",` + placeholders + `]`, "binary:010203", "binary:040506"}},
		{"plain-text packet with an ack", []siotest.Frame{text(`42456["message-with-ack",1,"2",{"3":[false]}]`)},
			[]string{`43456[1,"2",{"3":[false]}]`}},
		{"binary attachments and an ack", []siotest.Frame{text(`452-789["message-with-ack",` + placeholders + `]`), binary(1, 2, 3), binary(4, 5, 6)},
			[]string{`462-789[` + placeholders + `]`, "binary:010203", "binary:040506"}},
		{"custom namespace, binary and an ack", []siotest.Frame{text("40/custom,"), text(`451-/custom,7["message-with-ack",{"_placeholder":true,"num":0},"x"]`), binary(9)},
			[]string{`40/custom,{"sid":"*`, `42/custom,["auth",{}]`, `461-/custom,7[{"_placeholder":true,"num":0},"x"]`, "binary:09"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := sioWS(t, handler.Config{})
			c, sid := sioConnect(t, srv)
			sendAll(c, tc.send)
			c.Send(`42["message","end"]`)
			readExactly(t, c, append(tc.want, `42["message-back","end"]`))
			if st := mustLoad(t, srv, sid); len(st.Pending) != 0 {
				t.Fatalf("pending partial packet left: %q", st.Pending)
			}
		})
	}
}

// TestWSBinaryAttachmentsStored: the announced packet waits in the store between the frames
// that carry its attachments, so any process may receive the next frame.
func TestWSBinaryAttachmentsStored(t *testing.T) {
	srv, _ := sioWS(t, handler.Config{})
	c, sid := sioConnect(t, srv)
	c.Send(`452-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`)
	c.SendBinary([]byte{1})
	siotest.Until(t, "partial packet stored", func() bool {
		p, err := engineio.DecodePayload(mustLoad(t, srv, sid).Pending)
		return err == nil && len(p) == 2 && p[1].Binary
	})
	c.SendBinary([]byte{2})
	readExactly(t, c, []string{`452-["message-back",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`, "binary:01", "binary:02"})
}
