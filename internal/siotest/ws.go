package siotest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	goredis "github.com/redis/go-redis/v9"

	"github.com/serverless-socketio/server/handler"
	"github.com/serverless-socketio/server/localgw"
	"github.com/serverless-socketio/server/store/memory"
	"github.com/serverless-socketio/server/store/redis"
)

// Wait bounds every wait of the WebSocket helpers: a guard against a test hanging, never a
// measure of speed. A healthy run waits milliseconds.
const Wait = 10 * time.Second

// WSServer is an Engine whose Sender is a local WebSocket gateway (localgw), mounted as cmd/local
// mounts them: a request with "Upgrade: websocket" goes to the gateway, any other to the engine's
// long-polling handler. The embedded Server's Open, Store and Engine work as with [Start]; its
// Redis is nil when the server runs on a Redis the caller gave.
type WSServer struct {
	*Server
	// WSURL is URL with the ws scheme: ws://127.0.0.1:port/socket.io/.
	WSURL   string
	Gateway *localgw.Gateway
}

// WSOptions configure [StartWS]. The zero value means a fresh memory store and no relay.
type WSOptions struct {
	// Redis, when set, replaces the memory store: it is the Redis store's backend and the
	// gateway's relay between processes, so several WSServers on one Redis and one Prefix serve
	// the same sessions as the processes of one deployment do. The caller keeps ownership of it.
	Redis *goredis.Client
	// Miniredis runs the server on a fresh miniredis (the Redis store, its round trips counted,
	// no relay) instead of the memory store.
	Miniredis bool
	// Prefix starts the store's keys and the relay's channel names; zero means "sio".
	Prefix string
	// Pump makes the gateway run a pump per connection (localgw.Options.Pump and
	// handler.Config.Pump), as cmd/local does; otherwise commits push (as on Lambda).
	Pump bool
	// Origins is the gateway's WebSocket Origin policy (localgw.Options.Origins).
	Origins handler.OriginPolicy
}

// StartWS serves app with cfg until the test ends; cfg.Store, cfg.App and cfg.Sender are filled
// in here, and cfg.Now, when set, is the store's clock too. The gateway's frame limit is
// cfg.MaxPayload, as in cmd/local. When the test ends, the WebSocket connections are closed and
// the gateway's handlers have returned before the store closes.
func StartWS(t testing.TB, app handler.App, cfg handler.Config, opt WSOptions) *WSServer {
	t.Helper()
	s := &WSServer{Server: &Server{}}
	switch {
	case opt.Redis != nil:
		s.Client = opt.Redis
	case opt.Miniredis:
		s.startMiniredis(t)
	}
	var closeStore func()
	if s.Client != nil {
		rs := redis.New(s.Client, redis.Options{Prefix: opt.Prefix, Now: cfg.Now, Pumped: opt.Pump})
		s.Store, closeStore = rs, func() { rs.Close() }
	} else {
		s.Store, closeStore = memory.New(memory.Options{Now: cfg.Now, Pumped: opt.Pump}), func() {}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Pump = opt.Pump
	handover(&cfg)
	gwOpt := localgw.Options{Prefix: opt.Prefix, MaxFrame: cfg.MaxPayload, Logger: cfg.Logger, Pump: opt.Pump, Origins: opt.Origins}
	if opt.Redis != nil {
		gwOpt.Redis = opt.Redis // not a nil *Client in the interface: that would mean a relay
	}
	s.Gateway = localgw.New(gwOpt)
	cfg.Store, cfg.App, cfg.Sender = s.Store, app, s.Gateway
	eng, err := handler.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.Engine = eng
	s.Gateway.SetRoutes(eng)
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	defer cancel()
	if err := s.Gateway.Start(ctx); err != nil {
		t.Fatalf("gateway relay: %v", err)
	}
	var handlers sync.WaitGroup
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			handlers.Add(1)
			defer handlers.Done()
			s.Gateway.ServeHTTP(w, r)
			return
		}
		eng.ServeHTTP(w, r)
	}))
	s.URL = srv.URL + "/socket.io/"
	s.WSURL = "ws" + strings.TrimPrefix(srv.URL, "http") + "/socket.io/"
	t.Cleanup(func() {
		// The clients' WebSockets were closed by their own cleanups (registered later, run
		// earlier). Stop new requests and held polls, then the gateway's handlers, then the store.
		srv.CloseClientConnections()
		srv.Close()
		s.Gateway.Shutdown()
		done := make(chan struct{})
		go func() { handlers.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(Wait):
			t.Errorf("gateway handlers still running %s after the test", Wait)
		}
		closeStore()
	})
	return s
}

// RunSweeper runs the engine's sweeper every interval until the test ends.
func (s *WSServer) RunSweeper(t testing.TB, interval time.Duration) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Engine.RunSweeper(ctx, interval) }()
	t.Cleanup(func() { cancel(); <-done })
}

// Sweep runs one sweep and returns how many sessions it closed; it fails the test on error.
func (s *WSServer) Sweep(t testing.TB) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	defer cancel()
	n, err := s.Engine.Sweep(ctx, 1000)
	if err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	return n
}

// Delivered waits until nothing is queued for sid: the push that wrote what a test read has
// acknowledged it. A test that moves its clock past the write lease's life right after reading
// waits for this first; otherwise the next push may take the lease and send it all again.
func (s *WSServer) Delivered(t testing.TB, sid string) {
	t.Helper()
	Until(t, "what was written acknowledged", func() bool {
		q, err := s.Store.Read(context.Background(), sid, 1)
		return err == nil && len(q.Entries) == 0
	})
}

