// Package localgw is cmd/local's stand-in for API Gateway WebSocket: it accepts WebSocket
// connections on the server's own address, runs the same $connect / $default / $disconnect
// route handlers that Lambda runs (handler.Engine's WS* methods), and implements the Management
// API side (handler.Sender) for them.
//
// Several processes can share one Redis: each process owns the connections it accepted, and a
// frame for a connection owned by another process travels over a Redis pub/sub channel named
// after the owner (a connection id starts with its owner's instance id), so a broadcast
// committed anywhere reaches every connection, as PostToConnection does on AWS.
//
// # Concurrency
//
// A Gateway is safe for concurrent use. Frames to one connection are written in the order of the
// Send calls that carry them.
package localgw

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"
	goredis "github.com/redis/go-redis/v9"

	"github.com/serverless-socketio/server/handler"
	"github.com/serverless-socketio/server/internal/logattr"
	"github.com/serverless-socketio/server/internal/workers"
)

// Routes are the route handlers of an API Gateway WebSocket API (implemented by handler.Engine).
type Routes interface {
	WSConnect(ctx context.Context, conn string, query url.Values) error
	WSOpen(ctx context.Context, conn string) error
	WSMessage(ctx context.Context, conn string, frame []byte, binary bool) error
	WSDisconnect(ctx context.Context, conn string) error
}

// Pumper is implemented by route handlers that deliver a connection's frames from the process
// holding it (handler.Engine.WSPump): the gateway runs it for each connection, with Options.Pump.
type Pumper interface {
	WSPump(ctx context.Context, conn string, w handler.FrameWriter, done func(error))
}

// Gateway accepts WebSocket connections and relays frames between processes.
type Gateway struct {
	routes   Routes
	log      *slog.Logger
	instance string
	rdb      goredis.UniversalClient // nil: a single process, no relay
	prefix   string
	maxFrame int64
	pump     bool
	origins  handler.OriginPolicy
	work     *workers.Pool // runs the frames' routes, so that an idle reader's stack stays small

	mu    sync.Mutex
	conns map[string]*conn
	ps    *goredis.PubSub
}

type conn struct {
	ws     *websocket.Conn
	out    *corked       // under ws's write buffer
	mu     sync.Mutex    // serializes the relay's writes (the pump's go through out alone)
	closed chan struct{} // closed when the server closes the connection
	done   chan struct{} // closed when that close handshake has finished
	once   sync.Once
}

// close starts the close handshake once; the connection's goroutine waits for it to finish
// before releasing the connection, so the client always gets the close frame.
func (c *conn) close(code websocket.StatusCode) {
	c.once.Do(func() {
		close(c.closed)
		go func() {
			defer close(c.done)
			_ = c.ws.Close(code, "")
		}()
	})
}

// Options configure a Gateway.
type Options struct {
	// Redis relays frames to connections held by other processes; nil means one process only.
	Redis goredis.UniversalClient
	// Prefix starts the relay channel names; zero means "sio".
	Prefix string
	// MaxFrame bounds an incoming frame in bytes; zero means 1,000,000.
	MaxFrame int64
	// Logger; nil means slog.Default().
	Logger *slog.Logger
	// Pump runs the routes' WSPump (they must be a Pumper) for each connection, in place of
	// WSOpen, until it closes: the connection's frames, the open packet first, come from its
	// pump, which is the only writer of a session's packets. Frames for this process's
	// connections are then written directly; only those for other processes' connections (a
	// probe's answer, a close) cross Redis.
	Pump bool
	// Origins decides which pages may open a WebSocket (OriginPolicy.CheckWebSocket): the zero
	// value admits the server's own pages and clients that send no Origin (not browsers).
	Origins handler.OriginPolicy
}

