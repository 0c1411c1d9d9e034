package handler_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/serverless-socketio/server/consumers/chat"
	"github.com/serverless-socketio/server/handler"
	"github.com/serverless-socketio/server/internal/siotest"
	"github.com/serverless-socketio/server/session"
	"github.com/serverless-socketio/server/sio"
	"github.com/serverless-socketio/server/store/storetest"
)

// chatServer serves the chat consumer on the memory store.
func chatServer(t *testing.T, cfg handler.Config) *siotest.Server {
	t.Helper()
	return siotest.Start(t, chatApp(t), cfg)
}

// chatServerRedis serves the chat consumer on miniredis: for the tests that count Redis round
// trips or stop the store.
func chatServerRedis(t *testing.T, cfg handler.Config) *siotest.Server {
	t.Helper()
	return siotest.StartRedis(t, chatApp(t), cfg)
}

func chatApp(t *testing.T) *sio.Router {
	t.Helper()
	r := sio.NewRouter(nil)
	if err := r.Register(chat.Consumer{}); err != nil {
		t.Fatal(err)
	}
	return r
}

func errorBody(code int, message string) string {
	b, _ := json.Marshal(map[string]any{"code": code, "message": message})
	return string(b)
}

// TestBadInput drives the handler with malformed or unexpected requests: each gets its Engine.IO
// error, and where the protocol says so the session is closed afterwards.
func TestBadInput(t *testing.T) {
	const maxPayload = 1000
	type check struct {
		method, query, body string
		status              int
		want                string // exact body, or a prefix when it ends with "*"
	}
	cases := []struct {
		name        string
		withSession bool
		steps       []check
		closed      bool // the session must be gone afterwards
	}{
		{name: "no transport", steps: []check{{"GET", "EIO=4", "", 400, errorBody(0, "Transport unknown")}}},
		{name: "unknown transport", steps: []check{{"GET", "EIO=4&transport=abc", "", 400, errorBody(0, "Transport unknown")}}},
		{name: "no EIO", steps: []check{{"GET", "transport=polling", "", 400, errorBody(5, "Unsupported protocol version")}}},
		{name: "EIO 3", steps: []check{{"GET", "EIO=3&transport=polling", "", 400, errorBody(5, "Unsupported protocol version")}}},
		{name: "EIO abc", steps: []check{{"GET", "EIO=abc&transport=polling", "", 400, errorBody(5, "Unsupported protocol version")}}},
		{name: "handshake POST", steps: []check{{"POST", "EIO=4&transport=polling", "4x", 400, errorBody(2, "Bad handshake method")}}},
		{name: "handshake PUT", steps: []check{{"PUT", "EIO=4&transport=polling", "", 400, errorBody(2, "Bad handshake method")}}},
		{name: "unknown sid GET", steps: []check{{"GET", "EIO=4&transport=polling&sid=nope", "", 400, errorBody(1, "Session ID unknown")}}},
		{name: "unknown sid POST", steps: []check{{"POST", "EIO=4&transport=polling&sid=nope", "4x", 400, errorBody(1, "Session ID unknown")}}},
		{name: "PUT with sid", withSession: true, steps: []check{{"PUT", "", "", 400, errorBody(3, "Bad request")}}},
		{name: "undecodable payload", withSession: true, closed: true, steps: []check{{"POST", "", "abc", 400, errorBody(3, "Bad request")}}},
		{name: "empty body", withSession: true, closed: true, steps: []check{{"POST", "", "", 400, errorBody(3, "Bad request")}}},
		{name: "empty packet in payload", withSession: true, closed: true, steps: []check{{"POST", "", "4a\x1e\x1e4b", 400, errorBody(3, "Bad request")}}},
		{name: "bad base64", withSession: true, closed: true, steps: []check{{"POST", "", "b!!!", 400, errorBody(3, "Bad request")}}},
		{name: "open packet from client", withSession: true, closed: true, steps: []check{{"POST", "", "0", 400, errorBody(3, "Bad request")}}},
		{name: "body over maxPayload", withSession: true, closed: true, steps: []check{{"POST", "", "4" + strings.Repeat("x", maxPayload), 413, errorBody(3, "Bad request")}}},
		{name: "undecodable Socket.IO packet", withSession: true, closed: true, steps: []check{{"POST", "", "4{", 400, errorBody(3, "Bad request")}}},
		{name: "Socket.IO event with bad JSON", withSession: true, closed: true, steps: []check{{"POST", "", `42/chat,["x",`, 400, errorBody(3, "Bad request")}}},
		{name: "text where an attachment is due", withSession: true, closed: true, steps: []check{{"POST", "", "451-[\"x\",{\"_placeholder\":true,\"num\":0}]\x1e4x", 400, errorBody(3, "Bad request")}}},
		{name: "too many attachments", withSession: true, closed: true, steps: []check{{"POST", "", `4511-["x",{"_placeholder":true,"num":0}]`, 400, errorBody(3, "Bad request")}}},
		{name: "attachment in the next request", withSession: true, steps: []check{
			{"POST", "", "40/chat,", 200, "ok"},
			{"GET", "", "", 200, `40/chat,*`},
			{"POST", "", `451-/chat,3["chat_message",{"text":"t","b":{"_placeholder":true,"num":0}}]`, 200, "ok"},
			{"POST", "", "bAQID", 200, "ok"},
			{"GET", "", "", 200, "42/chat,[\"chat_message\",{\"text\":\"t\"}]\x1e43/chat,3[{\"status\":\"ok\"}]"},
		}},
		{name: "binary without announcement", withSession: true, closed: true, steps: []check{{"POST", "", "bAQID", 400, errorBody(3, "Bad request")}}},
		{name: "client sends CONNECT_ERROR", withSession: true, closed: true, steps: []check{{"POST", "", `44{"message":"x"}`, 400, errorBody(3, "Bad request")}}},
		{name: "control character in namespace", withSession: true, closed: true, steps: []check{{"POST", "", "40/a\x1f,", 400, errorBody(3, "Bad request")}}},
		// Never echoed back raw in a CONNECT_ERROR (a text frame must be UTF-8, RFC 6455 §8.1).
		{name: "namespace that is not UTF-8", withSession: true, closed: true, steps: []check{{"POST", "", "40/\xff\xfe,", 400, errorBody(3, "Bad request")}}},
		{name: "unknown namespace", withSession: true, steps: []check{
			{"POST", "", "40/nope,", 200, "ok"},
			{"GET", "", "", 200, `44/nope,{"message":"Invalid namespace"}`},
		}},
		{name: "event before connect is ignored", withSession: true, steps: []check{
			{"POST", "", `42/chat,["chat_message",{"text":"x"}]`, 200, "ok"},
			{"POST", "", "40/chat,", 200, "ok"},
			{"GET", "", "", 200, `40/chat,{"sid":*`},
		}},
		{name: "unknown event is ignored", withSession: true, steps: []check{
			{"POST", "", "40/chat,", 200, "ok"},
			{"GET", "", "", 200, `40/chat,*`},
			{"POST", "", `42/chat,3["nope",1]`, 200, "ok"},
			{"POST", "", `42/chat,4["chat_message",{"text":"x"}]`, 200, "ok"},
			{"GET", "", "", 200, "42/chat,[\"chat_message\",{\"text\":\"x\"}]\x1e43/chat,4[{\"status\":\"ok\"}]"},
		}},
		{name: "payload type mismatch drops the event, not the session", withSession: true, steps: []check{
			{"POST", "", "40/chat,", 200, "ok"},
			{"GET", "", "", 200, `40/chat,*`},
			{"POST", "", `42/chat,1["chat_message","not an object"]`, 200, "ok"},
			{"POST", "", `42/chat,2["chat_message",{"text":"y"}]`, 200, "ok"},
			{"GET", "", "", 200, "42/chat,[\"chat_message\",{\"text\":\"y\"}]\x1e43/chat,2[{\"status\":\"ok\"}]"},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := chatServer(t, handler.Config{MaxPayload: maxPayload, PollHold: 200 * time.Millisecond})
			query := ""
			if tc.withSession {
				query = strings.TrimPrefix(srv.Open(t).URL, srv.URL+"?")
			}
			for i, c := range tc.steps {
				q := c.query
				if q == "" {
					q = query
				}
				status, body := siotest.Do(t, c.method, srv.URL+"?"+q, c.body)
				match := body == c.want
				if prefix, ok := strings.CutSuffix(c.want, "*"); ok {
					match = strings.HasPrefix(body, prefix)
				}
				if status != c.status || !match {
					t.Fatalf("step %d: %s %q: got %d %q, want %d %q", i, c.method, c.body, status, body, c.status, c.want)
				}
			}
			if tc.closed {
				status, body := siotest.Do(t, "GET", srv.URL+"?"+query, "")
				if status != 400 || body != errorBody(1, "Session ID unknown") {
					t.Fatalf("session still open: %d %q", status, body)
				}
			}
		})
	}
}

