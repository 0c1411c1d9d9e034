// Command local runs the server on one address with nothing to install: long-polling at
// /socket.io/, the chat consumer on /chat, and state in an embedded Redis (miniredis) unless
// -redis names a real one or -dynamodb a DynamoDB endpoint. Several processes on the same Redis
// or table serve the same sessions.
//
// Every flag has an environment variable; the flag wins when both are set, and a malformed value
// of either is refused at start, naming it. local -h lists them:
//
//	-addr            SIO_ADDR               listen address (default 127.0.0.1:8080)
//	-redis           SIO_REDIS_URL          redis://host:port/db; empty: embedded in-process Redis
//	-dynamodb        SIO_DYNAMODB_ENDPOINT  DynamoDB endpoint (DynamoDB Local: http://127.0.0.1:8000):
//	                                        the store is then that table, created if missing; a -redis
//	                                        given too only relays WebSocket frames between processes
//	-table           SIO_DYNAMODB_TABLE     the table's name (default socketio)
//	-poll-backoff    SIO_POLL_BACKOFF       with DynamoDB, the longest wait between two reads of a
//	                                        held poll's queue (default 1s; see the README's costs)
//	-ping-interval   SIO_PING_INTERVAL      heartbeat interval (default 25s)
//	-ping-timeout    SIO_PING_TIMEOUT       heartbeat timeout (default 20s)
//	-poll-hold       SIO_POLL_HOLD          longest a GET is held (default 25s, at most 28s)
//	-poll-handover   SIO_POLL_HANDOVER      how long an answered GET keeps the poll lease for the
//	                                        session's next GET here (default 25ms, at most 50ms; 0: off)
//	-max-payload     SIO_MAX_PAYLOAD        largest POST body and WebSocket frame in bytes (default 1000000)
//	-cors            SIO_CORS_ORIGINS       comma-separated origins allowed to poll with cookies and
//	                                        open WebSockets; "*": any page may poll, without cookies
//	-ws-any-origin   SIO_WS_ANY_ORIGIN      WebSocket upgrades from pages on any origin (default false)
//	-sweep           SIO_SWEEP_INTERVAL     how often dead sessions are swept and WebSocket pings sent (default 1s)
//	-connect-timeout SIO_CONNECT_TIMEOUT    close sessions that connect no namespace in time (default 45s)
//	-idle-timeout    SIO_IDLE_TIMEOUT       close keep-alive connections idle this long (default 30s)
//	-read-timeout    SIO_READ_TIMEOUT       longest a request may take to arrive, body included (default 30s)
//	-conformance     SIO_CONFORMANCE        the setup of the official test suites (see below)
//	-pprof           SIO_PPROF              serve net/http/pprof on this address (e.g. 127.0.0.1:6060); empty: off
//	-client-js       SIO_CLIENT_JS          file served as /socket.io.min.js for the chat page at /
//	                                        (the official browser bundle, socket.io-client's
//	                                        dist/socket.io.min.js; it must exist); empty: a redirect
//	                                        to the CDN copy
//
// With -conformance it serves what the official Engine.IO v4 and Socket.IO v5 suites expect:
// pingInterval 300ms, pingTimeout 200ms, maxPayload 1e6, a raw Engine.IO echo at /engine.io/,
// and the namespaces / and /custom at /socket.io/.
package main

import (
	"cmp"
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/go-chi/chi/v5"
	goredis "github.com/redis/go-redis/v9"

	"github.com/serverless-socketio/server/consumers/chat"
	"github.com/serverless-socketio/server/consumers/conformance"
	"github.com/serverless-socketio/server/handler"
	"github.com/serverless-socketio/server/internal/envflag"
	"github.com/serverless-socketio/server/localgw"
	"github.com/serverless-socketio/server/session"
	"github.com/serverless-socketio/server/sio"
	"github.com/serverless-socketio/server/store/dynamo"
	"github.com/serverless-socketio/server/store/redis"
)

// chatPage is the chat a person can open in a browser: the tutorial's lobby.
//
//go:embed web/index.html
var chatPage []byte

// clientCDN is the official browser client, for when -client-js names no local copy.
const clientCDN = "https://cdn.socket.io/4.8.1/socket.io.min.js"

