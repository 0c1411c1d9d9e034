package handler

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/serverless-socketio/server/internal/logattr"
	"github.com/serverless-socketio/server/session"
)

const (
	// pumpRetry is how long a pump waits before trying again after the store failed, or while
	// another writer holds the session's write lease.
	pumpRetry = time.Second
	// pumpLease is the pump's write lease; the pump renews it a third of the way through.
	pumpLease = 30 * time.Second
)

// WSPump writes a WebSocket session's packets to its connection conn from the process that
// holds the connection, for as long as ctx lives (until the connection ends): the pull
// alternative to the push of WSMessage, for servers that hold their connections themselves
// (cmd/local; Config.Pump). It holds the session's write lease, so that it is the only writer,
// and follows the session like a long-poll that never ends: packets come from the store's
// events, in memory, and the logs are read only to fill a gap. What it wrote is acknowledged in
// the background, many sessions at once (a connection that ends takes its session with it, so
// a late acknowledgement costs nothing). It also sends the heartbeat pings, and closes the
// session when the heartbeat stops ("ping timeout").
//
// A session opened over conn gets its open packet from the pump, first: with a pump, the gateway
// does not call WSOpen. The pump writes to the connection through w, flushing once per wake-up
// (a wake-up that finds several packets writes them together); an error from w ends the pump.
// WSPump returns at once: the pump runs on the store's events and its own timers, with no
// goroutine while it waits (an idle connection costs only its reader's). done is called once,
// when the pump has ended: with ctx's error when ctx ended, w's error, or, with nil, when
// the session is gone (the caller then closes the connection). It needs a store that is a
// session.Subscriber.
func (e *Engine) WSPump(ctx context.Context, conn string, w FrameWriter, done func(error)) {
	if _, ok := e.cfg.Store.(session.Subscriber); !ok {
		done(errors.New("handler: WSPump needs a store that publishes its commits (session.Subscriber)"))
		return
	}
	p := &pump{e: e, ctx: ctx, conn: conn, w: w, token: newSID(), done: done}
	p.timer = time.AfterFunc(time.Hour, p.wake)
	p.timer.Stop()
	p.stopCtx = context.AfterFunc(ctx, p.wake)
	p.wake()
}

// pump is the state of one WSPump. It runs in steps, one at a time: a step writes what is due
// and returns when it would wait; the store's events (its feed's watch), its timer and the end
// of its context each start the next step.
type pump struct {
	e       *Engine
	ctx     context.Context
	sid     string // empty until the first step loaded the session
	conn    string
	w       FrameWriter
	token   string
	f       *feed
	renewAt time.Time // when the write lease is due for renewal; zero: not held
	pinged  time.Time // the LastPong whose ping this pump wrote
	done    func(error)

	timer   *time.Timer
	stopCtx func() bool

	mu    sync.Mutex
	busy  bool // a step runs
	again bool // something woke the pump during that step
	over  bool
}

// wake starts a step, or has the running one followed by another.
func (p *pump) wake() {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.over:
	case p.busy:
		p.again = true
	default:
		p.busy = true
		p.e.steps.Run(p.steps)
	}
}

// steps runs steps until the pump waits (its timer armed for until) or ends.
func (p *pump) steps() {
	for {
		until, over, err := p.step()
		if over {
			p.end(err)
			return
		}
		p.mu.Lock()
		if p.again {
			p.again = false
			p.mu.Unlock()
			continue
		}
		p.timer.Reset(max(until.Sub(p.e.cfg.Now()), 0))
		p.busy = false
		p.mu.Unlock()
		return
	}
}

// step writes what is due; it returns when the pump should look again, or that it is over and
// why (nil: the session is gone).
func (p *pump) step() (until time.Time, over bool, err error) {
	if p.ctx.Err() != nil {
		return time.Time{}, true, p.ctx.Err()
	}
	if p.f == nil {
		if err := p.open(); err != nil || p.f == nil {
			return time.Time{}, true, err
		}
	}
	for {
		now := p.e.cfg.Now()
		if !p.holdLease() {
			return p.retry(now), false, nil
		}
		entries, err := p.f.next(p.ctx)
		switch {
		case p.ctx.Err() != nil:
			return time.Time{}, true, p.ctx.Err()
		case errors.Is(err, session.ErrNotFound):
			return time.Time{}, true, nil // closed, or gone
		case err != nil:
			p.e.log.Warn("pump: read failed", logattr.Session(p.sid), "conn", p.conn, "err", err)
			return p.retry(now), false, nil
		}
		s := p.f.session()
		switch {
		case s.Transport != session.WebSocket || s.Conn != p.conn:
			// The connection probes an upgrade of a polling session: nothing is ours to write
			// until its "5" (whose commit is an event of the session).
			return p.retry(now), false, nil
		case s.Expired(now):
			p.e.closeLogged(p.ctx, p.sid, session.ReasonPingTimeout)
			return time.Time{}, true, nil
		}
		ping := s.NeedsPing(now) && !p.pinged.Equal(s.LastPong)
		if len(entries) == 0 && !ping {
			return p.lease(p.nextBeat(s)), false, nil
		}
		if err := p.write(entries, ping); err != nil {
			return time.Time{}, true, err
		}
	}
}