func TestHandshake(t *testing.T) {
	srv := chatServer(t, handler.Config{PingInterval: 300 * time.Millisecond, PingTimeout: 200 * time.Millisecond})
	status, body := siotest.Do(t, "GET", srv.URL+"?EIO=4&transport=polling", "")
	if status != 200 || body[0] != '0' {
		t.Fatalf("%d %q", status, body)
	}
	var open map[string]any
	if err := json.Unmarshal([]byte(body[1:]), &open); err != nil {
		t.Fatal(err)
	}
	sid, _ := open["sid"].(string)
	if len(sid) < 22 {
		t.Fatalf("sid %q: want at least 128 bits", sid)
	}
	want := map[string]any{"sid": sid, "upgrades": []any{}, "pingInterval": 300.0, "pingTimeout": 200.0, "maxPayload": 1e6}
	if got, _ := json.Marshal(open); string(got) != mustJSON(want) {
		t.Fatalf("open packet %s, want %s", got, mustJSON(want))
	}
}

func mustJSON(v any) string { b, _ := json.Marshal(v); return string(b) }

func TestChatOverPolling(t *testing.T) {
	srv := chatServer(t, handler.Config{})
	a, b := srv.Open(t), srv.Open(t)
	_, welcomeA := a.Connect("/chat")
	_, welcomeB := b.Connect("/chat")
	welcome := `42/chat,["system_message",{"text":"Welcome!"}]`
	if len(welcomeA) != 1 || welcomeA[0] != welcome || len(welcomeB) != 1 || welcomeB[0] != welcome {
		t.Fatalf("welcome: %q / %q", welcomeA, welcomeB)
	}
	a.Post(`42/chat,7["chat_message",{"text":"héllo ✓"}]`)
	msg := `42/chat,["chat_message",{"text":"héllo ✓"}]`
	if got := a.Get(); len(got) != 2 || got[0] != msg || got[1] != `43/chat,7[{"status":"ok"}]` {
		t.Fatalf("sender got %q", got)
	}
	if got := b.Get(); len(got) != 1 || got[0] != msg {
		t.Fatalf("other got %q", got)
	}
}

