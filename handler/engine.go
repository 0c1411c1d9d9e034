package handler

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"log/slog"
	"strconv"
	"time"

	"github.com/serverless-socketio/server/engineio"
	"github.com/serverless-socketio/server/internal/logattr"
	"github.com/serverless-socketio/server/internal/workers"
	"github.com/serverless-socketio/server/session"
)

// App is what runs on top of Engine.IO: the Socket.IO router (sio.Router) or a raw Engine.IO
// application. Its methods record effects in b and do no I/O of their own.
type App interface {
	// OnMessages handles the message packets of one request, in order. An error means the
	// client broke the protocol; the session is then closed with reason "parse error".
	OnMessages(ctx context.Context, st *session.State, msgs []engineio.Packet, b *session.Batch) error
	// OnClose runs when the session ends, with a Socket.IO disconnect reason.
	OnClose(ctx context.Context, st *session.State, reason session.Reason, b *session.Batch)
}

// MaxPollHold is the longest a long-poll GET may be held: below API Gateway's 29 s integration
// timeout with room for the response.
const MaxPollHold = 28 * time.Second

// Config configures an [Engine]. Zero values mean the documented defaults.
type Config struct {
	// Store keeps all state. Required.
	Store session.Store
	// App handles messages. Required.
	App App
	// PingInterval is announced in the handshake; zero means 25 s.
	PingInterval time.Duration
	// PingTimeout is announced in the handshake; zero means 20 s.
	PingTimeout time.Duration
	// WSPingInterval replaces PingInterval for sessions opened over WebSocket; zero means
	// PingInterval. On API Gateway their pings come from a sweeper that runs once a minute
	// (in passes), so they announce a longer interval than polling sessions need.
	WSPingInterval time.Duration
	// MaxPayload bounds a POST body in bytes (announced as maxPayload); zero means 1,000,000.
	MaxPayload int64
	// PollHold is the longest a GET waits for packets before answering a noop; zero means 25 s.
	// It is capped at MaxPollHold. A GET also returns when a ping is due.
	PollHold time.Duration
	// PollBackoff bounds the wait between reads of a held GET when the store cannot publish
	// what it commits (no session.Subscriber); zero means 1 s.
	PollBackoff time.Duration
	// Upgrades lists the transports announced in a polling handshake; nil means ["websocket"]
	// when a Sender is set and none otherwise.
	Upgrades []string
	// Logger receives one line per refused request and per failure; nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Sender posts frames to WebSocket connections (the API Gateway Management API, or the
	// local gateway); nil means the engine serves long-polling only.
	Sender Sender
	// ConnectTimeout closes a session that has not connected to a namespace this long after its
	// handshake (Socket.IO's connectTimeout); zero means no limit (raw Engine.IO applications).
	ConnectTimeout time.Duration
	// FlushParallel bounds the concurrent pushes to WebSocket members after a broadcast; zero
	// means 32.
	FlushParallel int
	// Pump says that the process holding a WebSocket connection writes its session's packets
	// itself (WSPump, run by cmd/local's gateway for each connection), so a commit does not push
	// to WebSocket members and the sweeper does not ping them. It needs a store that is a
	// session.Subscriber. API Gateway holds the connections on AWS: there, commits push.
	Pump bool
	// Shutdown, when closed, makes held GETs answer at once (a noop) so a graceful shutdown does
	// not wait for them; the sessions stay open for another process to serve. Nil means never.
	Shutdown <-chan struct{}
	// PollHandover is how long a GET that answered keeps the session's poll lease for the
	// session's next GET, if that comes to this process (at most 50 ms): the next GET then
	// takes the lease without a store call, and what the first wrote is acknowledged with what
	// a later one writes (within 100 ms). A process whose next GETs seldom come back to it (a
	// load balancer spreading them) stops keeping leases. Zero lets the lease go with each
	// answer. Only for a process that lives on between requests: on Lambda, timers stop between
	// invocations. Call Drain at shutdown.
	PollHandover time.Duration
}

// Engine serves Engine.IO v4 long-polling (as an http.Handler), the WebSocket routes, and the
// sweeper that ends sessions whose client vanished. The Engine.IO policy lives here, the same for
// every store: when a GET holds, who writes a WebSocket, when a ping is due, when a session is
// dead, what a closed session owes.
type Engine struct {
	cfg   Config
	log   *slog.Logger
	acker *acker
	steps *workers.Pool // runs the pumps' steps
	polls *pollCache
	acks  ackTimes
	gets  activeGets
	conns connSessions // with Pump only
}

// New validates cfg and returns an Engine.
func New(cfg Config) (*Engine, error) {
	if cfg.Store == nil || cfg.App == nil {
		return nil, errors.New("handler: Config.Store and Config.App are required")
	}
	if _, ok := cfg.Store.(session.Subscriber); cfg.Pump && !ok {
		return nil, errors.New("handler: Config.Pump needs a store that publishes its commits (session.Subscriber)")
	}
	defaults(&cfg)
	e := &Engine{cfg: cfg, log: cfg.Logger}
	e.polls = newPollCache(cfg.PollHandover, e.letGoPoll)
	e.acker = newAcker(e)
	e.steps = workers.New()
	return e, nil
}

