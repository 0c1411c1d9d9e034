package handler

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"time"

	"github.com/serverless-socketio/server/engineio"
	"github.com/serverless-socketio/server/internal/logattr"
	"github.com/serverless-socketio/server/session"
)

// Sender delivers frames to WebSocket connections by id: the API Gateway Management API in
// production (PostToConnection, DeleteConnection), an in-process gateway in cmd/local.
type Sender interface {
	// Send posts one frame; binary selects a binary frame. ErrGone means the connection is gone.
	Send(ctx context.Context, conn string, frame []byte, binary bool) error
	// Close closes the connection. ErrGone means it was gone already.
	Close(ctx context.Context, conn string) error
}

// Errors a Sender returns.
var (
	// ErrGone means a WebSocket connection no longer exists (API Gateway's GoneException, 410).
	ErrGone = errors.New("handler: connection gone")
	// ErrFrameRefused means the transport cannot carry that frame (API Gateway: binary, or over
	// 128 KB). The frame is dropped and logged; the session goes on.
	ErrFrameRefused = errors.New("handler: frame refused by the transport")
)

// RequestError refuses a WebSocket $connect with an Engine.IO error.
type RequestError struct {
	Status  int
	Code    int
	Message string
	// AcceptThenClose asks the gateway to complete the upgrade and close the connection at once,
	// instead of answering the upgrade request with Status: what Engine.IO does with a second
	// WebSocket for a session that is upgrading or upgraded.
	AcceptThenClose bool
}

func (e *RequestError) Error() string { return e.Message }

// Body returns the Engine.IO error body {"code":N,"message":"…"}.
func (e *RequestError) Body() []byte {
	return []byte(`{"code":` + string(rune('0'+e.Code)) + `,"message":"` + e.Message + `"}`)
}

func requestError(code int) *RequestError {
	return &RequestError{Status: 400, Code: code, Message: errorMessages[code]}
}

// flushLease bounds how long one flusher may hold a session's push lease if it dies mid-way.
const flushLease = 10 * time.Second

// WSConnect handles the $connect route of connection conn, whose upgrade request had query.
// A new session (no sid) is created with the connection as its transport; its open packet goes
// out in WSOpen, once the connection is established. With a sid, the connection probes an
// upgrade of that polling session. A refusal is a *RequestError.
func (e *Engine) WSConnect(ctx context.Context, conn string, query url.Values) error {
	if e.cfg.Sender == nil || query.Get("transport") != "websocket" {
		return requestError(codeUnknownTransport)
	}
	sid := query.Get("sid")
	if sid == "" {
		if query.Get("EIO") != "4" {
			return requestError(codeUnsupportedVersion)
		}
		_, err := e.newSession(ctx, "websocket", conn)
		return err
	}
	st, err := e.cfg.Store.Load(ctx, sid)
	if errors.Is(err, session.ErrNotFound) {
		return requestError(codeUnknownSID)
	}
	if err != nil {
		return err
	}
	if st.Transport != "polling" || st.Probe != "" {
		// Engine.IO v4 §"Upgrade": one upgrade per session; later WebSockets for it are closed.
		e.log.Info("websocket for a session already upgrading or upgraded", logattr.Session(sid))
		re := requestError(codeBadRequest)
		re.AcceptThenClose = true
		return re
	}
	var b session.Batch
	b.Probe(conn)
	_, err = e.commit(ctx, sid, st, &b)
	if errors.Is(err, session.ErrNotFound) {
		return requestError(codeUnknownSID)
	}
	return err
}

// WSOpen runs right after $connect returned (API Gateway cannot send during $connect): it
// sends the open packet of a session created by WSConnect. ErrGone means the connection is
// not usable yet (or any more); the caller retries with a short backoff.
func (e *Engine) WSOpen(ctx context.Context, conn string) error {
	st, err := e.cfg.Store.LoadConn(ctx, conn)
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
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("handler: open packet for %s never delivered: %w", conn, err)
		case <-t.C:
		}
		delay = min(2*delay, time.Second)
	}
}