type config struct {
	addr           string
	redisURL       string
	dynamoURL      string
	table          string
	pollBackoff    time.Duration
	pingInterval   time.Duration
	pingTimeout    time.Duration
	pollHold       time.Duration
	pollHandover   time.Duration
	maxPayload     int64
	origins        handler.OriginPolicy
	sweep          time.Duration
	connectTimeout time.Duration
	idleTimeout    time.Duration
	readTimeout    time.Duration
	conformance    bool
	clientJS       string
	pprof          string
}

func main() {
	os.Exit(realMain(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// realMain runs the server and returns the exit status: 0 after a clean shutdown or -h, 2 for
// a bad setting (named, with its flag or environment variable), 1 when the server fails.
func realMain(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cfg, flags, err := parseConfig(args, getenv)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(stdout, "Usage: local [flags]; every flag also reads the environment variable named below (the flag wins).")
		flags.Usage(stdout)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "local: %v\n(local -h lists the flags and their environment variables)\n", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, log); err != nil {
		log.Error("exiting", "err", err)
		return 1
	}
	return 0
}

func parseConfig(args []string, getenv func(string) string) (config, *envflag.Set, error) {
	var c config
	s := envflag.New(flag.NewFlagSet("local", flag.ContinueOnError), getenv)
	type n = envflag.Name
	s.String(&c.addr, n{Flag: "addr", Env: "SIO_ADDR"}, "127.0.0.1:8080", "listen address")
	s.String(&c.redisURL, n{Flag: "redis", Env: "SIO_REDIS_URL"}, "", "Redis URL (redis://host:port/db); empty: an embedded in-process Redis")
	s.String(&c.dynamoURL, n{Flag: "dynamodb", Env: "SIO_DYNAMODB_ENDPOINT"}, "", "DynamoDB endpoint (http://host:port): store sessions in -table there, created if missing")
	s.String(&c.table, n{Flag: "table", Env: "SIO_DYNAMODB_TABLE"}, "socketio", "DynamoDB table name, with -dynamodb")
	s.Duration(&c.pollBackoff, n{Flag: "poll-backoff", Env: "SIO_POLL_BACKOFF"}, time.Second, "with -dynamodb, the longest wait between two reads of a held poll's queue")
	s.Duration(&c.pingInterval, n{Flag: "ping-interval", Env: "SIO_PING_INTERVAL"}, 25*time.Second, "heartbeat ping interval")
	s.Duration(&c.pingTimeout, n{Flag: "ping-timeout", Env: "SIO_PING_TIMEOUT"}, 20*time.Second, "heartbeat ping timeout")
	s.Duration(&c.pollHold, n{Flag: "poll-hold", Env: "SIO_POLL_HOLD"}, 25*time.Second, "longest a long-poll GET is held (at most 28s)")
	s.Duration(&c.pollHandover, n{Flag: "poll-handover", Env: "SIO_POLL_HANDOVER"}, 25*time.Millisecond, "how long an answered GET keeps the session's poll lease for its next GET on this process (at most 50ms; 0: off)")
	s.Bytes(&c.maxPayload, n{Flag: "max-payload", Env: "SIO_MAX_PAYLOAD"}, 1_000_000, "largest POST body and WebSocket frame in bytes")
	s.List(&c.origins.Allow, n{Flag: "cors", Env: "SIO_CORS_ORIGINS"}, `comma-separated origins whose pages may poll with cookies and open WebSockets; "*": any page may poll, without cookies`)
	s.Bool(&c.origins.AnyWebSocket, n{Flag: "ws-any-origin", Env: "SIO_WS_ANY_ORIGIN"}, false, "accept WebSocket upgrades from pages on any origin (they carry the user's cookies)")
	s.Duration(&c.sweep, n{Flag: "sweep", Env: "SIO_SWEEP_INTERVAL"}, time.Second, "how often dead sessions are swept and WebSocket pings sent")
	s.Duration(&c.connectTimeout, n{Flag: "connect-timeout", Env: "SIO_CONNECT_TIMEOUT"}, 45*time.Second, "close sessions that connect no namespace within this time")
	s.Duration(&c.idleTimeout, n{Flag: "idle-timeout", Env: "SIO_IDLE_TIMEOUT"}, 30*time.Second, "close a keep-alive connection idle this long between requests")
	s.Duration(&c.readTimeout, n{Flag: "read-timeout", Env: "SIO_READ_TIMEOUT"}, 30*time.Second, "longest a request may take to arrive, its body included (a held GET is not cut)")
	s.Bool(&c.conformance, n{Flag: "conformance", Env: "SIO_CONFORMANCE"}, false, "serve the setup the official conformance suites expect")
	s.String(&c.pprof, n{Flag: "pprof", Env: "SIO_PPROF"}, "", "serve net/http/pprof on this address (e.g. 127.0.0.1:6060); empty: off")
	s.String(&c.clientJS, n{Flag: "client-js", Env: "SIO_CLIENT_JS"}, "", "file served as /socket.io.min.js (the official browser client); empty: redirect to the CDN")
	if err := s.Parse(args); err != nil {
		return c, s, err
	}
	if c.pollHold > handler.MaxPollHold {
		return c, s, fmt.Errorf("-poll-hold %s exceeds %s", c.pollHold, handler.MaxPollHold)
	}
	if c.clientJS != "" {
		if st, err := os.Stat(c.clientJS); err != nil || st.IsDir() {
			return c, s, fmt.Errorf("-client-js %s: not a readable file (want socket.io-client's dist/socket.io.min.js)", c.clientJS)
		}
	}
	if c.conformance {
		c.pingInterval, c.pingTimeout, c.maxPayload = 300*time.Millisecond, 200*time.Millisecond, 1_000_000
		c.sweep, c.connectTimeout = 10*time.Millisecond, time.Second
	}
	if c.dynamoURL != "" && c.maxPayload > dynamo.MaxPacket {
		// Announce what the store can queue (dynamo.MaxPacket).
		c.maxPayload = dynamo.MaxPacket
	}
	return c, s, nil
}

// run listens on cfg.addr and serves until ctx ends.
func run(ctx context.Context, cfg config, log *slog.Logger) error {
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	return serve(ctx, ln, cfg, log)
}

// serve serves on ln until ctx ends, then shuts down: held polls are answered, WebSockets closed.
func serve(ctx context.Context, ln net.Listener, cfg config, log *slog.Logger) error {
	sv := &server{cfg: cfg, log: log, r: chi.NewRouter(), shutdown: make(chan struct{})}
	defer sv.close()
	if err := sv.openRedis(ctx); err != nil {
		return err
	}
	if err := sv.mountAll(ctx); err != nil {
		return err
	}
	if err := sv.startPprof(); err != nil {
		return err
	}
	srv := newHTTPServer(sv.r, cfg)
	sweepCtx, stopSweep := context.WithCancel(ctx)
	defer stopSweep()
	for _, eng := range sv.engines {
		go eng.RunSweeper(sweepCtx, cfg.sweep)
	}

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("listening", "addr", "http://"+ln.Addr().String(), "store", storeName(cfg), "conformance", cfg.conformance)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down: answering held polls")
	close(sv.shutdown)
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	err := srv.Shutdown(shutCtx)
	for _, eng := range sv.engines {
		eng.Drain(shutCtx)
	}
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// server is what serve builds: the routes, the engines mounted on them, and what to close.
type server struct {
	cfg      config
	log      *slog.Logger
	r        chi.Router
	rdb      goredis.UniversalClient // nil on DynamoDB alone
	shutdown chan struct{}
	engines  []*handler.Engine
	closers  []func() // run in reverse order
}

func (sv *server) close() {
	for i := len(sv.closers) - 1; i >= 0; i-- {
		sv.closers[i]()
	}
}

// openRedis connects to Redis (the embedded one unless -redis names one) unless the store is
// DynamoDB alone.
func (sv *server) openRedis(ctx context.Context) error {
	if sv.cfg.dynamoURL != "" && sv.cfg.redisURL == "" {
		return nil
	}
	rdb, closeRedis, err := openRedis(ctx, sv.cfg.redisURL, sv.log)
	if err != nil {
		return err
	}
	sv.rdb = rdb
	sv.closers = append(sv.closers, closeRedis)
	return nil
}

// newStore returns the store for one engine; each engine has its own keys (or table): its
// sweeper must only see its own sessions.
func (sv *server) newStore(ctx context.Context, name string) (session.Store, error) {
	sessionTTL := max(2*time.Minute, 2*(sv.cfg.pingInterval+sv.cfg.pingTimeout))
	if sv.cfg.dynamoURL != "" {
		table := sv.cfg.table
		if name != "" {
			table += "-" + name
		}
		s, closeStore, err := openDynamo(ctx, sv.cfg.dynamoURL, table, sessionTTL)
		if err == nil {
			sv.closers = append(sv.closers, closeStore)
		}
		return s, err
	}
	prefix := "sio"
	if name != "" {
		prefix += "-" + name
	}
	// Every WebSocket on Redis is pumped by the process holding it (see mount).
	s := redis.New(sv.rdb, redis.Options{Prefix: prefix, SessionTTL: sessionTTL, Pumped: true})
	sv.closers = append(sv.closers, func() { s.Close() })
	return s, nil
}

// mountAll mounts the chat (and, with -conformance, the suites' consumers) and the chat page.
func (sv *server) mountAll(ctx context.Context) error {
	router := sio.NewRouter(sv.log)
	if err := router.Register(chat.Consumer{}); err != nil {
		return err
	}
	if sv.cfg.conformance {
		if err := conformance.Register(router); err != nil {
			return err
		}
	}
	if slices.Contains(sv.cfg.origins.Allow, "*") && !sv.cfg.origins.AnyWebSocket {
		sv.log.Warn(`-cors "*" lets any page poll without cookies, but opens no WebSocket to pages of other origins (a WebSocket carries cookies): list their origins, or pass -ws-any-origin`)
	}
	if err := sv.mount(ctx, "/socket.io/", router, sv.cfg.connectTimeout, ""); err != nil {
		return err
	}
	sv.r.Get("/", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(chatPage)
	})
	sv.r.Get("/socket.io.min.js", func(w http.ResponseWriter, req *http.Request) {
		if sv.cfg.clientJS == "" {
			http.Redirect(w, req, clientCDN, http.StatusFound)
			return
		}
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		http.ServeFile(w, req, sv.cfg.clientJS)
	})
	if sv.cfg.conformance {
		return sv.mount(ctx, "/engine.io/", handler.Echo{}, 0, "echo")
	}
	return nil
}

// mount serves app at path on a store of its own (named name): polling through its engine,
// WebSocket through its gateway.
func (sv *server) mount(ctx context.Context, path string, app handler.App, connectTimeout time.Duration, name string) error {
	store, err := sv.newStore(ctx, name)
	if err != nil {
		return err
	}
	// Each connection's packets come from a pump in the process holding it, fed by the
	// store's pub/sub (Redis); on DynamoDB, which publishes nothing, the committer pushes.
	_, pump := store.(session.Subscriber)
	// Gateways relay frames between processes only when processes share a real Redis.
	var relay goredis.UniversalClient
	if sv.cfg.redisURL != "" {
		relay = sv.rdb
	}
	cfg := sv.cfg
	gw := localgw.New(localgw.Options{Redis: relay, MaxFrame: cfg.maxPayload, Logger: sv.log, Pump: pump, Origins: cfg.origins})
	eng, err := handler.New(handler.Config{
		Store: store, App: app, Sender: gw, PingInterval: cfg.pingInterval, PingTimeout: cfg.pingTimeout,
		MaxPayload: cfg.maxPayload, PollHold: cfg.pollHold, ConnectTimeout: connectTimeout,
		PollBackoff: cfg.pollBackoff, Logger: sv.log, Shutdown: sv.shutdown, Pump: pump,
		PollHandover: cfg.pollHandover,
	})
	if err != nil {
		return err
	}
	gw.SetRoutes(eng)
	if err := gw.Start(ctx); err != nil {
		return fmt.Errorf("websocket relay: %w", err)
	}
	sv.closers = append(sv.closers, gw.Shutdown)
	sv.r.Handle(path, cfg.origins.CORS()(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if strings.EqualFold(req.Header.Get("Upgrade"), "websocket") {
			gw.ServeHTTP(w, req)
			return
		}
		eng.ServeHTTP(w, req)
	})))
	sv.engines = append(sv.engines, eng)
	return nil
}