// TestHeldPollWakes checks that a GET held with nothing queued returns as soon as another session
// broadcasts to its room, and that the held GET answers a noop when its hold ends.
func TestHeldPollWakes(t *testing.T) {
	srv := chatServer(t, handler.Config{PollHold: 5 * time.Second})
	a, b := srv.Open(t), srv.Open(t)
	a.Connect("/chat")
	b.Connect("/chat")
	got := make(chan []string, 1)
	go func() { got <- b.Get() }()
	time.Sleep(100 * time.Millisecond) // let the GET start holding; correctness does not depend on it
	a.Post(`42/chat,["chat_message",{"text":"wake"}]`)
	select {
	case p := <-got:
		if len(p) != 1 || p[0] != `42/chat,["chat_message",{"text":"wake"}]` {
			t.Fatalf("woken GET returned %q", p)
		}
	case <-time.After(4 * time.Second):
		t.Fatal("held GET not woken by a broadcast")
	}

	short := chatServer(t, handler.Config{PollHold: 100 * time.Millisecond})
	c := short.Open(t)
	if p := c.Get(); len(p) != 1 || p[0] != "6" {
		t.Fatalf("GET at the end of the hold returned %q, want noop", p)
	}
}

func TestHeartbeat(t *testing.T) {
	srv := chatServer(t, handler.Config{PingInterval: 200 * time.Millisecond, PingTimeout: 5 * time.Second})
	c := srv.Open(t)
	for i := range 3 {
		if p := c.Get(); len(p) != 1 || p[0] != "2" {
			t.Fatalf("GET %d returned %q, want a ping", i, p)
		}
		c.Post("3")
	}
}

