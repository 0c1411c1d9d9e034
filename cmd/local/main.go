// Command local runs the server on one address with nothing to install: long-polling at
// /socket.io/, the chat consumer on /chat, and state in an embedded Redis (miniredis) unless
// -redis names a real one or -dynamodb a DynamoDB endpoint. Several processes on the same Redis
// or table serve the same sessions.
//
// Every flag has an environment variable; the flag wins when both are set:
//
//	-addr           SIO_ADDR            listen address (default 127.0.0.1:8080)
//	-redis          SIO_REDIS_URL       redis://host:port/db; empty: embedded in-process Redis
//	-dynamodb       SIO_DYNAMODB_ENDPOINT  DynamoDB endpoint (DynamoDB Local: http://127.0.0.1:8000):
//	                                    the store is then that table, created if missing; a -redis
//	                                    given too only relays WebSocket frames between processes
//	-table          SIO_DYNAMODB_TABLE  the table's name (default socketio)
//	-poll-backoff   SIO_POLL_BACKOFF    with DynamoDB, the longest wait between two reads of a
//	                                    held poll's queue (default 1s; see the README's costs)
//	-ping-interval  SIO_PING_INTERVAL   heartbeat interval (default 25s)
//	-ping-timeout   SIO_PING_TIMEOUT    heartbeat timeout (default 20s)
//	-poll-hold      SIO_POLL_HOLD       longest a GET is held (default 25s, at most 28s)
//	-max-payload    SIO_MAX_PAYLOAD     largest POST body in bytes (default 1000000)
//	-cors           SIO_CORS_ORIGINS    comma-separated allowed origins, "*" for any (default none)
//	-sweep          SIO_SWEEP_INTERVAL  how often dead sessions are swept and WebSocket pings sent (default 1s)
//	-connect-timeout SIO_CONNECT_TIMEOUT close sessions that connect no namespace in time (default 45s)
//	-conformance    SIO_CONFORMANCE     the setup of the official test suites (see below)
//	-pprof          SIO_PPROF           serve net/http/pprof on this address (e.g. 127.0.0.1:6060); empty: off
//	-client-js      SIO_CLIENT_JS       file served as /socket.io.min.js for the chat page at /
//	                                    (the official browser bundle, socket.io-client's
//	                                    dist/socket.io.min.js); empty: a redirect to the CDN copy
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
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"strconv"
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
	maxPayload     int64
	cors           string
	sweep          time.Duration
	connectTimeout time.Duration
	conformance    bool
	clientJS       string
	pprof          string
}

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	cfg, err := parseConfig(os.Args[1:], os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, log); err != nil {
		log.Error("exiting", "err", err)
		os.Exit(1)
	}
}

func parseConfig(args []string, getenv func(string) string) (config, error) {
	var c config
	fs := flag.NewFlagSet("local", flag.ContinueOnError)
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	dur := func(name, def string) time.Duration {
		d, err := time.ParseDuration(env(name, def))
		if err != nil {
			d, _ = time.ParseDuration(def)
		}
		return d
	}
	maxPayload, _ := strconv.ParseInt(env("SIO_MAX_PAYLOAD", "1000000"), 10, 64)
	conformance, _ := strconv.ParseBool(env("SIO_CONFORMANCE", "false"))
	fs.StringVar(&c.addr, "addr", env("SIO_ADDR", "127.0.0.1:8080"), "listen address")
	fs.StringVar(&c.redisURL, "redis", env("SIO_REDIS_URL", ""), "Redis URL (redis://host:port/db); empty: an embedded in-process Redis")
	fs.StringVar(&c.dynamoURL, "dynamodb", env("SIO_DYNAMODB_ENDPOINT", ""), "DynamoDB endpoint (http://host:port): store sessions in -table there, created if missing")
	fs.StringVar(&c.table, "table", env("SIO_DYNAMODB_TABLE", "socketio"), "DynamoDB table name, with -dynamodb")
	fs.DurationVar(&c.pollBackoff, "poll-backoff", dur("SIO_POLL_BACKOFF", "1s"), "with -dynamodb, the longest wait between two reads of a held poll's queue")
	fs.DurationVar(&c.pingInterval, "ping-interval", dur("SIO_PING_INTERVAL", "25s"), "heartbeat ping interval")
	fs.DurationVar(&c.pingTimeout, "ping-timeout", dur("SIO_PING_TIMEOUT", "20s"), "heartbeat ping timeout")
	fs.DurationVar(&c.pollHold, "poll-hold", dur("SIO_POLL_HOLD", "25s"), "longest a long-poll GET is held (at most 28s)")
	fs.Int64Var(&c.maxPayload, "max-payload", maxPayload, "largest POST body in bytes")
	fs.StringVar(&c.cors, "cors", env("SIO_CORS_ORIGINS", ""), `comma-separated allowed CORS origins, "*" for any`)
	fs.DurationVar(&c.sweep, "sweep", dur("SIO_SWEEP_INTERVAL", "1s"), "how often dead sessions are swept and WebSocket pings sent")
	fs.DurationVar(&c.connectTimeout, "connect-timeout", dur("SIO_CONNECT_TIMEOUT", "45s"), "close sessions that connect no namespace within this time")
	fs.BoolVar(&c.conformance, "conformance", conformance, "serve the setup the official conformance suites expect")
	fs.StringVar(&c.pprof, "pprof", env("SIO_PPROF", ""), "serve net/http/pprof on this address (e.g. 127.0.0.1:6060); empty: off")
	fs.StringVar(&c.clientJS, "client-js", env("SIO_CLIENT_JS", ""), "file served as /socket.io.min.js (the official browser client); empty: redirect to the CDN")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if c.pollHold > handler.MaxPollHold {
		return c, fmt.Errorf("-poll-hold %s exceeds %s", c.pollHold, handler.MaxPollHold)
	}
	if c.conformance {
		c.pingInterval, c.pingTimeout, c.maxPayload = 300*time.Millisecond, 200*time.Millisecond, 1_000_000
		c.sweep, c.connectTimeout = 10*time.Millisecond, time.Second
	}
	if c.dynamoURL != "" && c.maxPayload > dynamo.MaxPacket {
		// A queued packet is one DynamoDB item (at most 400 KB).
		c.maxPayload = dynamo.MaxPacket
	}
	return c, nil
}