// startPprof serves profiles on their own listener (-pprof): never on the public address.
func (sv *server) startPprof() error {
	if sv.cfg.pprof == "" {
		return nil
	}
	pl, err := net.Listen("tcp", sv.cfg.pprof)
	if err != nil {
		return fmt.Errorf("-pprof: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	ps := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = ps.Serve(pl) }()
	sv.closers = append(sv.closers, func() { ps.Close() })
	sv.log.Info("pprof", "addr", "http://"+pl.Addr().String()+"/debug/pprof/")
	return nil
}

// headerLimit bounds a request's line and headers in bytes, as Node's 16 KB does: net/http
// answers 431 above it. (net/http reads up to MaxHeaderBytes plus 4 KB of slack.)
const headerLimit = 16 << 10

// newHTTPServer returns the HTTP server for h: a request must arrive within cfg.readTimeout
// (its line and headers within 10 s) and its headers fit in 16 KB (else 431), and a keep-alive
// connection idle for cfg.idleTimeout closes. A held GET is not cut by the read timeout: net/http
// lifts the connection's read deadline once a request has been read (to watch for the client
// hanging up), so only a request still arriving is bounded; TestSlowBody checks both. There is
// no WriteTimeout: it would cut held polls.
func newHTTPServer(h http.Handler, cfg config) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: min(10*time.Second, cfg.readTimeout),
		ReadTimeout:       cfg.readTimeout,
		IdleTimeout:       cfg.idleTimeout,
		MaxHeaderBytes:    headerLimit - 4096,
	}
}

