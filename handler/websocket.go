package handler

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/serverless-socketio/server/engineio"
	"github.com/serverless-socketio/server/internal/logattr"
	"github.com/serverless-socketio/server/session"
)

// Sender delivers frames to WebSocket connections by id: the API Gateway Management API in
// production (PostToConnection, DeleteConnection), an in-process gateway in cmd/local.
type Sender interface {
	// Send posts one frame; binary selects a binary frame. ErrGone means the connection is gone,
	// ErrFrameRefused that it can never carry this frame; any other error may pass (a throttle,
	// a 5xx) and the frame may be sent again.
	Send(ctx context.Context, conn string, frame []byte, binary bool) error
	// Close closes the connection. ErrGone means it was gone already.
	Close(ctx context.Context, conn string) error
}

// FrameWriter is a WebSocket connection held by this process, as its pump writes it
// ([Engine.WSPump]): WriteFrame may keep the frame in memory until Flush, which writes every frame
// kept so far (in one system call, where it can). A frame is written once Flush returned nil; an
// error from either means the connection is broken.
type FrameWriter interface {
	WriteFrame(frame []byte, binary bool) error
	Flush() error
}

// Errors a Sender returns.
var (
	// ErrGone means a WebSocket connection no longer exists (API Gateway's GoneException, 410).
	ErrGone = errors.New("handler: connection gone")
	// ErrFrameRefused means the transport cannot carry that frame (API Gateway: binary, or over
	// 128 KB). The frame is dropped and logged; the session goes on.
	ErrFrameRefused = errors.New("handler: frame refused by the transport")
)

// WSConnect handles the $connect route of connection conn, whose upgrade request had query.
// A new session (no sid) is created with the connection as its transport; its open packet goes
// out in WSOpen (or the pump), once the connection is established. With a sid, the connection
// probes an upgrade of that polling session. A refusal is a *RequestError.
func (e *Engine) WSConnect(ctx context.Context, conn string, query url.Values) error {
	if e.cfg.Sender == nil || query.Get("transport") != string(session.WebSocket) {
		return requestError(errUnknownTransport)
	}
	sid := query.Get("sid")
	if sid == "" {
		if query.Get("EIO") != "4" {
			return requestError(errUnsupportedVersion)
		}
		s, err := e.newSession(ctx, session.WebSocket, conn)
		if err == nil && e.cfg.Pump {
			e.conns.setCreated(conn, s)
		}
		return err
	}
	st, err := e.cfg.Store.Load(ctx, sid)
	if err != nil {
		return requestError(err)
	}
	if st.Transport != session.Polling || st.Probe != "" {
		// Engine.IO v4 §"Upgrade": one upgrade per session; later WebSockets for it are closed.
		e.log.Info("websocket for a session already upgrading or upgraded", logattr.Session(sid))
		re := requestError(errBadRequest).(*RequestError)
		re.AcceptThenClose = true
		return re
	}
	var b session.Batch
	b.Probe(conn)
	if _, err = e.commit(ctx, sid, st, &b); err == nil && e.cfg.Pump {
		e.conns.set(conn, sid)
	}
	return requestError(err)
}

// loadConn loads the session connection conn belongs to (as its transport or its upgrade
// probe): by the session's id when this process remembers it (connSessions), else through the
// store's index of connections. A connection its session no longer names is ErrNotFound, as
// for LoadConn.
func (e *Engine) loadConn(ctx context.Context, conn string) (*session.State, error) {
	sid, ok := e.conns.get(conn)
	if !ok {
		return e.cfg.Store.LoadConn(ctx, conn)
	}
	st, err := e.cfg.Store.Load(ctx, sid)
	if err != nil {
		return nil, err
	}
	if st.Conn != conn && st.Probe != conn {
		return nil, session.ErrNotFound
	}
	return st, nil
}

// WSOpen runs right after $connect returned (API Gateway cannot send during $connect): it
// sends the open packet of a session created by WSConnect. ErrGone means the connection is
// not usable yet (or any more); the caller retries with a short backoff.
func (e *Engine) WSOpen(ctx context.Context, conn string) error {
	st, err := e.loadConn(ctx, conn)
	if err != nil {
		return err
	}
	if st.Conn != conn {
		return nil // an upgrade probe: the session was opened over polling
	}
	return e.cfg.Sender.Send(ctx, conn, e.openPacket(&st.Session), false)
}

