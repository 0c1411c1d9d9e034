package localgw_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/coder/websocket"
	goredis "github.com/redis/go-redis/v9"

	"github.com/serverless-socketio/server/consumers/chat"
	"github.com/serverless-socketio/server/handler"
	"github.com/serverless-socketio/server/internal/siotest"
	"github.com/serverless-socketio/server/session"
	"github.com/serverless-socketio/server/sio"
	"github.com/serverless-socketio/server/store/storetest"
)

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), siotest.Wait)
	t.Cleanup(cancel)
	return c
}

func mustLoad(t *testing.T, srv *siotest.WSServer, sid string) *session.State {
	t.Helper()
	st, err := srv.Store.Load(ctx(t), sid)
	if err != nil {
		t.Fatalf("session %s: %v", sid, err)
	}
	return st
}

func gone(t *testing.T, srv *siotest.WSServer, sid string) bool {
	t.Helper()
	_, err := srv.Store.Load(ctx(t), sid)
	return errors.Is(err, session.ErrNotFound)
}

// expect reads len(want) frames and compares them with want, where an entry ending in "*"
// matches by prefix.
func expect(t *testing.T, c *siotest.WSConn, want ...string) {
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

// owner is the gateway instance a connection id belongs to.
func owner(t *testing.T, conn string) string {
	t.Helper()
	o, _, ok := strings.Cut(conn, ".")
	if !ok || o == "" {
		t.Fatalf("connection id %q names no instance", conn)
	}
	return o
}

func miniRedis(t *testing.T) *goredis.Client {
	t.Helper()
	mr := miniredis.RunT(t)
	rdb := goredis.NewClient(&goredis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

// TestSendByConnectionID checks the Sender side of one gateway on miniredis: frames and closes
// reach a connection it holds, and a connection id of another instance, or of no instance, is
// ErrGone (API Gateway's GoneException) — with no relay, and with a relay whose channel for that
// instance nobody listens to.
func TestSendByConnectionID(t *testing.T) {
	for _, relay := range []bool{false, true} {
		t.Run(fmt.Sprintf("relay=%v", relay), func(t *testing.T) {
			var opt siotest.WSOptions
			if relay {
				opt.Redis = miniRedis(t)
			}
			srv := siotest.StartWS(t, handler.Echo{}, handler.Config{}, opt)
			c, sid := srv.OpenWS(t)
			conn := mustLoad(t, srv, sid).Conn
			instance := owner(t, conn)

			if err := srv.Gateway.Send(ctx(t), conn, []byte("4direct"), false); err != nil {
				t.Fatalf("Send to a held connection: %v", err)
			}
			if err := srv.Gateway.Send(ctx(t), conn, []byte{7, 8}, true); err != nil {
				t.Fatalf("binary Send to a held connection: %v", err)
			}
			expect(t, c, "4direct", "binary:0708")

			others := []string{"other-instance." + strings.TrimPrefix(conn, instance+"."), "no-instance", ".x", ""}
			if !relay {
				// With a relay a frame for this instance is handed to Redis; only the owner knows
				// its connections, so Send returns once Redis has it.
				others = append(others, instance+".unknown")
			}
			for _, id := range others {
				if err := srv.Gateway.Send(ctx(t), id, []byte("4x"), false); !errors.Is(err, handler.ErrGone) {
					t.Errorf("Send to %q: %v, want ErrGone", id, err)
				}
				if err := srv.Gateway.Close(ctx(t), id); !errors.Is(err, handler.ErrGone) {
					t.Errorf("Close of %q: %v, want ErrGone", id, err)
				}
			}

			// Nothing was sent to the held connection meanwhile; Close then ends it, and its
			// $disconnect ends the session.
			c.Send("4sentinel")
			expect(t, c, "4sentinel")
			if err := srv.Gateway.Close(ctx(t), conn); err != nil {
				t.Fatalf("Close of a held connection: %v", err)
			}
			if frames, _ := c.WaitClose(); len(frames) != 0 {
				t.Fatalf("frames before the close: %q", frames)
			}
			siotest.Until(t, "session ended by $disconnect", func() bool { return gone(t, srv, sid) })
		})
	}
}

// TestServerCloseHandshake: when the server ends a session (here a parse error), the client
// gets a close frame with 1000, never a connection dropped without one (a browser's 1006).
// The race it guards against is rare, hence several rounds.
func TestServerCloseHandshake(t *testing.T) {
	srv := siotest.StartWS(t, handler.Echo{}, handler.Config{}, siotest.WSOptions{})
	for i := range 400 {
		c, _ := srv.OpenWS(t)
		c.Send("abc")
		if _, err := c.WaitClose(); websocket.CloseStatus(err) != websocket.StatusNormalClosure {
			t.Fatalf("round %d: the connection ended with %v, want a 1000 close frame", i, err)
		}
	}
}

// TestMaxFrame: a frame over the limit (cmd/local's maxPayload) closes the connection with 1009
// and ends the session; a frame at the limit is served.
func TestMaxFrame(t *testing.T) {
	const limit = 1000
	srv := siotest.StartWS(t, handler.Echo{}, handler.Config{MaxPayload: limit}, siotest.WSOptions{})
	c, sid := srv.OpenWS(t)
	atLimit := "4" + strings.Repeat("a", limit-1)
	c.Send(atLimit)
	expect(t, c, atLimit)
	c.Send(atLimit + "b")
	frames, err := c.WaitClose()
	if len(frames) != 0 || websocket.CloseStatus(err) != websocket.StatusMessageTooBig {
		t.Fatalf("after a frame over the limit: frames %q, end %v; want none and 1009", frames, err)
	}
	siotest.Until(t, "session ended", func() bool { return gone(t, srv, sid) })
}

// TestShutdown: Shutdown closes every held connection with 1001 (going away).
func TestShutdown(t *testing.T) {
	srv := siotest.StartWS(t, handler.Echo{}, handler.Config{}, siotest.WSOptions{})
	a, _ := srv.OpenWS(t)
	b, _ := srv.OpenWS(t)
	done := make(chan struct{})
	go func() { defer close(done); srv.Gateway.Shutdown() }() // it waits for the clients' close replies
	for i, c := range []*siotest.WSConn{a, b} {
		frames, err := c.WaitClose()
		if len(frames) != 0 || websocket.CloseStatus(err) != websocket.StatusGoingAway {
			t.Fatalf("connection %d: frames %q, end %v; want none and 1001", i, frames, err)
		}
	}
	select {
	case <-done:
	case <-time.After(siotest.Wait):
		t.Fatal("Shutdown did not return")
	}
}

// TestStoreDown: a $connect that fails on the store is answered 503, not upgraded.
func TestStoreDown(t *testing.T) {
	srv := siotest.StartWS(t, handler.Echo{}, handler.Config{}, siotest.WSOptions{Miniredis: true})
	srv.Redis.Close()
	status, body := srv.DialRefused(t, "EIO=4&transport=websocket")
	if status != http.StatusServiceUnavailable || !strings.Contains(body, "Store unavailable") {
		t.Fatalf("with the store down: %d %q", status, body)
	}
}

// TestFrameOrder: frames to one connection leave in the order of the Send calls that carry
// them; the echo answers a burst in order.
func TestFrameOrder(t *testing.T) {
	srv := siotest.StartWS(t, handler.Echo{}, handler.Config{}, siotest.WSOptions{})
	c, _ := srv.OpenWS(t)
	const n = 200
	want := make([]string, n)
	for i := range n {
		want[i] = fmt.Sprintf("4m%d", i)
		c.Send(want[i])
	}
	expect(t, c, want...)
}

// TestRelay runs the cross-process relay on one miniredis: two gateways (two "processes")
// serving the same sessions.
func TestRelay(t *testing.T) {
	relayAcrossProcesses(t, miniRedis(t))
}

// TestRelayRealRedis runs the cross-process relay on the real Redis at SIO_TEST_REDIS_URL
// (CI: redis://127.0.0.1:6379/0), under a key prefix of its own that it deletes afterwards.
func TestRelayRealRedis(t *testing.T) {
	url := os.Getenv("SIO_TEST_REDIS_URL")
	if url == "" {
		t.Skip("SIO_TEST_REDIS_URL is not set")
	}
	opt, err := goredis.ParseURL(url)
	if err != nil {
		t.Fatalf("SIO_TEST_REDIS_URL: %v", err)
	}
	rdb := goredis.NewClient(opt)
	t.Cleanup(func() { rdb.Close() })
	if err := rdb.Ping(ctx(t)).Err(); err != nil {
		t.Fatalf("Redis at %s: %v", url, err)
	}
	relayAcrossProcesses(t, rdb)
}

// relayAcrossProcesses serves the chat on two WSServers sharing rdb and a key prefix, as two
// processes of one deployment, and checks that every frame finds its connection whichever
// process committed it: broadcasts (in order), heartbeat pings and closes from one process's
// sweeper, and an upgrade whose polling side and WebSocket are served by different processes.
func relayAcrossProcesses(t *testing.T, rdb *goredis.Client) {
	prefix := siotest.RandomPrefix("gwtest")
	t.Cleanup(func() {
		c, cancel := context.WithTimeout(context.Background(), siotest.Wait)
		defer cancel()
		if err := siotest.DeleteKeys(c, rdb, prefix); err != nil {
			t.Errorf("deleting the test's keys: %v", err)
		}
	})
	const interval, timeout = 25 * time.Second, 20 * time.Second
	clock := storetest.NewClock()
	cfg := handler.Config{Now: clock.Now, PingInterval: interval, PingTimeout: timeout, PollHold: 20 * time.Second}
	start := func() *siotest.WSServer {
		r := sio.NewRouter(slog.New(slog.DiscardHandler))
		if err := r.Register(chat.Consumer{}); err != nil {
			t.Fatal(err)
		}
		return siotest.StartWS(t, r, cfg, siotest.WSOptions{Redis: rdb, Prefix: prefix})
	}
	a, b := start(), start()
	join := func(c *siotest.WSConn) {
		t.Helper()
		c.Send("40/chat,")
		expect(t, c, `40/chat,{"sid":"*`, `42/chat,["system_message",{"text":"Welcome!"}]`)
	}
	msg := func(text string) string { return `42/chat,["chat_message",{"text":"` + text + `"}]` }

	ca, sidA := a.OpenWS(t)
	cb, sidB := b.OpenWS(t)
	join(ca)
	join(cb)
	if owner(t, mustLoad(t, a, sidA).Conn) == owner(t, mustLoad(t, a, sidB).Conn) {
		t.Fatal("both connections are held by one gateway")
	}

	// A broadcast committed by A reaches the connection B holds.
	ca.Send(`42/chat,1["chat_message",{"text":"from a"}]`)
	expect(t, ca, msg("from a"), `43/chat,1[{"status":"ok"}]`)
	expect(t, cb, msg("from a"))

	// A burst committed by B arrives complete and in order at both connections.
	const burst = 50
	want := make([]string, burst)
	for i := range burst {
		want[i] = msg(fmt.Sprintf("b%d", i))
		cb.Send(want[i])
	}
	expect(t, ca, want...)
	expect(t, cb, want...)

	// A's sweeper pings both connections; the one B holds does not answer and A's sweeper
	// closes it through the relay.
	clock.Advance(interval)
	if n := a.Sweep(t); n != 0 {
		t.Fatalf("Sweep at pingInterval closed %d sessions", n)
	}
	expect(t, ca, "2")
	expect(t, cb, "2")
	ca.Send("3")
	siotest.Until(t, "pong of A's client recorded", func() bool { return !mustLoad(t, a, sidA).PingSent })
	clock.Advance(timeout + time.Millisecond)
	if n := a.Sweep(t); n != 1 {
		t.Fatalf("Sweep past the deadline closed %d sessions, want 1", n)
	}
	if frames, _ := cb.WaitClose(); len(frames) != 0 {
		t.Fatalf("frames before the close: %q", frames)
	}
	if !gone(t, b, sidB) {
		t.Fatal("the timed-out session is still open")
	}
	ca.Send(`42/chat,2["chat_message",{"text":"still here"}]`)
	expect(t, ca, msg("still here"), `43/chat,2[{"status":"ok"}]`)

	// An upgrade with its polling side on A and its WebSocket on B.
	p := a.Open(t)
	ws := b.Dial(t, "EIO=4&transport=websocket&sid="+p.SID)
	ws.Send("2probe")
	expect(t, ws, "3probe")
	if got := p.Get(); len(got) != 1 || got[0] != "6" {
		t.Fatalf("GET on A during the probe on B: %q, want a noop", got)
	}
	ws.Send("5")
	join(ws)
	ca.Send(msg("to the upgraded"))
	expect(t, ca, msg("to the upgraded"))
	expect(t, ws, msg("to the upgraded"))
	if status, _ := siotest.Do(t, http.MethodGet, p.URL, ""); status != http.StatusBadRequest {
		t.Fatalf("GET on A after the upgrade on B: %d, want 400", status)
	}
}

// TestFrameLengths: the gateway's own framing (corked.frame) carries every payload length
// across the boundaries of RFC 6455's three length encodings, text and binary, to an
// independent client (the websocket package's). The pump's frames, several to a write, are
// framed the same way (TestPumpBroadcastOrder reads them).
func TestFrameLengths(t *testing.T) {
	srv := siotest.StartWS(t, handler.Echo{}, handler.Config{}, siotest.WSOptions{})
	c, sid := srv.OpenWS(t)
	conn := mustLoad(t, srv, sid).Conn
	lengths := []int{1, 2, 125, 126, 127, 1000, 65535, 65536, 70000}
	payload := func(n int, fill byte) []byte {
		b := bytes.Repeat([]byte{fill}, n)
		b[0] = '4'
		return b
	}
	for _, n := range lengths {
		for _, bin := range []bool{false, true} {
			p := payload(n, byte('a'+n%26))
			if err := srv.Gateway.Send(ctx(t), conn, p, bin); err != nil {
				t.Fatalf("Send of %d bytes: %v", n, err)
			}
			f := c.Read()
			if f.Binary != bin || !bytes.Equal(f.Data, p) {
				t.Fatalf("sent %d bytes (binary %v); read %d bytes (binary %v), equal %v", n, bin, len(f.Data), f.Binary, bytes.Equal(f.Data, p))
			}
		}
	}
}