func storeName(cfg config) string {
	switch {
	case cfg.dynamoURL != "":
		return "dynamodb " + cfg.dynamoURL + " table " + cfg.table
	case cfg.redisURL == "":
		return "embedded redis"
	}
	return "redis"
}

// openDynamo returns the DynamoDB store on table at endpoint, creating the table if it is
// missing. Credentials come from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY when set (DynamoDB
// Local accepts any), the region from AWS_REGION (default us-east-1).
func openDynamo(ctx context.Context, endpoint, table string, sessionTTL time.Duration) (session.Store, func(), error) {
	region := cmp.Or(os.Getenv("AWS_REGION"), "us-east-1")
	creds := aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{
			AccessKeyID:     cmp.Or(os.Getenv("AWS_ACCESS_KEY_ID"), "local"),
			SecretAccessKey: cmp.Or(os.Getenv("AWS_SECRET_ACCESS_KEY"), "local"),
			SessionToken:    os.Getenv("AWS_SESSION_TOKEN"),
			Source:          "environment",
		}, nil
	})
	db := dynamo.NewClient(region, endpoint, creds)
	createCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := dynamo.CreateTable(createCtx, db, table); err != nil {
		return nil, nil, fmt.Errorf("dynamodb at %s: %w", endpoint, err)
	}
	s, err := dynamo.New(db, dynamo.Options{Table: table, SessionTTL: sessionTTL})
	if err != nil {
		return nil, nil, err
	}
	return s, func() {}, nil
}

// openRedis connects to url, or starts an embedded in-process Redis when url is empty.
func openRedis(ctx context.Context, url string, log *slog.Logger) (goredis.UniversalClient, func(), error) {
	if url == "" {
		mr := miniredis.NewMiniRedis()
		if err := mr.StartAddr("127.0.0.1:0"); err != nil {
			return nil, nil, fmt.Errorf("embedded redis: %w", err)
		}
		rdb := goredis.NewClient(&goredis.Options{Addr: mr.Addr()})
		return rdb, func() { rdb.Close(); mr.Close() }, nil
	}
	opt, err := goredis.ParseURL(url)
	if err != nil {
		return nil, nil, fmt.Errorf("-redis: %w", err)
	}
	opt.PoolSize = max(opt.PoolSize, 64)
	// Commands outside pipelines are small scripts with small answers; pipelines have their own
	// pool with large buffers. 8 KiB instead of 32 KiB each keeps 64 connections at 1 MiB.
	opt.ReadBufferSize, opt.WriteBufferSize = 8<<10, 8<<10
	rdb := goredis.NewClient(opt)
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		return nil, nil, fmt.Errorf("redis at %s: %w", opt.Addr, err)
	}
	return rdb, func() { rdb.Close() }, nil
}