// TestPingTimeout: a session without a pong for pingInterval+pingTimeout is dead (on a clock the
// test moves, so the machine's load cannot change the outcome).
func TestPingTimeout(t *testing.T) {
	clock := storetest.NewClock()
	srv := chatServer(t, handler.Config{PingInterval: 25 * time.Second, PingTimeout: 20 * time.Second, Now: clock.Now})
	alive, dead := srv.Open(t), srv.Open(t)
	clock.Advance(30 * time.Second)
	alive.Post("3")
	clock.Advance(15*time.Second + time.Millisecond)
	if status, body := siotest.Do(t, "GET", dead.URL, ""); status != 400 || body != errorBody(1, "Session ID unknown") {
		t.Fatalf("GET after ping timeout: %d %q", status, body)
	}
	if status, body := siotest.Do(t, "POST", alive.URL, "3"); status != 200 || body != "ok" {
		t.Fatalf("POST on a session that ponged: %d %q", status, body)
	}
}

// TestDuplicatePollClosesSession: a second GET while one is held is a protocol error that ends
// the session; the held GET answers a close packet. With the official suite's timing too (a
// second GET 5 ms after the first, pingInterval 300 ms): the second GET must not wait for the
// held one to answer its ping and let go.
func TestDuplicatePollClosesSession(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cfg   handler.Config
		after time.Duration
	}{
		{"default", handler.Config{PollHold: 5 * time.Second}, 100 * time.Millisecond},
		{"suite timing", handler.Config{PingInterval: 300 * time.Millisecond, PingTimeout: 200 * time.Millisecond}, 5 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := chatServer(t, tc.cfg)
			c := srv.Open(t)
			first := make(chan []string, 1)
			go func() { first <- c.Get() }()
			time.Sleep(tc.after)
			if status, body := siotest.Do(t, "GET", c.URL, ""); status != 400 || body != errorBody(3, "Bad request") {
				t.Fatalf("second GET: %d %q", status, body)
			}
			select {
			case p := <-first:
				if len(p) != 1 || p[0] != "1" {
					t.Fatalf("held GET answered %q, want a close packet", p)
				}
			case <-time.After(4 * time.Second):
				t.Fatal("held GET not answered")
			}
			if status, _ := siotest.Do(t, "GET", c.URL, ""); status != 400 {
				t.Fatalf("third GET: %d, want 400", status)
			}
		})
	}
}

func TestClientClose(t *testing.T) {
	srv := chatServer(t, handler.Config{PollHold: 5 * time.Second})
	c := srv.Open(t)
	held := make(chan []string, 1)
	go func() { held <- c.Get() }()
	time.Sleep(100 * time.Millisecond)
	c.Post("1")
	if p := <-held; len(p) != 1 || p[0] != "6" {
		t.Fatalf("held GET answered %q, want noop", p)
	}
	if status, _ := siotest.Do(t, "GET", c.URL, ""); status != 400 {
		t.Fatalf("GET after close: %d", status)
	}
}

// abandonGet sends a GET to url, waits until cancelAt returns, then cancels it as a client that gives up,
// and waits until store shows the session closed ("transport error"): on the store, not over
// HTTP, since a GET racing the close would find the abandoned hold and fail for that reason.
func abandonGet(t *testing.T, url, sid string, store session.Store, cancelAt func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	cancelAt()
	cancel()
	<-done
	var closed *session.ClosedError
	siotest.Until(t, "session closed after its GET was cancelled", func() bool {
		_, err := store.Load(context.Background(), sid)
		return errors.As(err, &closed)
	})
	if closed.Reason != "transport error" {
		t.Fatalf("close reason %q, want transport error", closed.Reason)
	}
}

func TestCancelledPollClosesSession(t *testing.T) {
	srv := chatServer(t, handler.Config{PollHold: 5 * time.Second})
	c := srv.Open(t)
	abandonGet(t, c.URL, c.SID, srv.Store, func() { time.Sleep(100 * time.Millisecond) })
	// A noop is owed only to a close the client asked for, not to an abandoned poll.
	if status, body := siotest.Do(t, "GET", c.URL, ""); status != 400 || body != errorBody(1, "Session ID unknown") {
		t.Fatalf("GET after the cancelled one: %d %q, want the session unknown", status, body)
	}
}