// WSMessage handles one frame received on conn (the $default route). The frames for conn
// itself, and for every WebSocket member of a room it broadcast to, are posted through the
// Sender before it returns. After an error the caller closes the connection.
func (e *Engine) WSMessage(ctx context.Context, conn string, frame []byte, binary bool) error {
	st, err := e.cfg.Store.LoadConn(ctx, conn)
	if err != nil {
		return err
	}
	var p engineio.Packet
	if binary {
		p = engineio.Packet{Type: engineio.PacketMessage, Data: frame, Binary: true}
	} else if p, err = engineio.DecodePacket(frame); err != nil {
		e.log.Info("undecodable frame", logattr.Session(st.ID), "conn", conn, logattr.Err(err))
		return e.closeState(ctx, st, "parse error")
	}
	if st.Probe == conn {
		return e.probe(ctx, st, conn, p)
	}
	if st.Conn != conn {
		return errors.New("handler: frame from a connection the session no longer uses")
	}
	if st.Expired(e.cfg.Now()) {
		return e.closeState(ctx, st, "ping timeout")
	}
	var b session.Batch
	reason := e.apply(ctx, st, []engineio.Packet{p}, &b)
	if reason != "" {
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
		var b session.Batch
		b.Upgrade()
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

// WSDisconnect handles the $disconnect route: the session ends with "transport close", or, for
// a probe that never completed, the probe is forgotten and the session stays on polling.
func (e *Engine) WSDisconnect(ctx context.Context, conn string) error {
	st, err := e.cfg.Store.LoadConn(ctx, conn)
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
	return e.closeState(ctx, st, "transport close")
}

// closeState closes a loaded session: OnClose, one commit, and the connection closed.
func (e *Engine) closeState(ctx context.Context, st *session.State, reason string) error {
	var b session.Batch
	e.cfg.App.OnClose(ctx, st, reason, &b)
	b.Close(reason, false)
	return e.commitClose(ctx, st.ID, st, reason, &b)
}

// flushAll pushes what is queued for each WebSocket session, at most FlushParallel at a time;
// with Config.Pump, each connection's pump delivers instead.
func (e *Engine) flushAll(ctx context.Context, sids []string) {
	if len(sids) == 0 || e.cfg.Sender == nil || e.cfg.Pump {
		return
	}
	if len(sids) == 1 {
		e.flush(ctx, sids[0])
		return
	}
	sem := make(chan struct{}, e.cfg.FlushParallel)
	var wg sync.WaitGroup
	for _, sid := range sids {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			e.flush(ctx, sid)
		}()
	}
	wg.Wait()
}

// flush pushes a WebSocket session's queued packets (and its ping, if due) to its connection,
// in order. It holds the session's flush lease while it does, so that concurrent flushers never
// interleave: one that finds the lease taken leaves the work to its holder, which fetches until
// nothing is left.
func (e *Engine) flush(ctx context.Context, sid string) {
	token := newSID()
	for {
		f, err := e.cfg.Store.Fetch(ctx, sid, session.FetchRequest{
			Poll: token, Hold: flushLease, Lease: true, Transport: "websocket", Ping: true,
		})
		switch {
		case errors.Is(err, session.ErrBusy), errors.Is(err, session.ErrNotFound), errors.Is(err, session.ErrTransport):
			return
		case err != nil:
			e.log.Warn("flush: fetch failed", logattr.Session(sid), "err", err)
			return
		case f.Expired:
			e.closeLogged(ctx, sid, "ping timeout")
			return
		}
		if len(f.Payloads) == 0 && !f.Pinged {
			return
		}
		for _, frame := range frames(f) {
			err := e.cfg.Sender.Send(ctx, f.Session.Conn, frame.data, frame.binary)
			if errors.Is(err, ErrGone) {
				e.closeLogged(ctx, sid, "transport close")
				return
			}
			if errors.Is(err, ErrFrameRefused) {
				e.log.Warn("flush: frame dropped", logattr.Session(sid), "bytes", len(frame.data), "binary", frame.binary, "err", err)
				continue
			}
			if err != nil {
				// The lease expires on its own; what was not sent is lost for this connection.
				e.log.Warn("flush: send failed", logattr.Session(sid), "conn", f.Session.Conn, "err", err)
				return
			}
		}
	}
}

type wsFrame struct {
	data   []byte
	binary bool
}

// frames turns fetched payloads into WebSocket frames: one per Engine.IO packet, binary
// attachments as binary frames (Engine.IO v4 §"WebSocket").
func frames(f *session.Fetched) []wsFrame {
	var out []wsFrame
	for _, p := range f.Payloads {
		storedParts(p, func(data []byte, binary bool) {
			out = append(out, wsFrame{data: data, binary: binary})
		})
	}
	if f.Pinged {
		out = append(out, wsFrame{data: []byte{'0' + byte(engineio.PacketPing)}})
	}
	return out
}
