package handler

import (
	"context"
	"errors"
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
// does not call WSOpen. send writes one frame to the connection; an error from it ends the pump.
// WSPump returns when ctx ends, when send fails, or, with nil, when the session is gone: the
// caller then closes the connection. It needs a store that is a session.Subscriber.
func (e *Engine) WSPump(ctx context.Context, conn string, send func(frame []byte, binary bool) error) error {
	if _, ok := e.cfg.Store.(session.Subscriber); !ok {
		return errors.New("handler: WSPump needs a store that publishes its commits (session.Subscriber)")
	}
	st, err := e.cfg.Store.LoadConn(ctx, conn)
	if errors.Is(err, session.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if st.Conn == conn {
		// A session opened over this connection: its open packet goes first (WSOpen's work,
		// which the gateway leaves to the pump).
		if err := send(e.openPacket(&st.Session), false); err != nil {
			return err
		}
	}
	p := &pump{e: e, ctx: ctx, sid: st.ID, conn: conn, send: send, token: newSID(), f: e.newFeed(st.ID)}
	defer p.end()
	return p.run()
}

// pump is the state of one WSPump.
type pump struct {
	e       *Engine
	ctx     context.Context
	sid     string
	conn    string
	send    func(frame []byte, binary bool) error
	token   string
	f       *feed
	renewAt time.Time // when the write lease is due for renewal; zero: not held
	pinged  time.Time // the LastPong whose ping this pump wrote
}

func (p *pump) run() error {
	for {
		if !p.holdLease() {
			p.wait(p.e.cfg.Now().Add(pumpRetry))
			continue
		}
		entries, err := p.f.next(p.ctx)
		switch {
		case p.ctx.Err() != nil:
			return p.ctx.Err()
		case errors.Is(err, session.ErrNotFound):
			return nil // closed, or gone
		case err != nil:
			p.e.log.Warn("pump: read failed", logattr.Session(p.sid), "conn", p.conn, "err", err)
			p.wait(p.e.cfg.Now().Add(pumpRetry))
			continue
		}
		s := p.f.session()
		now := p.e.cfg.Now()
		switch {
		case s.Transport != session.WebSocket || s.Conn != p.conn:
			// The connection probes an upgrade of a polling session: nothing is ours to write
			// until its "5" (whose commit is an event of the session).
			p.wait(now.Add(pumpRetry))
			continue
		case s.Expired(now):
			p.e.closeLogged(p.ctx, p.sid, session.ReasonPingTimeout)
			return nil
		}
		ping := s.NeedsPing(now) && !p.pinged.Equal(s.LastPong)
		if len(entries) == 0 && !ping {
			p.wait(p.nextBeat(s))
			continue
		}
		if err := p.write(entries, ping); err != nil {
			return err
		}
	}
}

// write writes entries and the ping, and hands them to the acknowledgements.
func (p *pump) write(entries []session.Entry, ping bool) error {
	_, err := writeEntries(entries, ping, func(frame []byte, binary bool) error {
		err := p.send(frame, binary)
		if errors.Is(err, ErrFrameRefused) {
			p.e.log.Warn("pump: frame dropped", logattr.Session(p.sid), "bytes", len(frame), "binary", binary, "err", err)
			return nil
		}
		return err
	})
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

// wait returns at the feed's next event, at until (and at the lease's renewal), or when the
// pump's context ends.
func (p *pump) wait(until time.Time) {
	if !p.renewAt.IsZero() {
		until = minTime(until, p.renewAt)
	}
	events, backoff := p.f.wake()
	t := time.NewTimer(max(until.Sub(p.e.cfg.Now()), 0))
	defer t.Stop()
	select {
	case <-events:
	case <-backoff:
	case <-t.C:
	case <-p.ctx.Done():
	}
}

// end acknowledges what the pump wrote and lets the lease go.
func (p *pump) end() {
	p.f.stop()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(p.ctx), ackTimeout)
	defer cancel()
	a := p.e.acker.take(p.sid)
	a.Release, a.Token = session.LeaseWrite, p.token
	_ = p.e.cfg.Store.Ack(ctx, p.sid, a)
}