func TestStoreDown(t *testing.T) {
	srv := chatServerRedis(t, handler.Config{})
	c := srv.Open(t)
	srv.Redis.Close()
	for _, m := range []string{"GET", "POST"} {
		status, body := siotest.Do(t, m, c.URL, "40/chat,")
		if status != http.StatusServiceUnavailable || !strings.Contains(body, "Store unavailable") {
			t.Fatalf("%s with the store down: %d %q", m, status, body)
		}
	}
	if status, _ := siotest.Do(t, "GET", srv.URL+"?EIO=4&transport=polling", ""); status != http.StatusServiceUnavailable {
		t.Fatalf("handshake with the store down: %d", status)
	}
}

// recorder is a consumer that records its Disconnect reasons.
type recorder struct {
	mu      sync.Mutex
	reasons map[string][]string // by socket id
}

func (*recorder) Namespace() string { return "/chat" }
func (r *recorder) Disconnect(ctx context.Context, s *sio.Socket, reason string) {
	r.mu.Lock()
	r.reasons[s.ID()] = append(r.reasons[s.ID()], reason)
	r.mu.Unlock()
	_ = s.Server().Emit("left", s.ID(), sio.To("lobby"))
}
func (r *recorder) Connect(ctx context.Context, s *sio.Socket, auth json.RawMessage) error {
	s.Join("lobby")
	return nil
}
func (r *recorder) got(id string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.reasons[id]...)
}

func TestDisconnectReasons(t *testing.T) {
	var clock *storetest.Clock
	var witness *siotest.Client
	cases := []struct {
		name   string
		end    func(srv *siotest.Server, c *siotest.Client)
		reason string
	}{
		{"namespace disconnect", func(_ *siotest.Server, c *siotest.Client) { c.Post("41/chat,") }, "client namespace disconnect"},
		{"close packet", func(_ *siotest.Server, c *siotest.Client) { c.Post("1") }, "transport close"},
		{"parse error", func(_ *siotest.Server, c *siotest.Client) { siotest.Do(t, "POST", c.URL, "x") }, "parse error"},
		{"ping timeout (sweeper)", func(srv *siotest.Server, c *siotest.Client) {
			if n, err := srv.Engine.Sweep(context.Background(), 10); err != nil || n != 0 {
				t.Fatalf("Sweep before the deadline = %d, %v", n, err)
			}
			clock.Advance(30 * time.Second)
			witness.Post("3")
			clock.Advance(15*time.Second + time.Millisecond)
			if n, err := srv.Engine.Sweep(context.Background(), 10); err != nil || n != 1 {
				t.Fatalf("Sweep = %d, %v; want 1 session closed", n, err)
			}
		}, "ping timeout"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{reasons: map[string][]string{}}
			r := sio.NewRouter(nil)
			if err := r.Register(rec); err != nil {
				t.Fatal(err)
			}
			clock = storetest.NewClock()
			srv := siotest.Start(t, r, handler.Config{Now: clock.Now, PollHold: time.Second})
			c := srv.Open(t)
			witness = srv.Open(t)
			id, _ := c.Connect("/chat")
			witness.Connect("/chat")
			tc.end(srv, c)
			if got := rec.got(id); len(got) != 1 || got[0] != tc.reason {
				t.Fatalf("Disconnect reasons %q, want [%q]", got, tc.reason)
			}
			// The Disconnect hook's broadcast was committed; the gone socket left the lobby.
			found := false
			for range 3 {
				for _, p := range witness.Get() {
					if p == `42/chat,["left",`+mustJSON(id)+`]` {
						found = true
					}
				}
				if found {
					break
				}
			}
			if !found {
				t.Fatal("the Disconnect hook's broadcast did not arrive")
			}
		})
	}
}