// open loads the connection's session and writes its open packet if it was opened over the
// connection (WSOpen's work, which the gateway leaves to the pump); it leaves p.f nil if the
// session is gone.
func (p *pump) open() error {
	st, err := p.load()
	if errors.Is(err, session.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if st.Conn == p.conn {
		if err := p.w.WriteFrame(p.e.openPacket(&st.Session), false); err != nil {
			return err
		}
		if err := p.w.Flush(); err != nil {
			return err
		}
	}
	p.sid, p.f = st.ID, p.e.newFeed(st.ID)
	p.f.notify = p.wake
	p.f.watchSession(p.ctx)
	return nil
}

// load returns the session of the pump's connection: the one its $connect created on this
// process (nothing can have changed in it that the open packet says), or else from the store.
func (p *pump) load() (*session.State, error) {
	if s := p.e.conns.takeCreated(p.conn); s != nil {
		return &session.State{Session: *s}, nil
	}
	return p.e.loadConn(p.ctx, p.conn)
}

// retry is when a step that could not go on (the store failed, another writer holds the
// lease, an upgrade probe) looks again.
func (p *pump) retry(now time.Time) time.Time { return p.lease(now.Add(pumpRetry)) }

// lease brings until forward to the lease's renewal, if the pump holds it.
func (p *pump) lease(until time.Time) time.Time {
	if !p.renewAt.IsZero() {
		until = minTime(until, p.renewAt)
	}
	return until
}

// write writes entries and the ping, and once they are flushed hands them to the
// acknowledgements.
func (p *pump) write(entries []session.Entry, ping bool) error {
	_, err := writeEntries(entries, ping, func(frame []byte, binary bool) error {
		err := p.w.WriteFrame(frame, binary)
		if errors.Is(err, ErrFrameRefused) {
			p.e.log.Warn("pump: frame dropped", logattr.Session(p.sid), "bytes", len(frame), "binary", binary, "err", err)
			return nil
		}
		return err
	})
	if err == nil {
		err = p.w.Flush()
	}
	if err != nil {
		return err
	}
	p.f.handed(entries)
	p.e.acker.add(p.sid, p.f.ack(entries).Through)
	if ping {
		s := p.f.session()
		p.pinged = s.LastPong
		ctx, cancel := context.WithTimeout(p.ctx, ackTimeout)
		defer cancel()
		if err := p.e.cfg.Store.Ack(ctx, p.sid, session.Ack{PingFor: s.LastPong}); err != nil {
			p.e.log.Warn("pump: recording the ping failed", logattr.Session(p.sid), "err", err)
		}
	}
	return nil
}

// nextBeat is when the heartbeat next has work: the ping, or once this pump wrote it, the
// deadline.
func (p *pump) nextBeat(s *session.Session) time.Time {
	if s.PingSent || p.pinged.Equal(s.LastPong) {
		return s.Deadline()
	}
	return s.PingDue()
}

// holdLease takes or renews the write lease when it is due; it reports whether the pump holds it.
func (p *pump) holdLease() bool {
	now := p.e.cfg.Now()
	if !p.renewAt.IsZero() && now.Before(p.renewAt) {
		return true
	}
	_, err := p.e.cfg.Store.Acquire(p.ctx, p.sid, session.LeaseWrite, p.token, pumpLease)
	if err != nil {
		p.renewAt = time.Time{}
		if !errors.Is(err, session.ErrBusy) && p.ctx.Err() == nil {
			p.e.log.Warn("pump: lease failed", logattr.Session(p.sid), "err", err)
		}
		return false
	}
	p.renewAt = now.Add(pumpLease / 3)
	return true
}

// end stops the pump's wake-ups, acknowledges what it wrote, lets the lease go, and calls done.
func (p *pump) end(err error) {
	p.mu.Lock()
	p.over = true
	p.mu.Unlock()
	p.timer.Stop()
	p.stopCtx()
	if p.f != nil {
		p.f.stop()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(p.ctx), ackTimeout)
		a := p.e.acker.take(p.sid)
		a.Release, a.Token = session.LeaseWrite, p.token
		_ = p.e.cfg.Store.Ack(ctx, p.sid, a)
		cancel()
	}
	p.done(err)
}
