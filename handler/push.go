package handler

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/serverless-socketio/server/engineio"
	"github.com/serverless-socketio/server/internal/logattr"
	"github.com/serverless-socketio/server/session"
)

const (
	// writeLease bounds how long one pusher may hold a session's write lease if it dies mid-way.
	writeLease = 10 * time.Second
	// pushTimeout bounds one push, detached from the request that caused it.
	pushTimeout = 20 * time.Second
	// sendTries is how many times a frame is posted before a push gives up on it for now (a
	// throttle, a 5xx): what was not sent stays queued for the next push.
	sendTries = 3
)

// flushAll pushes what is queued for each WebSocket session a commit listed, unless WebSockets
// are pumped (each pump writes its own).
func (e *Engine) flushAll(ctx context.Context, sids []string) {
	if len(sids) == 0 || e.cfg.Sender == nil || e.cfg.Pump {
		return
	}
	e.pushAll(ctx, sids, false)
}

// pushAll pushes to each session, at most FlushParallel at a time, on a context of its own: the
// request that caused it (a sender that hangs up) does not cut other members' pushes short.
func (e *Engine) pushAll(ctx context.Context, sids []string, ping bool) {
	if len(sids) == 0 || e.cfg.Sender == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), pushTimeout)
	defer cancel()
	if len(sids) == 1 {
		e.push(ctx, sids[0], ping)
		return
	}
	sem := make(chan struct{}, e.cfg.FlushParallel)
	var wg sync.WaitGroup
	for _, sid := range sids {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			e.push(ctx, sid, ping)
		}()
	}
	wg.Wait()
}

// push writes a WebSocket session's queued packets to its connection, in order, under the
// session's write lease: concurrent pushers never interleave, and one that finds the lease taken
// leaves the work to its holder, who reads until nothing is left (and once more after letting
// go, for what was committed meanwhile). With ping, the heartbeat ping goes out too when due. A
// packet is acknowledged only once written; one that could not be is left for the next push.
func (e *Engine) push(ctx context.Context, sid string, ping bool) {
	p := &pusher{e: e, sid: sid, token: newSID(), ping: ping}
	for {
		if _, err := e.cfg.Store.Acquire(ctx, sid, session.LeaseWrite, p.token, writeLease); err != nil {
			if !errors.Is(err, session.ErrBusy) {
				e.log.Warn("push: lease failed", logattr.Session(sid), "err", err)
			}
			return
		}
		if !p.drain(ctx) {
			return
		}
		// Let go, then look once more: a commit after the last read saw the lease taken and
		// left its packets to us.
		q, err := e.cfg.Store.Read(ctx, sid, 1)
		if err != nil || len(q.Entries) == 0 {
			return
		}
	}
}

// pusher is one push in progress.
type pusher struct {
	e     *Engine
	sid   string
	token string
	ping  bool
}

// drain writes what is queued until nothing is left; it returns with the lease released, and
// reports whether the push should look again (false: the session is gone, or a write or the
// store failed).
func (p *pusher) drain(ctx context.Context) bool {
	for {
		q, err := p.e.cfg.Store.Read(ctx, p.sid, readMax)
		if err != nil {
			p.release(ctx, session.Ack{})
			if !errors.Is(err, session.ErrNotFound) {
				p.e.log.Warn("push: read failed", logattr.Session(p.sid), "err", err)
			}
			return false
		}
		s := &q.Session
		now := p.e.cfg.Now()
		switch {
		case s.Transport != session.WebSocket:
			p.release(ctx, session.Ack{})
			return false
		case s.Expired(now):
			p.release(ctx, session.Ack{})
			p.e.closeLogged(ctx, p.sid, session.ReasonPingTimeout)
			return false
		}
		ping := p.ping && s.NeedsPing(now)
		if p.ping && !ping {
			p.reschedule(ctx, s)
		}
		p.ping = false
		sent, err := writeEntries(q.Entries, ping, func(frame []byte, binary bool) error {
			return p.e.send(ctx, s.Conn, frame, binary)
		})
		ack := session.Ack{Entries: q.Entries[:sent]}
		if sent == len(q.Entries) {
			ack.Through = q.Through // and what the read passed over
		}
		if ping && err == nil {
			ack.PingFor = s.LastPong
		}
		if err != nil || !q.More {
			ack.Release, ack.Token = session.LeaseWrite, p.token
		}
		if aerr := p.e.cfg.Store.Ack(ctx, p.sid, ack); aerr != nil {
			p.e.log.Warn("push: acknowledgement failed", logattr.Session(p.sid), "err", aerr)
			return false
		}
		if err != nil {
			p.sendFailed(ctx, s, err)
			return false
		}
		if !q.More {
			return true
		}
	}
}

// sendFailed handles a write that failed for good: a connection gone ends its session; any
// other failure leaves the rest queued.
func (p *pusher) sendFailed(ctx context.Context, s *session.Session, err error) {
	if errors.Is(err, ErrGone) {
		p.e.closeLogged(ctx, p.sid, session.ReasonTransportClose)
		return
	}
	p.e.log.Warn("push: send failed; the rest stays queued", logattr.Session(p.sid), "conn", s.Conn, "err", err)
}

func (p *pusher) release(ctx context.Context, a session.Ack) {
	a.Release, a.Token = session.LeaseWrite, p.token
	_ = p.e.cfg.Store.Ack(ctx, p.sid, a)
}

// reschedule moves the sweeper's hint of a session whose ping it found not due (a pong moved
// the clock) to the session's next beat.
func (p *pusher) reschedule(ctx context.Context, s *session.Session) {
	var b session.Batch
	b.Require(s.Clock())
	b.Schedule(s.Schedule(true))
	_, _ = p.e.cfg.Store.Commit(ctx, p.sid, &b)
}

// writeEntries writes the entries, and the ping, each packet a frame (binary attachments as
// binary frames, Engine.IO v4 §"WebSocket"), with send. It returns how many entries went out
// whole, and the error that stopped it.
func writeEntries(entries []session.Entry, ping bool, send func(frame []byte, binary bool) error) (int, error) {
	for i, en := range entries {
		var err error
		storedParts(en.Payload, func(data []byte, binary bool) {
			if err == nil {
				err = send(data, binary)
			}
		})
		if err != nil {
			return i, err
		}
	}
	if ping {
		if err := send(packet(engineio.PacketPing), false); err != nil {
			return len(entries), err
		}
	}
	return len(entries), nil
}

// send posts one frame through the Sender, trying again after a failure that may pass. A frame
// the transport refuses is dropped (logged) and counts as sent.
func (e *Engine) send(ctx context.Context, conn string, frame []byte, binary bool) error {
	delay := 50 * time.Millisecond
	for try := 1; ; try++ {
		err := e.cfg.Sender.Send(ctx, conn, frame, binary)
		switch {
		case err == nil, errors.Is(err, ErrGone):
			return err
		case errors.Is(err, ErrFrameRefused):
			e.log.Warn("frame dropped", "conn", conn, "bytes", len(frame), "binary", binary, "err", err)
			return nil
		case try == sendTries || !sleep(ctx, delay):
			return err
		}
		delay *= 2
	}
}