// TestRoundTrips counts Redis round trips per request kind (after the scripts are cached). A GET
// whose session's previous GET another process served reads the store; one that follows this
// process's own GET takes over the feed it left, and does not.
func TestRoundTrips(t *testing.T) {
	srv := chatServerRedis(t, handler.Config{})
	other := srv.Another(t, chatApp(t), handler.Config{})
	a, b := srv.Open(t), srv.Open(t)
	a.Connect("/chat")
	b.Connect("/chat")
	bOther := b.On(other)
	a.Post(`42/chat,1["chat_message",{"text":"warm"}]`)
	a.Get()
	bOther.Get() // the other process follows b's channels from now on
	a.Post(`42/chat,1["chat_message",{"text":"warm again"}]`)
	b.Get()
	// A GET's answer reaches the client before its lease's release: none in the counts below.
	srv.Released(t, a.SID)
	srv.Released(t, b.SID)

	count := func(f func()) int64 {
		before := srv.RoundTrips.Load()
		f()
		return srv.RoundTrips.Load() - before
	}
	if n := count(func() { srv.Open(t) }); n != 1 {
		t.Errorf("handshake: %d round trips, want 1", n)
	}
	if n := count(func() { a.Post(`42/chat,2["chat_message",{"text":"x"}]`) }); n != 2 {
		t.Errorf("POST with an event: %d round trips, want 2 (load + commit)", n)
	}
	get := func() (commands, trips int64) {
		srv.Released(t, b.SID) // the GET before has let go
		c0, t0 := srv.Commands.Load(), srv.RoundTrips.Load()
		bOther.Get()
		srv.Released(t, b.SID)
		return srv.Commands.Load() - c0, srv.RoundTrips.Load() - t0
	}
	if n, trips := get(); n != 4 || trips != 2 {
		t.Errorf("GET that finds packets, the session's last GET served elsewhere: %d commands in %d round trips, want 4 in 2 (the lease's two plain commands and the read in one pipeline; the ack with the lease's release)", n, trips)
	}
	a.Post(`42/chat,3["chat_message",{"text":"y"}]`)
	bOther.Get() // leaves its feed on the other process
	a.Post(`42/chat,4["chat_message",{"text":"z"}]`)
	if n, trips := get(); n != 3 || trips != 2 {
		t.Errorf("GET that finds packets after this process's own GET: %d commands in %d round trips, want 3 in 2 (the lease's two, ack)", n, trips)
	}
	unknown := func() (commands, trips int64) {
		c0, t0 := srv.Commands.Load(), srv.RoundTrips.Load()
		if status, body := siotest.Do(t, "GET", srv.URL+"?EIO=4&transport=polling&sid=nope", ""); status != 400 || body != errorBody(1, "Session ID unknown") {
			t.Fatalf("GET for an unknown sid: %d %s", status, body)
		}
		return srv.Commands.Load() - c0, srv.RoundTrips.Load() - t0
	}
	if n, trips := unknown(); n != 3 || trips != 1 {
		t.Errorf("GET for an unknown sid: %d commands in %d round trips, want 3 in 1 (the lease's two and the read, which lets the lease go)", n, trips)
	}
	for _, k := range srv.Redis.Keys() {
		if strings.Contains(k, "{nope}") {
			t.Errorf("a GET for an unknown sid left key %q", k)
		}
	}
	t.Logf("handshake 1, POST 2, GET with packets 2 round trips (4 commands; 3 after the same process's GET: no read), GET for an unknown sid 1")
}