// defaults fills in the zero values of cfg.
func defaults(cfg *Config) {
	if cfg.PingInterval <= 0 {
		cfg.PingInterval = 25 * time.Second
	}
	if cfg.PingTimeout <= 0 {
		cfg.PingTimeout = 20 * time.Second
	}
	if cfg.MaxPayload <= 0 {
		cfg.MaxPayload = 1_000_000
	}
	if cfg.PollHold <= 0 {
		cfg.PollHold = 25 * time.Second
	}
	cfg.PollHold = min(cfg.PollHold, MaxPollHold)
	cfg.PollHandover = min(max(cfg.PollHandover, 0), maxPollHandover)
	if cfg.PollBackoff <= 0 {
		cfg.PollBackoff = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.FlushParallel <= 0 {
		cfg.FlushParallel = 32
	}
	if cfg.Upgrades == nil {
		cfg.Upgrades = []string{}
		if cfg.Sender != nil {
			cfg.Upgrades = []string{"websocket"}
		}
	}
}

// sweeperPings reports whether the sweeper sends the WebSocket sessions' pings (API Gateway,
// where no process holds the connections), rather than their pumps.
func (e *Engine) sweeperPings() bool { return !e.cfg.Pump }

// openPacket encodes the open packet of a session (Engine.IO v4 §"Handshake"), announcing its
// own heartbeat values, and the upgrades over polling (none over WebSocket).
func (e *Engine) openPacket(s *session.Session) []byte {
	var upgrades []string
	if s.Transport == session.Polling {
		upgrades = e.cfg.Upgrades
	}
	b := make([]byte, 0, 128)
	b = append(b, `0{"sid":"`...)
	b = append(b, s.ID...)
	b = append(b, `","upgrades":[`...)
	for i, u := range upgrades {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendQuote(b, u)
	}
	b = append(b, `],"pingInterval":`...)
	b = strconv.AppendInt(b, s.PingInterval.Milliseconds(), 10)
	b = append(b, `,"pingTimeout":`...)
	b = strconv.AppendInt(b, s.PingTimeout.Milliseconds(), 10)
	b = append(b, `,"maxPayload":`...)
	b = strconv.AppendInt(b, e.cfg.MaxPayload, 10)
	return append(b, '}')
}

// newSession creates a session in the store and returns it; conn is the WebSocket connection
// of a session opened over WebSocket.
func (e *Engine) newSession(ctx context.Context, transport session.Transport, conn string) (*session.Session, error) {
	now := e.cfg.Now()
	s := &session.Session{
		ID:           newSID(),
		Transport:    transport,
		Conn:         conn,
		PingInterval: e.cfg.PingInterval,
		PingTimeout:  e.cfg.PingTimeout,
		LastPong:     now,
	}
	if transport == session.WebSocket && e.cfg.WSPingInterval > 0 {
		s.PingInterval = e.cfg.WSPingInterval
	}
	if e.cfg.ConnectTimeout > 0 {
		s.ConnectDeadline = now.Add(e.cfg.ConnectTimeout)
	}
	if err := e.cfg.Store.Create(ctx, s, s.Schedule(e.sweeperPings())); err != nil {
		return nil, err
	}
	return s, nil
}

// pong records the client's pong in b, and the sweeper's hints of the heartbeat it restarts.
func (e *Engine) pong(st *session.State, b *session.Batch) {
	now := e.cfg.Now()
	b.Pong(now)
	next := st.Session
	next.LastPong, next.PingSent = now, false
	b.Schedule(next.Schedule(e.sweeperPings()))
}

// commit commits b for session sid; st, when not nil, is the state this request loaded for it,
// which a [session.StateCommitter] builds on instead of reading the session again.
func (e *Engine) commit(ctx context.Context, sid string, st *session.State, b *session.Batch) (*session.Committed, error) {
	if sc, ok := e.cfg.Store.(session.StateCommitter); ok && st != nil && st.ID == sid {
		return sc.CommitState(ctx, st, b)
	}
	return e.cfg.Store.Commit(ctx, sid, b)
}

// closeSession ends a session that the caller has not loaded: Load, the App's OnClose, then one
// commit. A session already gone is not an error.
func (e *Engine) closeSession(ctx context.Context, sid string, reason session.Reason) error {
	var b session.Batch
	st, err := e.cfg.Store.Load(ctx, sid)
	switch {
	case errors.Is(err, session.ErrNotFound):
		// Nothing to run; the close still lets the store drop what indexes the session.
	case err != nil:
		return err
	default:
		e.cfg.App.OnClose(ctx, st, reason, &b)
	}
	b.Close(reason, false)
	return e.commitClose(ctx, sid, st, reason, &b)
}

// closeState closes a loaded session: OnClose, one commit, and the connection closed. owesNoop
// says that the client asked for it over long-polling.
func (e *Engine) closeState(ctx context.Context, st *session.State, reason session.Reason, owesNoop bool) error {
	var b session.Batch
	e.cfg.App.OnClose(ctx, st, reason, &b)
	b.Close(reason, owesNoop)
	return e.commitClose(ctx, st.ID, st, reason, &b)
}

// commitClose commits a batch that ends with a close, pushes what it broadcast to WebSocket
// members, and closes the session's own WebSocket connection, if any.
func (e *Engine) commitClose(ctx context.Context, sid string, st *session.State, reason session.Reason, b *session.Batch) error {
	c, err := e.commit(ctx, sid, st, b)
	if errors.Is(err, session.ErrNotFound) || errors.Is(err, session.ErrAlive) {
		return nil
	}
	if err != nil {
		return err
	}
	e.log.Debug("session closed", logattr.Session(sid), "reason", reason)
	e.flushAll(ctx, c.Flush)
	if st != nil && e.cfg.Sender != nil {
		for _, conn := range []string{st.Conn, st.Probe} {
			if conn != "" {
				if err := e.cfg.Sender.Close(ctx, conn); err != nil && !errors.Is(err, ErrGone) {
					e.log.Warn("closing the connection failed", logattr.Session(sid), "conn", conn, "err", err)
				}
			}
		}
	}
	return nil
}

// closeLogged closes a session outside the request's cancellation: the client may be gone.
func (e *Engine) closeLogged(ctx context.Context, sid string, reason session.Reason) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := e.closeSession(ctx, sid, reason); err != nil {
		e.log.Warn("close failed", logattr.Session(sid), "reason", reason, "err", err)
	}
}