func run(ctx context.Context, cfg config, log *slog.Logger) error {
	var rdb goredis.UniversalClient
	if cfg.dynamoURL == "" || cfg.redisURL != "" {
		var closeRedis func()
		var err error
		rdb, closeRedis, err = openRedis(ctx, cfg.redisURL, log)
		if err != nil {
			return err
		}
		defer closeRedis()
	}
	sessionTTL := max(2*time.Minute, 2*(cfg.pingInterval+cfg.pingTimeout))
	// newStore returns the store for one engine; each engine has its own keys (or table): its
	// sweeper must only see its own sessions.
	newStore := func(name string) (session.Store, func(), error) {
		if cfg.dynamoURL != "" {
			table := cfg.table
			if name != "" {
				table += "-" + name
			}
			return openDynamo(ctx, cfg.dynamoURL, table, sessionTTL)
		}
		prefix := "sio"
		if name != "" {
			prefix += "-" + name
		}
		s := redis.New(rdb, redis.Options{Prefix: prefix, SessionTTL: sessionTTL})
		return s, func() { s.Close() }, nil
	}
	store, closeStore, err := newStore("")
	if err != nil {
		return err
	}
	defer closeStore()

	router := sio.NewRouter(log)
	if err := router.Register(chat.Consumer{}); err != nil {
		return err
	}
	if cfg.conformance {
		if err := conformance.Register(router); err != nil {
			return err
		}
	}
	// Gateways relay frames between processes only when processes share a real Redis.
	var relay goredis.UniversalClient
	if cfg.redisURL != "" {
		relay = rdb
	}
	shutdown := make(chan struct{})
	cors := handler.CORS(splitList(cfg.cors))
	r := chi.NewRouter()
	var engines []*handler.Engine
	var gateways []*localgw.Gateway
	// Each engine has its own key prefix: its sweeper must only see its own sessions.
	mount := func(path string, app handler.App, connectTimeout time.Duration, store session.Store) error {
		// Each connection's packets come from a pump in the process holding it, woken by the
		// store (Redis pub/sub); on DynamoDB, which cannot wake anyone, the committer pushes.
		_, pump := store.(session.MarkingNotifier)
		gw := localgw.New(localgw.Options{Redis: relay, MaxFrame: cfg.maxPayload, Logger: log, Pump: pump})
		eng, err := handler.New(handler.Config{
			Store: store, App: app, Sender: gw, PingInterval: cfg.pingInterval, PingTimeout: cfg.pingTimeout,
			MaxPayload: cfg.maxPayload, PollHold: cfg.pollHold, ConnectTimeout: connectTimeout,
			PollBackoff: cfg.pollBackoff, Logger: log, Shutdown: shutdown, Pump: pump,
		})
		if err != nil {
			return err
		}
		gw.SetRoutes(eng)
		if err := gw.Start(ctx); err != nil {
			return fmt.Errorf("websocket relay: %w", err)
		}
		r.Handle(path, cors(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if strings.EqualFold(req.Header.Get("Upgrade"), "websocket") {
				gw.ServeHTTP(w, req)
				return
			}
			eng.ServeHTTP(w, req)
		})))
		engines = append(engines, eng)
		gateways = append(gateways, gw)
		return nil
	}
	if err := mount("/socket.io/", router, cfg.connectTimeout, store); err != nil {
		return err
	}
	r.Get("/", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(chatPage)
	})
	r.Get("/socket.io.min.js", func(w http.ResponseWriter, req *http.Request) {
		if cfg.clientJS == "" {
			http.Redirect(w, req, clientCDN, http.StatusFound)
			return
		}
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		http.ServeFile(w, req, cfg.clientJS)
	})
	if cfg.conformance {
		echoStore, closeEcho, err := newStore("echo")
		if err != nil {
			return err
		}
		defer closeEcho()
		if err := mount("/engine.io/", handler.Echo{}, 0, echoStore); err != nil {
			return err
		}
	}
	defer func() {
		for _, gw := range gateways {
			gw.Shutdown()
		}
	}()

	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	if cfg.pprof != "" {
		// Profiles on their own listener: never on the public address.
		pl, err := net.Listen("tcp", cfg.pprof)
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
		defer ps.Close()
		log.Info("pprof", "addr", "http://"+pl.Addr().String()+"/debug/pprof/")
	}
	srv := &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}
	sweepCtx, stopSweep := context.WithCancel(ctx)
	defer stopSweep()
	for _, eng := range engines {
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
	close(shutdown)
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
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
		return nil, nil, fmt.Errorf("-redis %q: %w", url, err)
	}
	opt.PoolSize = max(opt.PoolSize, 64)
	rdb := goredis.NewClient(opt)
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		return nil, nil, fmt.Errorf("redis at %s: %w", url, err)
	}
	return rdb, func() { rdb.Close() }, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
