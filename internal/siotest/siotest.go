// Package siotest runs the server in-process for tests: an Engine on the memory store (or on
// miniredis, for tests that count Redis round trips or stop the store) behind httptest, and a
// minimal long-polling client that speaks raw Engine.IO payloads.
package siotest

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	goredis "github.com/redis/go-redis/v9"

	"github.com/serverless-socketio/server/handler"
	"github.com/serverless-socketio/server/session"
	"github.com/serverless-socketio/server/store/memory"
	"github.com/serverless-socketio/server/store/redis"
)

// Server is an Engine on a store, served by httptest.
type Server struct {
	URL    string
	Engine *handler.Engine
	Store  session.Store
	// Redis and Client are the miniredis and its client when the server runs on one (nil on
	// the memory store).
	Redis  *miniredis.Miniredis
	Client *goredis.Client
	// RoundTrips counts Redis round trips (a command, a pipeline or a script call each);
	// Commands counts the commands (a pipeline's each).
	RoundTrips, Commands atomic.Int64
}

// Start serves app with cfg (Store and App filled in here) on a fresh memory store until the
// test ends. cfg.Now, when set, is the clock of the store too.
func Start(t testing.TB, app handler.App, cfg handler.Config) *Server {
	t.Helper()
	s := &Server{Store: memory.New(memory.Options{Now: cfg.Now, Pumped: cfg.Pump})}
	s.serve(t, app, cfg)
	return s
}

// StartRedis is Start on a fresh miniredis: the Redis store, with its round trips counted.
func StartRedis(t testing.TB, app handler.App, cfg handler.Config) *Server {
	t.Helper()
	s := &Server{}
	s.startMiniredis(t)
	rs := redis.New(s.Client, redis.Options{Now: cfg.Now, Pumped: cfg.Pump})
	t.Cleanup(func() { rs.Close() })
	s.Store = rs
	s.serve(t, app, cfg)
	return s
}

// Another serves app with cfg on the same store, as another process of the same deployment: a
// client's requests may go to either. Round trips to a shared miniredis count in s.RoundTrips.
func (s *Server) Another(t testing.TB, app handler.App, cfg handler.Config) *Server {
	t.Helper()
	o := &Server{Store: s.Store, Redis: s.Redis, Client: s.Client}
	if s.Client != nil {
		// A store of its own on the same Redis: its own pub/sub connection, as a process has.
		rs := redis.New(s.Client, redis.Options{Now: cfg.Now, Pumped: cfg.Pump})
		t.Cleanup(func() { rs.Close() })
		o.Store = rs
	}
	o.serve(t, app, cfg)
	return o
}

// startMiniredis starts a miniredis and a client counting round trips, closed when the test ends.
func (s *Server) startMiniredis(t testing.TB) {
	s.Redis = miniredis.RunT(t)
	s.Client = goredis.NewClient(&goredis.Options{Addr: s.Redis.Addr()})
	s.Client.AddHook(counter{&s.RoundTrips, &s.Commands})
	t.Cleanup(func() { s.Client.Close() })
}

func (s *Server) serve(t testing.TB, app handler.App, cfg handler.Config) {
	t.Helper()
	cfg.Store, cfg.App = s.Store, app
	handover(&cfg)
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	eng, err := handler.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.Engine = eng
	srv := httptest.NewServer(eng)
	s.URL = srv.URL + "/socket.io/"
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
	})
}

// PollHandover is the Config.PollHandover of the servers started here when a test sets none: as
// cmd/local's, unless SIO_TEST_POLL_HANDOVER says otherwise ("0": off, as on Lambda).
const PollHandover = 25 * time.Millisecond

func handover(cfg *handler.Config) {
	if cfg.PollHandover != 0 {
		return
	}
	cfg.PollHandover = PollHandover
	if v := os.Getenv("SIO_TEST_POLL_HANDOVER"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			panic("SIO_TEST_POLL_HANDOVER: " + err.Error())
		}
		cfg.PollHandover = d
	}
}

type counter struct{ trips, cmds *atomic.Int64 }

func (c counter) DialHook(next goredis.DialHook) goredis.DialHook { return next }
func (c counter) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		c.trips.Add(1)
		c.cmds.Add(1)
		return next(ctx, cmd)
	}
}
func (c counter) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		c.trips.Add(1)
		c.cmds.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

// Released waits until the session's poll lease was let go (a GET's answer reaches the client
// before its lease is released), for tests that count what a GET costs. Redis servers only.
func (s *Server) Released(t testing.TB, sid string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		// A lease taken once leaves its last-attempt key; released, its own key is gone.
		for _, k := range s.Redis.Keys() {
			if lease, ok := strings.CutSuffix(k, "{"+sid+"}:l:poll:last"); ok && !s.Redis.Exists(lease+"{"+sid+"}:l:poll") {
				return
			}
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("the poll lease of %s was not released", sid)
}

// Do sends one request and returns the status and body.
func Do(t testing.TB, method, url, body string) (int, string) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Client is one Engine.IO long-polling session.
type Client struct {
	t   testing.TB
	URL string // with sid
	SID string
}

// Open performs the handshake.
func (s *Server) Open(t testing.TB) *Client {
	t.Helper()
	status, body := Do(t, http.MethodGet, s.URL+"?EIO=4&transport=polling", "")
	if status != http.StatusOK || !strings.HasPrefix(body, "0{") {
		t.Fatalf("handshake: %d %q", status, body)
	}
	var open struct {
		SID string `json:"sid"`
	}
	if err := json.Unmarshal([]byte(body[1:]), &open); err != nil {
		t.Fatal(err)
	}
	return &Client{t: t, SID: open.SID, URL: s.URL + "?EIO=4&transport=polling&sid=" + open.SID}
}

// On returns a client of the same session that sends its requests to s (another process of
// the deployment).
func (c *Client) On(s *Server) *Client {
	return &Client{t: c.t, SID: c.SID, URL: s.URL + "?EIO=4&transport=polling&sid=" + c.SID}
}

// Post sends a payload and fails the test unless the server answers "ok".
func (c *Client) Post(payload string) {
	c.t.Helper()
	if status, body := Do(c.t, http.MethodPost, c.URL, payload); status != http.StatusOK || body != "ok" {
		c.t.Fatalf("POST %q: %d %q", payload, status, body)
	}
}

// Get polls once and returns the packets of the response.
func (c *Client) Get() []string {
	c.t.Helper()
	status, body := Do(c.t, http.MethodGet, c.URL, "")
	if status != http.StatusOK {
		c.t.Fatalf("GET: %d %q", status, body)
	}
	return strings.Split(body, "\x1e")
}

// Connect joins namespace nsp and returns the socket id from the CONNECT answer, followed by the
// packets that came with it.
func (c *Client) Connect(nsp string) (string, []string) {
	c.t.Helper()
	c.Post("40" + nsp + ",")
	packets := c.Get()
	prefix := "40" + nsp + ","
	if !strings.HasPrefix(packets[0], prefix) {
		c.t.Fatalf("CONNECT %s answered %q", nsp, packets)
	}
	var ans struct {
		SID string `json:"sid"`
	}
	if err := json.Unmarshal([]byte(strings.TrimPrefix(packets[0], prefix)), &ans); err != nil || ans.SID == "" {
		c.t.Fatalf("CONNECT answer %q: %v", packets[0], err)
	}
	return ans.SID, packets[1:]
}
