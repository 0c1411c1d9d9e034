package handler

import (
	"context"
	"errors"
	"time"

	"github.com/serverless-socketio/server/internal/logattr"
	"github.com/serverless-socketio/server/session"
)

// pumpRetry is how long a pump waits before fetching again after the store failed, or while
// another holder still has the session (a previous pump's pin, until it expires).
const pumpRetry = time.Second

// WSPump delivers a WebSocket session's packets to its connection conn from the process that
// holds the connection, for as long as ctx lives (until the connection ends): the pull
// alternative to the push of WSMessage, for servers that hold their connections themselves
// (cmd/local; Config.Pump). It pins the session, so that only this pump takes its packets, and
// waits for the store's wake-ups like a long-poll that never ends: a broadcast then costs each
// member one fetch, batched with the other members' fetches, and no lease or relay. It also
// sends the heartbeat pings, and closes the session when the heartbeat stops ("ping timeout").
//
// A session opened over conn gets its open packet from the pump, first: with a pump, the gateway
// does not call WSOpen. send writes one frame to the connection; an error from it ends the pump.
// WSPump returns when ctx ends, when send fails, or, with nil, when the session is gone: the
// caller then closes the connection. It needs a store that is a session.MarkingNotifier.
func (e *Engine) WSPump(ctx context.Context, conn string, send func(frame []byte, binary bool) error) error {
	notifier, ok := e.cfg.Store.(session.MarkingNotifier)
	if !ok {
		return errors.New("handler: WSPump needs a store that pushes wake-ups (session.MarkingNotifier)")
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
	sid := st.ID
	p := &pump{
		e: e, ctx: ctx, sid: sid, notifier: notifier,
		req: session.FetchRequest{
			Poll: newSID(), Pin: true, Transport: "websocket", Ping: true,
			// The pin outlives the longest wait between two fetches (a heartbeat period).
			Hold: st.PingInterval + st.PingTimeout + flushLease,
		},
	}
	defer p.stopWatch()
	// Watch the session's own channel before the first fetch, so that fetch misses nothing; its
	// rooms are known after it.
	if w, err := notifier.Watch(ctx, sid, nil); err == nil {
		p.w = w
	}
	for {
		mark := notifier.Mark()
		f, err := e.cfg.Store.Fetch(ctx, sid, p.req)
		var closed *session.ClosedError
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.As(err, &closed), errors.Is(err, session.ErrNotFound):
			return nil
		case errors.Is(err, session.ErrTransport):
			// The connection probes an upgrade of a polling session: nothing is ours to send
			// until its "5" (whose commit wakes the session's channel).
			if p.watch(nil, mark) {
				p.retry()
			}
			continue
		case err != nil:
			if !errors.Is(err, session.ErrBusy) {
				e.log.Warn("pump: fetch failed", logattr.Session(sid), "conn", conn, "err", err)
			}
			p.retry()
			continue
		case f.Expired:
			e.closeLogged(ctx, sid, "ping timeout")
			return nil
		}
		for _, frame := range frames(f) {
			if err := send(frame.data, frame.binary); err != nil {
				if errors.Is(err, ErrFrameRefused) {
					e.log.Warn("pump: frame dropped", logattr.Session(sid), "bytes", len(frame.data), "binary", frame.binary, "err", err)
					continue
				}
				return err
			}
		}
		if !p.watch(f.Rooms, mark) || f.More {
			continue
		}
		next := f.Session.PingDue()
		if f.Session.PingSent {
			next = f.Session.Deadline()
		}
		p.wait(next)
	}
}

// pump is the state of one WSPump: its session and its watch of the session's channels.
type pump struct {
	e        *Engine
	ctx      context.Context
	sid      string
	req      session.FetchRequest
	notifier session.MarkingNotifier
	w        session.Watch // nil while not watching
	rooms    []session.RoomRef
}

// watch makes sure the pump watches the session and rooms. It reports false when a wake-up
// may have been missed since mark, taken before the last fetch: then fetch again. A watch that
// was already active at the fetch missed nothing (it holds on to a wake-up until it is waited).
func (p *pump) watch(rooms []session.RoomRef, mark uint64) bool {
	if p.w != nil && sameRooms(rooms, p.rooms) {
		return true
	}
	w, missed, err := p.notifier.WatchSince(p.ctx, p.sid, rooms, mark)
	if err != nil {
		if p.ctx.Err() == nil {
			p.e.log.Warn("pump: watch failed", logattr.Session(p.sid), "err", err)
			p.retry()
		}
		return false
	}
	p.stopWatch()
	p.w, p.rooms = w, rooms
	return !missed
}

func (p *pump) stopWatch() {
	if p.w != nil {
		p.w.Stop()
		p.w = nil
	}
}

// retry waits pumpRetry, or less if a wake-up comes first.
func (p *pump) retry() { p.wait(p.e.cfg.Now().Add(pumpRetry)) }

// wait returns at the first wake-up, at until, or when the pump's context ends.
func (p *pump) wait(until time.Time) {
	t := time.NewTimer(max(until.Sub(p.e.cfg.Now()), 0))
	defer t.Stop()
	var wake <-chan struct{}
	if p.w != nil {
		wake = p.w.C()
	}
	select {
	case <-wake:
	case <-t.C:
	case <-p.ctx.Done():
	}
}