// Sweep acts on up to limit sessions of each kind the store's hints list as due: it closes the
// sessions past their deadline, running the App's OnClose with reason "ping timeout", and,
// unless WebSockets are pumped, sends the heartbeat ping to the WebSocket sessions that are due.
// A hint that came too early (a pong moved the clock) is moved to the session's next beat. It is
// safe to run in several processes at once: a close applies only to the clock it was decided on,
// and a ping goes out under the session's write lease. It returns how many sessions it closed.
func (e *Engine) Sweep(ctx context.Context, limit int) (int, error) {
	due, err := e.cfg.Store.Due(ctx, e.cfg.Now(), limit)
	if err != nil {
		return 0, err
	}
	if e.sweeperPings() {
		e.pushAll(ctx, due.Ping, true)
	}
	n := 0
	for _, sid := range due.Expired {
		closed, err := e.sweepOne(ctx, sid)
		if err != nil {
			e.log.Warn("sweep: close failed", logattr.Session(sid), "err", err)
			continue
		}
		if closed {
			n++
		}
	}
	return n, nil
}

// sweepOne closes the session if it is past its deadline, and otherwise moves its hints to its
// next beat.
func (e *Engine) sweepOne(ctx context.Context, sid string) (bool, error) {
	var b session.Batch
	st, err := e.cfg.Store.Load(ctx, sid)
	if errors.Is(err, session.ErrNotFound) {
		// Its keys expired without a close: the close lets the store drop its hints.
		b.Close(session.ReasonPingTimeout, false)
		_, err = e.cfg.Store.Commit(ctx, sid, &b)
		if errors.Is(err, session.ErrNotFound) {
			err = nil
		}
		return false, err
	}
	if err != nil {
		return false, err
	}
	if !st.Expired(e.cfg.Now()) {
		// The commit also finishes what the store left undone (DynamoDB: a broadcast whose
		// fan-out failed), and names the WebSocket sessions that then have packets.
		b.Require(st.Clock())
		b.Schedule(st.Schedule(e.sweeperPings()))
		c, err := e.cfg.Store.Commit(ctx, sid, &b)
		if err == nil {
			e.flushAll(ctx, c.Flush)
		}
		if errors.Is(err, session.ErrAlive) || errors.Is(err, session.ErrNotFound) {
			err = nil
		}
		return false, err
	}
	e.cfg.App.OnClose(ctx, st, session.ReasonPingTimeout, &b)
	b.CloseIf(session.ReasonPingTimeout, st.Clock())
	c, err := e.commit(ctx, sid, st, &b)
	if errors.Is(err, session.ErrAlive) || errors.Is(err, session.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	e.flushAll(ctx, c.Flush)
	if st.Conn != "" && e.cfg.Sender != nil {
		_ = e.cfg.Sender.Close(ctx, st.Conn)
	}
	return true, nil
}

// RunSweeper calls Sweep every interval until ctx ends.
func (e *Engine) RunSweeper(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := e.Sweep(ctx, 1000); err != nil && ctx.Err() == nil {
				e.log.Warn("sweep failed", "err", err)
			}
		}
	}
}

// newSID returns an Engine.IO session id: 128 random bits, URL-safe (22 characters).
func newSID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Drain lets go of the poll leases this process keeps for the sessions' next GETs
// (Config.PollHandover), acknowledging what was written under them: at shutdown, after the
// server stopped taking requests, so that the next GETs, on other processes, find them free.
func (e *Engine) Drain(ctx context.Context) { e.polls.drain(ctx) }
