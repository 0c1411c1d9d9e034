package handler

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"strconv"

	"github.com/serverless-socketio/server/engineio"
	"github.com/serverless-socketio/server/internal/logattr"
	"github.com/serverless-socketio/server/session"
)

// writeText writes a long-polling answer; an error means the client did not get it. The length
// goes in the header: the flush below then sends the whole answer in one write, not chunked.
func writeText(w http.ResponseWriter, body []byte) error {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=UTF-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if _, err := w.Write(body); err != nil {
		return err
	}
	// Out to the client before anything is acknowledged; front doors that send the response
	// only when the handler returns (Lambda) cannot flush, and say so.
	if err := http.NewResponseController(w).Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	return nil
}

// packet is a one-packet long-polling answer (noop, close, ping).
func packet(t engineio.PacketType) []byte { return []byte{'0' + byte(t)} }

// ServeHTTP serves Engine.IO v4 long-polling: the handshake (GET without sid), POST (packets
// from the client) and GET (packets for the client, held until some arrive or a ping is due).
func (e *Engine) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("transport") != string(session.Polling) {
		e.refuse(w, r, errUnknownTransport, "")
		return
	}
	sid := q.Get("sid")
	if sid == "" {
		switch {
		case r.Method != http.MethodGet:
			e.refuse(w, r, errBadHandshakeMethod, "")
		case q.Get("EIO") != "4":
			e.refuse(w, r, errUnsupportedVersion, "")
		default:
			e.open(w, r)
		}
		return
	}
	switch r.Method {
	case http.MethodGet:
		e.poll(w, r, sid)
	case http.MethodPost:
		e.post(w, r, sid)
	default:
		e.refuse(w, r, errBadRequest, sid)
	}
}

// refuse answers err by the table of answers and logs it; a store failure is logged as one.
func (e *Engine) refuse(w http.ResponseWriter, r *http.Request, err error, sid string) {
	status, body, ok := answer(err)
	if ok {
		// No query string: a token may travel in it. The sid, the session's secret, only as a tag.
		e.log.Info("request refused", "method", r.Method, "status", status, "error", body, logattr.Session(sid))
	} else {
		e.log.Error("store failure", "method", r.Method, logattr.Session(sid), "err", err)
	}
	writeError(w, err)
}

func (e *Engine) open(w http.ResponseWriter, r *http.Request) {
	s, err := e.newSession(r.Context(), session.Polling, "")
	if err != nil {
		e.refuse(w, r, err, "")
		return
	}
	_ = writeText(w, e.openPacket(s))
}

// post handles the packets of one POST: one Load, the App, one Commit.
func (e *Engine) post(w http.ResponseWriter, r *http.Request, sid string) {
	ctx := r.Context()
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, e.cfg.MaxPayload))
	if err != nil {
		e.badBody(w, r, sid, err)
		return
	}
	packets, decodeErr := engineio.DecodePayload(body)
	st, err := e.cfg.Store.Load(ctx, sid)
	if err != nil {
		e.refuse(w, r, err, sid)
		return
	}
	var b session.Batch
	var reason session.Reason
	switch {
	case st.Expired(e.cfg.Now()):
		reason = session.ReasonPingTimeout
	case st.Transport != session.Polling:
		e.refuse(w, r, errWrongTransport, sid)
		return
	case decodeErr != nil:
		e.log.Info("undecodable payload", logattr.Session(sid), logattr.Err(decodeErr))
		reason = session.ReasonParseError
	default:
		reason = e.apply(ctx, st, packets, &b)
	}
	if reason != "" {
		e.cfg.App.OnClose(ctx, st, reason, &b)
		// A close packet over polling owes the held (or next) GET a noop.
		b.Close(reason, reason == session.ReasonTransportClose)
	}
	c, err := e.commit(ctx, sid, st, &b)
	if err == nil {
		e.flushAll(ctx, c.Flush)
	}
	switch {
	case err != nil:
		e.refuse(w, r, err, sid)
	case reason == session.ReasonParseError:
		e.refuse(w, r, errBadRequest, sid)
	case reason == session.ReasonPingTimeout:
		e.refuse(w, r, session.ErrNotFound, sid)
	default:
		_ = writeText(w, []byte("ok"))
	}
}

// badBody answers a POST whose body could not be read: too large (413) or too slow (408) end
// the session, as a transport error; anything else is a bad request.
func (e *Engine) badBody(w http.ResponseWriter, r *http.Request, sid string, err error) {
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		e.refuse(w, r, errTooLarge, sid)
	case errors.Is(err, os.ErrDeadlineExceeded):
		// The body did not arrive within the server's read timeout: the client's packets are
		// lost to it, and it was not told they arrived.
		e.refuse(w, r, errSlowBody, sid)
	default:
		e.refuse(w, r, errBadRequest, sid)
		return
	}
	e.closeLogged(r.Context(), sid, session.ReasonTransportError)
}

// apply records the effects of the client's packets and returns a close reason, or "".
func (e *Engine) apply(ctx context.Context, st *session.State, packets []engineio.Packet, b *session.Batch) session.Reason {
	msgs := packets[:0:0]
	closing := false
	for _, p := range packets {
		switch p.Type {
		case engineio.PacketMessage:
			msgs = append(msgs, p)
		case engineio.PacketPong:
			e.pong(st, b)
		case engineio.PacketClose:
			closing = true
		case engineio.PacketPing, engineio.PacketUpgrade, engineio.PacketNoop:
			// Nothing to do over polling.
		default:
			e.log.Info("packet a client may not send", logattr.Session(st.ID), "type", p.Type.String())
			return session.ReasonParseError
		}
	}
	if len(msgs) > 0 {
		if err := e.cfg.App.OnMessages(ctx, st, msgs, b); err != nil {
			e.log.Info("protocol error", logattr.Session(st.ID), logattr.Err(err))
			return session.ReasonParseError
		}
	}
	if closing {
		return session.ReasonTransportClose
	}
	return ""
}

// joinPayloads encodes entries, and the ping when due, as one long-polling answer.
func joinPayloads(entries []session.Entry, ping bool) []byte {
	n := 2
	for _, en := range entries {
		n += len(en.Payload) + 1
	}
	out := make([]byte, 0, n)
	for i, en := range entries {
		if i > 0 {
			out = append(out, engineio.RecordSeparator)
		}
		out = appendPollingPayload(out, en.Payload)
	}
	if ping {
		if len(out) > 0 {
			out = append(out, engineio.RecordSeparator)
		}
		out = append(out, '0'+byte(engineio.PacketPing))
	}
	return out
}