// WSOpenRetry is WSOpen for API Gateway, where the connection is established only after the
// $connect invocation has returned: it retries while PostToConnection answers 410 (ErrGone),
// backing off from 50 ms to 1 s, until ctx ends.
func (e *Engine) WSOpenRetry(ctx context.Context, conn string) error {
	delay := 50 * time.Millisecond
	for {
		err := e.WSOpen(ctx, conn)
		if !errors.Is(err, ErrGone) {
			return err
		}
		if !sleep(ctx, delay) {
			return fmt.Errorf("handler: open packet for %s never delivered: %w", conn, err)
		}
		delay = min(2*delay, time.Second)
	}
}

// WSMessage handles one frame received on conn (the $default route). The frames for conn
// itself, and for every WebSocket member of a room it broadcast to, are posted through the
// Sender before it returns (unless WebSockets are pumped). After an error the caller closes
// the connection.
func (e *Engine) WSMessage(ctx context.Context, conn string, frame []byte, binary bool) error {
	st, err := e.loadConn(ctx, conn)
	if err != nil {
		return err
	}
	var p engineio.Packet
	if binary {
		p = engineio.Packet{Type: engineio.PacketMessage, Data: frame, Binary: true}
	} else if p, err = engineio.DecodePacket(frame); err != nil {
		e.log.Info("undecodable frame", logattr.Session(st.ID), "conn", conn, logattr.Err(err))
		return e.closeState(ctx, st, session.ReasonParseError, false)
	}
	if st.Probe == conn {
		return e.probe(ctx, st, conn, p)
	}
	if st.Conn != conn {
		return errors.New("handler: frame from a connection the session no longer uses")
	}
	if st.Expired(e.cfg.Now()) {
		return e.closeState(ctx, st, session.ReasonPingTimeout, false)
	}
	var b session.Batch
	if reason := e.apply(ctx, st, []engineio.Packet{p}, &b); reason != "" {
		e.cfg.App.OnClose(ctx, st, reason, &b)
		b.Close(reason, false)
		return e.commitClose(ctx, st.ID, st, reason, &b)
	}
	c, err := e.commit(ctx, st.ID, st, &b)
	if err != nil {
		return err
	}
	e.flushAll(ctx, c.Flush)
	return nil
}

// probe handles a frame on a connection probing an upgrade (Engine.IO v4 §"Upgrade"):
// "2probe" is answered "3probe", and "5" completes the upgrade.
func (e *Engine) probe(ctx context.Context, st *session.State, conn string, p engineio.Packet) error {
	switch {
	case p.Type == engineio.PacketPing && string(p.Data) == "probe":
		return e.cfg.Sender.Send(ctx, conn, []byte("3probe"), false)
	case p.Type == engineio.PacketUpgrade:
		e.settlePoll(ctx, st.ID)
		var b session.Batch
		b.Upgrade()
		// The ping schedule starts over WebSocket: let the sweeper look at once and set it.
		b.Schedule(session.Schedule{Deadline: st.Deadline(), PingAt: e.upgradePingHint()})
		c, err := e.commit(ctx, st.ID, st, &b)
		if err != nil {
			return err
		}
		e.flushAll(ctx, c.Flush)
		return nil
	case p.Type == engineio.PacketNoop:
		return nil
	}
	e.log.Info("unexpected packet during an upgrade", logattr.Session(st.ID), "type", p.Type.String())
	return errors.New("handler: unexpected packet during an upgrade")
}

// upgradePingHint is the sweeper's ping hint for a session that just moved to WebSocket: now,
// when the sweeper pings WebSockets (it then sets the real one), none when pumps do.
func (e *Engine) upgradePingHint() time.Time {
	if e.sweeperPings() {
		return e.cfg.Now()
	}
	return time.Time{}
}

// WSDisconnect handles the $disconnect route: the session ends with "transport close", or, for
// a probe that never completed, the probe is forgotten and the session stays on polling.
func (e *Engine) WSDisconnect(ctx context.Context, conn string) error {
	defer e.conns.drop(conn)
	st, err := e.loadConn(ctx, conn)
	if errors.Is(err, session.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if st.Probe == conn {
		var b session.Batch
		b.Probe("")
		_, err := e.commit(ctx, st.ID, st, &b)
		if errors.Is(err, session.ErrNotFound) {
			return nil
		}
		return err
	}
	if st.Conn != conn {
		return nil
	}
	return e.closeState(ctx, st, session.ReasonTransportClose, false)
}