// New returns a gateway; call SetRoutes before serving, and Close when done.
func New(opt Options) *Gateway {
	if opt.Prefix == "" {
		opt.Prefix = "sio"
	}
	if opt.MaxFrame <= 0 {
		opt.MaxFrame = 1_000_000
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	var id [9]byte
	_, _ = rand.Read(id[:])
	g := &Gateway{
		log: opt.Logger, instance: base64.RawURLEncoding.EncodeToString(id[:]), rdb: opt.Redis,
		prefix: opt.Prefix, maxFrame: opt.MaxFrame, pump: opt.Pump, origins: opt.Origins,
		conns: make(map[string]*conn), work: workers.New(),
	}
	return g
}

// SetRoutes sets the route handlers (they need the gateway as their Sender, hence two steps).
func (g *Gateway) SetRoutes(r Routes) { g.routes = r }

var _ handler.Sender = (*Gateway)(nil)

// Start subscribes to this instance's relay channel; it returns once the subscription is active.
func (g *Gateway) Start(ctx context.Context) error {
	if g.rdb == nil {
		return nil
	}
	g.ps = g.rdb.Subscribe(ctx, g.channel(g.instance))
	if _, err := g.ps.Receive(ctx); err != nil {
		return err
	}
	go func() {
		for m := range g.ps.Channel() {
			g.deliver(m.Payload)
		}
	}()
	return nil
}

// Shutdown stops the relay and closes every connection this process holds.
func (g *Gateway) Shutdown() {
	if g.ps != nil {
		g.ps.Close()
	}
	g.mu.Lock()
	conns := make([]*conn, 0, len(g.conns))
	for _, c := range g.conns {
		conns = append(conns, c)
	}
	g.mu.Unlock()
	for _, c := range conns {
		c.close(websocket.StatusGoingAway)
	}
}

func (g *Gateway) channel(instance string) string { return g.prefix + ":gw:" + instance }

// ServeHTTP checks the upgrade and runs $connect (a refusal answers the HTTP request with the
// Engine.IO error), completes it, and hands the connection to a goroutine of its own: net/http's
// goroutine returns, and its buffers and the request are let go for the connection's lifetime.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var suffix [12]byte
	_, _ = rand.Read(suffix[:])
	id := g.instance + "." + base64.RawURLEncoding.EncodeToString(suffix[:])
	err := g.origins.CheckWebSocket(r.Header.Get("Origin"), r.Host)
	if err == nil {
		err = g.routes.WSConnect(r.Context(), id, r.URL.Query())
	}
	if err != nil {
		g.refuse(w, r, err)
		return
	}
	// The request's context ends when ServeHTTP returns; the connection's outlives it.
	ctx := context.WithoutCancel(r.Context())
	// The Origin was checked above, by the policy that CORS follows too.
	sb := &smallBuffers{ResponseWriter: w}
	ws, err := websocket.Accept(sb, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		g.log.Info("websocket accept failed", "err", err)
		_ = g.routes.WSDisconnect(ctx, id)
		return
	}
	ws.SetReadLimit(g.maxFrame)
	c := &conn{ws: ws, out: sb.out, closed: make(chan struct{}), done: make(chan struct{})}
	sb.out.closed = c.closed
	g.mu.Lock()
	g.conns[id] = c
	g.mu.Unlock()
	go g.serve(ctx, id, c)
}

// serve runs an accepted connection until it closes: the open packet (or the pump, which sends
// it first), $default per frame, $disconnect at the end.
func (g *Gateway) serve(ctx context.Context, id string, c *conn) {
	defer g.disconnect(ctx, id, c)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if g.pump {
		pumped := make(chan struct{})
		defer func() { cancel(); <-pumped }()
		g.startPump(ctx, id, c, func() { close(pumped) })
	} else if err := g.routes.WSOpen(ctx, id); err != nil {
		g.log.Warn("websocket open failed", "conn", id, "err", err)
		return
	}
	routed := make(chan error, 1)
	for {
		typ, data, err := c.ws.Read(ctx)
		if err != nil {
			return
		}
		if typ == websocket.MessageText && !utf8.Valid(data) {
			// RFC 6455 §8.1: a text frame that is not UTF-8 fails the connection with 1007.
			g.log.Info("websocket text frame is not UTF-8; closing", "conn", id)
			c.close(websocket.StatusInvalidFramePayloadData)
			return
		}
		g.work.Run(func() { routed <- g.routes.WSMessage(ctx, id, data, typ == websocket.MessageBinary) })
		if err := <-routed; err != nil {
			g.log.Info("websocket frame refused; closing", "conn", id, "err", err)
			c.close(websocket.StatusPolicyViolation)
			return
		}
		select {
		case <-c.closed:
			return
		default:
		}
	}
}

// disconnect forgets an ended connection, runs $disconnect, and lets the connection go once the
// close handshake the server started (if it did) has finished.
func (g *Gateway) disconnect(ctx context.Context, id string, c *conn) {
	g.mu.Lock()
	delete(g.conns, id)
	g.mu.Unlock()
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := g.routes.WSDisconnect(dctx, id); err != nil {
		g.log.Warn("websocket $disconnect failed", "conn", id, "err", err)
	}
	select {
	case <-c.closed:
		<-c.done
	default:
		c.ws.CloseNow()
	}
}

// wsBufferSize is a WebSocket connection's read and write buffer size, in place of net/http's 4
// KB each (an idle connection holds both): a frame larger than a buffer is read or written
// around it, not split.
const wsBufferSize = 1024

// smallBuffers is the ResponseWriter an upgrade hijacks: it hands the connection over with
// buffers of wsBufferSize (larger if net/http had buffered more of the connection already), the
// write buffer's through out.
type smallBuffers struct {
	http.ResponseWriter
	out *corked
}

func (w *smallBuffers) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	if err := brw.Writer.Flush(); err != nil {
		nc.Close()
		return nil, nil, err
	}
	// The bytes already read go into the new reader's buffer (the websocket package resets the
	// reader it gets to its buffered bytes and the connection).
	pending, _ := brw.Reader.Peek(brw.Reader.Buffered())
	br := bufio.NewReaderSize(io.MultiReader(bytes.NewReader(bytes.Clone(pending)), nc), max(wsBufferSize, len(pending)))
	if _, err := br.Peek(len(pending)); err != nil {
		nc.Close()
		return nil, nil, err
	}
	w.out = &corked{Conn: nc}
	return nc, bufio.NewReadWriter(br, bufio.NewWriterSize(w.out, wsBufferSize)), nil
}