func TestShutdownAnswersHeldPolls(t *testing.T) {
	shutdown := make(chan struct{})
	srv := chatServer(t, handler.Config{PollHold: 20 * time.Second, Shutdown: shutdown})
	c := srv.Open(t)
	held := make(chan []string, 1)
	go func() { held <- c.Get() }()
	time.Sleep(100 * time.Millisecond)
	close(shutdown)
	select {
	case p := <-held:
		if len(p) != 1 || p[0] != "6" {
			t.Fatalf("held GET answered %q at shutdown, want noop", p)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("held GET not answered at shutdown")
	}
	// The session survives for another process to serve.
	c.Post("3")
}

// TestCORS: a listed origin gets itself with credentials; "*" means a literal "*" without
// credentials (as the Node server answers); "null" never gets credentials, even when listed.
func TestCORS(t *testing.T) {
	srv := chatServer(t, handler.Config{})
	listed := handler.OriginPolicy{Allow: []string{"https://app.example", "null"}}.CORS()(srv.Engine)
	star := handler.OriginPolicy{Allow: []string{"*"}}.CORS()(srv.Engine)
	both := handler.OriginPolicy{Allow: []string{"*", "https://app.example/"}}.CORS()(srv.Engine)
	none := handler.OriginPolicy{}.CORS()(srv.Engine)
	cases := []struct {
		name          string
		h             http.Handler
		method        string
		origin        string
		status        int
		allow, creds  string
		allowsMethods bool
	}{
		{"listed GET", listed, "GET", "https://app.example", 200, "https://app.example", "true", false},
		{"unlisted GET", listed, "GET", "https://evil.example", 200, "", "", false},
		{"listed preflight", listed, "OPTIONS", "https://app.example", 204, "https://app.example", "true", true},
		{"unlisted preflight", listed, "OPTIONS", "https://evil.example", 204, "", "", false},
		{"listed null", listed, "OPTIONS", "null", 204, "", "", false},
		{"star GET", star, "GET", "https://evil.example", 200, "*", "", false},
		{"star preflight", star, "OPTIONS", "https://evil.example", 204, "*", "", true},
		{"star null", star, "OPTIONS", "null", 204, "*", "", true},
		{"star and a list: listed", both, "GET", "https://app.example", 200, "https://app.example", "true", false},
		{"star and a list: other", both, "GET", "https://evil.example", 200, "*", "", false},
		{"no list", none, "OPTIONS", "https://app.example", 204, "", "", false},
	}
	for _, tc := range cases {
		req := httptest.NewRequest(tc.method, "/socket.io/?EIO=4&transport=polling", nil)
		req.Header.Set("Origin", tc.origin)
		if tc.method == "OPTIONS" {
			req.Header.Set("Access-Control-Request-Method", "POST")
		}
		rec := httptest.NewRecorder()
		tc.h.ServeHTTP(rec, req)
		h := rec.Header()
		if rec.Code != tc.status || h.Get("Access-Control-Allow-Origin") != tc.allow || h.Get("Access-Control-Allow-Credentials") != tc.creds {
			t.Errorf("%s: %d, allow-origin %q, allow-credentials %q; want %d, %q, %q", tc.name, rec.Code,
				h.Get("Access-Control-Allow-Origin"), h.Get("Access-Control-Allow-Credentials"), tc.status, tc.allow, tc.creds)
		}
		if got := h.Get("Access-Control-Allow-Methods") != ""; got != tc.allowsMethods {
			t.Errorf("%s: Allow-Methods sent %v, want %v", tc.name, got, tc.allowsMethods)
		}
	}
}

// TestWebSocketOrigin: the Origin rule of WebSocket upgrades (RFC 6455 §10.2).
func TestWebSocketOrigin(t *testing.T) {
	list := handler.OriginPolicy{Allow: []string{"https://app.example", "null", "*"}}
	cases := []struct {
		name         string
		p            handler.OriginPolicy
		origin, host string
		ok           bool
	}{
		{"no Origin (not a browser)", list, "", "chat.example", true},
		{"own host", handler.OriginPolicy{}, "https://chat.example", "chat.example", true},
		{"own host, other scheme", handler.OriginPolicy{}, "http://CHAT.example", "chat.example", true},
		{"own host, other port", handler.OriginPolicy{}, "https://chat.example:8443", "chat.example", false},
		{"listed", list, "https://app.example", "chat.example", true},
		{"unlisted", list, "https://evil.example", "chat.example", false},
		{"star admits no WebSocket", handler.OriginPolicy{Allow: []string{"*"}}, "https://evil.example", "chat.example", false},
		{"null", list, "null", "chat.example", false},
		{"garbage", list, "%zz", "chat.example", false},
		{"opt-out", handler.OriginPolicy{AnyWebSocket: true}, "https://evil.example", "chat.example", true},
	}
	for _, tc := range cases {
		err := tc.p.CheckWebSocket(tc.origin, tc.host)
		if (err == nil) != tc.ok {
			t.Errorf("%s: %v, want allowed=%v", tc.name, err, tc.ok)
		}
		var re *handler.RequestError
		if err != nil && (!errors.As(err, &re) || re.Status != 403 || string(re.Body()) != errorBody(4, "Forbidden")) {
			t.Errorf("%s: refusal %#v", tc.name, err)
		}
	}
}

// TestClientCloseBeforeGet: the close packet's POST may be served before the GET the client
// sent with it; that GET still gets its noop, and only later requests find the session unknown.
func TestClientCloseBeforeGet(t *testing.T) {
	srv := chatServer(t, handler.Config{})
	c := srv.Open(t)
	c.Post("1")
	if p := c.Get(); len(p) != 1 || p[0] != "6" {
		t.Fatalf("GET after the close: %q, want noop", p)
	}
	if status, body := siotest.Do(t, "GET", c.URL, ""); status != 400 || body != errorBody(1, "Session ID unknown") {
		t.Fatalf("second GET after the close: %d %q", status, body)
	}
}

// TestRoundTripsWaitingGet counts the Redis round trips of a GET that finds nothing and waits
// out its hold: its lease, its read, then the release at the end. The first GET of a session on
// a process also reads once more after subscribing (an event may have come before the
// subscription was active); the next one takes over the feed the first left (its session's last
// GET was this process's), and reads nothing: its lease and its release.
func TestRoundTripsWaitingGet(t *testing.T) {
	origin := chatServerRedis(t, handler.Config{PollHold: 300 * time.Millisecond})
	srv := origin.Another(t, chatApp(t), handler.Config{PollHold: 300 * time.Millisecond})
	c := origin.Open(t)
	c.Connect("/chat")
	c = c.On(srv)
	count := func() int64 {
		before := origin.Commands.Load()
		if p := c.Get(); len(p) != 1 || p[0] != "6" {
			t.Fatalf("GET answered %q, want a noop at the end of the hold", p)
		}
		origin.Released(t, c.SID)
		return origin.Commands.Load() - before
	}
	// The first also subscribes (the counter sees the pub/sub connection's commands too).
	first := count()
	if first < 4 {
		t.Errorf("first waiting GET: %d commands, want at least 4 (lease, read, read after subscribing, release)", first)
	}
	if n := count(); n != 3 {
		t.Errorf("next waiting GET: %d commands, want 3 (the lease's two plain commands, release)", n)
	}
	t.Logf("waiting GET: %d commands the first time, 3 after", first)
}

// TestParkedFeedAcrossProcesses: a GET's feed, parked for the session's next GET, is not used
// when a GET on another process came in between: every packet arrives once, in order, however
// the GETs alternate between the processes, and the one that follows its own GET reads nothing.
func TestParkedFeedAcrossProcesses(t *testing.T) {
	a := chatServerRedis(t, handler.Config{PollHold: 2 * time.Second})
	b := a.Another(t, chatApp(t), handler.Config{PollHold: 2 * time.Second})
	sender, member := a.Open(t), a.Open(t)
	sender.Connect("/chat")
	member.Connect("/chat")
	get := func(s *siotest.Server) []string {
		t.Helper()
		status, body := siotest.Do(t, http.MethodGet, member.On(s).URL, "")
		if status != http.StatusOK {
			t.Fatalf("GET: %d %q", status, body)
		}
		return strings.Split(body, "\x1e")
	}
	send := func(text string) {
		t.Helper()
		if status, body := siotest.Do(t, http.MethodPost, sender.URL, chatMsg(text)); status != http.StatusOK || body != "ok" {
			t.Fatalf("POST: %d %q", status, body)
		}
	}
	for i, via := range []*siotest.Server{a, a, b, a, b, b, a} {
		text := fmt.Sprint(i)
		send(text)
		before := a.Commands.Load()
		if got := get(via); len(got) != 1 || got[0] != chatMsg(text) {
			t.Fatalf("GET %d: %q, want only %q", i, got, chatMsg(text))
		}
		a.Released(t, member.SID)
		if n := a.Commands.Load() - before; i == 1 && n != 3 {
			t.Errorf("GET %d, after this process's own GET: %d commands, want 3 (the lease's two plain commands, ack): no read", i, n)
		}
	}
}

// TestPollWatchesNewRooms: a held GET whose session joins a room (by a POST on the side, with
// nothing sent to the session) answers what is then broadcast to the room at once, not at the
// end of its hold.
func TestPollWatchesNewRooms(t *testing.T) {
	srv := siotest.Start(t, chatRouter(t, roomsConsumer{}), handler.Config{PollHold: 20 * time.Second})
	a, b := srv.Open(t), srv.Open(t)
	a.Connect("/rooms")
	b.Connect("/rooms")
	held := make(chan []string, 1)
	go func() { held <- a.Get() }()
	time.Sleep(50 * time.Millisecond) // let the GET start holding; correctness does not depend on it
	a.Post(`42/rooms,["join",{"room":"r"}]`)
	time.Sleep(50 * time.Millisecond) // let the held GET learn of the room
	b.Post(`42/rooms,["say",{"room":"r","text":"hi"}]`)
	select {
	case p := <-held:
		if len(p) != 1 || p[0] != `42/rooms,["said","hi"]` {
			t.Fatalf("held GET answered %q, want the message to the room", p)
		}
	case <-time.After(siotest.Wait):
		t.Fatal("held GET not answered after a broadcast to a room its session joined")
	}
}