// Frame is one WebSocket message.
type Frame struct {
	Binary bool
	Data   []byte
}

// String returns a text frame as it is and a binary frame as "binary:" and its bytes in hex, so
// that frames compare and print as strings.
func (f Frame) String() string {
	if f.Binary {
		return "binary:" + hex.EncodeToString(f.Data)
	}
	return string(f.Data)
}

// WSConn is a client WebSocket connection. Its methods fail the test on errors; they must be
// called from the test's goroutine.
type WSConn struct {
	t  testing.TB
	ws *websocket.Conn
}

// Dial opens a WebSocket to the server with query (such as "EIO=4&transport=websocket") and
// fails the test unless the upgrade succeeds. The connection is closed when the test ends.
func (s *WSServer) Dial(t testing.TB, query string) *WSConn {
	t.Helper()
	return s.DialHeader(t, query, nil)
}

// DialHeader is Dial with the request headers h (an Origin, say).
func (s *WSServer) DialHeader(t testing.TB, query string, h http.Header) *WSConn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, s.WSURL+"?"+query, &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial ?%s: %v (status %d)", query, err, status)
	}
	ws.SetReadLimit(-1)
	t.Cleanup(func() { ws.CloseNow() })
	return &WSConn{t: t, ws: ws}
}

// DialRefused attempts a WebSocket with query that the server must refuse, and returns the
// status and body of its HTTP answer. It fails the test if the upgrade succeeds.
func (s *WSServer) DialRefused(t testing.TB, query string) (int, string) {
	t.Helper()
	return s.DialRefusedHeader(t, query, nil)
}

// DialRefusedHeader is DialRefused with the request headers h.
func (s *WSServer) DialRefusedHeader(t testing.TB, query string, h http.Header) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, s.WSURL+"?"+query, &websocket.DialOptions{HTTPHeader: h})
	if err == nil {
		ws.CloseNow()
		t.Fatalf("dial ?%s: upgraded, want a refusal", query)
	}
	if resp == nil {
		t.Fatalf("dial ?%s: %v, and no HTTP answer", query, err)
	}
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// OpenWS opens a session over WebSocket and returns the connection and the session id, having
// read the open packet.
func (s *WSServer) OpenWS(t testing.TB) (*WSConn, string) {
	t.Helper()
	c := s.Dial(t, "EIO=4&transport=websocket")
	return c, OpenSID(t, c.ReadText())
}

// OpenSID returns the sid of an Engine.IO open packet, failing the test if it is not one.
func OpenSID(t testing.TB, packet string) string {
	t.Helper()
	var open struct {
		SID string `json:"sid"`
	}
	body, ok := strings.CutPrefix(packet, "0")
	if !ok || json.Unmarshal([]byte(body), &open) != nil || open.SID == "" {
		t.Fatalf("%q is not an open packet", packet)
	}
	return open.SID
}

// Read returns the next frame, text or binary. It fails the test if the connection ends first,
// or if nothing arrives within [Wait].
func (c *WSConn) Read() Frame {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	defer cancel()
	typ, data, err := c.ws.Read(ctx)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return Frame{Binary: typ == websocket.MessageBinary, Data: data}
}

// ReadText returns the next frame, failing the test if it is binary.
func (c *WSConn) ReadText() string {
	c.t.Helper()
	f := c.Read()
	if f.Binary {
		c.t.Fatalf("read %s, want a text frame", f)
	}
	return string(f.Data)
}

// Send sends a text frame.
func (c *WSConn) Send(text string) {
	c.t.Helper()
	c.write(websocket.MessageText, []byte(text))
}

// SendBinary sends a binary frame.
func (c *WSConn) SendBinary(data []byte) {
	c.t.Helper()
	c.write(websocket.MessageBinary, data)
}

func (c *WSConn) write(typ websocket.MessageType, data []byte) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	defer cancel()
	if err := c.ws.Write(ctx, typ, data); err != nil {
		c.t.Fatalf("write %q: %v", data, err)
	}
}

// WaitClose reads until the server ends the connection and returns the frames that arrived
// before the end, and the error that ended it (websocket.CloseStatus tells the close code, -1
// when the connection dropped without a close frame). It fails the test if the connection is
// still open after [Wait].
func (c *WSConn) WaitClose() ([]Frame, error) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	defer cancel()
	var frames []Frame
	for {
		typ, data, err := c.ws.Read(ctx)
		if err != nil {
			if ctx.Err() != nil {
				c.t.Fatalf("connection still open after %s (frames meanwhile: %q)", Wait, frames)
			}
			return frames, err
		}
		frames = append(frames, Frame{Binary: typ == websocket.MessageBinary, Data: data})
	}
}

// Close closes the connection from the client side with a normal closure.
func (c *WSConn) Close() { c.ws.Close(websocket.StatusNormalClosure, "") }

// Until polls cond until it holds, failing the test with what after [Wait]. It synchronises a
// test with work the server does after a frame it cannot acknowledge (a pong, a namespace
// disconnect); cond usually reads the store.
func Until(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(Wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: still false after %s", what, Wait)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// RandomPrefix returns a key prefix no other run uses, for tests on a shared Redis.
func RandomPrefix(name string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return name + "-" + hex.EncodeToString(b[:])
}

// DeleteKeys removes every key that starts with prefix+":" (the keys a test made on a shared
// Redis).
func DeleteKeys(ctx context.Context, rdb *goredis.Client, prefix string) error {
	iter := rdb.Scan(ctx, 0, prefix+":*", 500).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		return err
	}
	if len(keys) == 0 {
		return nil
	}
	return rdb.Unlink(ctx, keys...).Err()
}