// refuse answers an upgrade that the Origin check or $connect refused: with the Engine.IO error
// (a *handler.RequestError), or by completing the upgrade and closing at once where Engine.IO
// does that; any other error is the store's (503).
func (g *Gateway) refuse(w http.ResponseWriter, r *http.Request, err error) {
	var re *handler.RequestError
	switch {
	case errors.As(err, &re) && re.AcceptThenClose:
		if ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true}); err == nil {
			ws.Close(websocket.StatusPolicyViolation, re.Message)
		}
	case errors.As(err, &re):
		// No query string in the log: a token may travel in it.
		g.log.Info("websocket refused", "status", re.Status, "error", re.Message, logattr.Client("origin", r.Header.Get("Origin")))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(re.Status)
		_, _ = w.Write(re.Body())
	default:
		g.log.Error("websocket $connect failed", "err", err)
		http.Error(w, `{"code":3,"message":"Store unavailable"}`, http.StatusServiceUnavailable)
	}
}

// startPump starts the connection's pump; when the pump ends because the session did, or
// failed, the connection closes. ended is called once the pump has ended.
func (g *Gateway) startPump(ctx context.Context, id string, c *conn, ended func()) {
	p, ok := g.routes.(Pumper)
	if !ok {
		g.log.Error("websocket pump: the routes have no WSPump", "conn", id)
		c.close(websocket.StatusInternalError)
		ended()
		return
	}
	p.WSPump(ctx, id, frameWriter{ctx, c}, func(err error) {
		defer ended()
		switch {
		case ctx.Err() != nil: // the connection ended first
		case err != nil && !errors.Is(err, handler.ErrGone):
			g.log.Warn("websocket pump failed; closing", "conn", id, "err", err)
			c.close(websocket.StatusInternalError)
		default:
			c.close(websocket.StatusNormalClosure)
		}
	})
}

// Send writes a frame to a connection of this process, or relays it to the owner process; it
// returns once Redis has the frame (or the frame is written, for a single process).
func (g *Gateway) Send(ctx context.Context, id string, frame []byte, binary bool) error {
	return g.route(ctx, id, 's', frame, binary)
}

// Close closes a connection, here or in its owner process.
func (g *Gateway) Close(ctx context.Context, id string) error {
	return g.route(ctx, id, 'c', nil, false)
}

func (g *Gateway) route(ctx context.Context, id string, op byte, frame []byte, binary bool) error {
	owner, _, ok := strings.Cut(id, ".")
	if !ok {
		return handler.ErrGone
	}
	if owner == g.instance && (g.rdb == nil || g.pump) {
		return g.local(ctx, id, op, frame, binary)
	}
	if g.rdb == nil {
		return handler.ErrGone // another process's connection, and no relay to reach it
	}
	// With several processes every frame goes through the owner's channel, its own included:
	// flushers in different processes take turns on a session, and one channel keeps their
	// frames in the order Redis received them.
	kind := byte('t')
	if binary {
		kind = 'b'
	}
	msg := make([]byte, 0, len(id)+2+len(frame))
	msg = append(append(append(msg, op, kind), id...), '\n')
	msg = append(msg, frame...)
	n, err := g.rdb.Publish(ctx, g.channel(owner), msg).Result()
	if err != nil {
		return err
	}
	if n == 0 {
		return handler.ErrGone // the owner process is gone, and its connections with it
	}
	return nil
}

// deliver carries out a relayed operation: op, frame kind, "id\n", frame.
func (g *Gateway) deliver(payload string) {
	if len(payload) < 3 {
		return
	}
	id, frame, ok := strings.Cut(payload[2:], "\n")
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := g.local(ctx, id, payload[0], []byte(frame), payload[1] == 'b'); err != nil && !errors.Is(err, handler.ErrGone) {
		g.log.Warn("relayed frame not delivered", "conn", id, "err", err)
	}
}

func (g *Gateway) local(ctx context.Context, id string, op byte, frame []byte, binary bool) error {
	g.mu.Lock()
	c := g.conns[id]
	g.mu.Unlock()
	if c == nil {
		return handler.ErrGone
	}
	if op == 'c' {
		c.close(websocket.StatusNormalClosure)
		return nil
	}
	return g.write(ctx, c, frame, binary)
}

// write writes one frame; frames to one connection never interleave. A write that fails ends
// the connection (ErrGone), unless it failed because the caller's context ended first: then the
// connection is not the one to blame.
func (g *Gateway) write(ctx context.Context, c *conn, frame []byte, binary bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	w := frameWriter{ctx, c}
	if err := w.WriteFrame(frame, binary); err != nil {
		return err
	}
	return w.Flush()
}
