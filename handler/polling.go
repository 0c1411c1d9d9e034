package handler

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/serverless-socketio/server/engineio"
	"github.com/serverless-socketio/server/internal/logattr"
	"github.com/serverless-socketio/server/session"
)

// Engine.IO error codes (engine.io server, Server.errors), sent as {"code":N,"message":"…"}.
const (
	codeUnknownTransport   = 0
	codeUnknownSID         = 1
	codeBadHandshakeMethod = 2
	codeBadRequest         = 3
	codeForbidden          = 4
	codeUnsupportedVersion = 5
)

var errorMessages = [...]string{
	codeUnknownTransport:   "Transport unknown",
	codeUnknownSID:         "Session ID unknown",
	codeBadHandshakeMethod: "Bad handshake method",
	codeBadRequest:         "Bad request",
	codeForbidden:          "Forbidden",
	codeUnsupportedVersion: "Unsupported protocol version",
}

func writeError(w http.ResponseWriter, status, code int) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, `{"code":`+string(rune('0'+code))+`,"message":"`+errorMessages[code]+`"}`)
}

func writeText(w http.ResponseWriter, body []byte) {
	w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(body)
}

// ServeHTTP serves Engine.IO v4 long-polling: the handshake (GET without sid), POST (packets
// from the client) and GET (packets for the client, held until some arrive or a ping is due).
func (e *Engine) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("transport") != "polling" {
		e.refuse(w, r, http.StatusBadRequest, codeUnknownTransport, "")
		return
	}
	sid := q.Get("sid")
	if sid == "" {
		if r.Method != http.MethodGet {
			e.refuse(w, r, http.StatusBadRequest, codeBadHandshakeMethod, "")
			return
		}
		if q.Get("EIO") != "4" {
			e.refuse(w, r, http.StatusBadRequest, codeUnsupportedVersion, "")
			return
		}
		e.open(w, r)
		return
	}
	switch r.Method {
	case http.MethodGet:
		e.poll(w, r, sid)
	case http.MethodPost:
		e.post(w, r, sid)
	default:
		e.refuse(w, r, http.StatusBadRequest, codeBadRequest, sid)
	}
}

func (e *Engine) refuse(w http.ResponseWriter, r *http.Request, status, code int, sid string) {
	// No query string: a token may travel in it. The sid, the session's secret, only as a tag.
	e.log.Info("request refused", "method", r.Method, "status", status, "error", errorMessages[code], logattr.Session(sid))
	writeError(w, status, code)
}

// fail answers a store failure: 503, so that the client retries and nothing is half-done (the
// commit is atomic, so a failed one changed nothing).
func (e *Engine) fail(w http.ResponseWriter, r *http.Request, sid string, err error) {
	e.log.Error("store failure", "method", r.Method, logattr.Session(sid), "err", err)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusServiceUnavailable)
	_, _ = io.WriteString(w, `{"code":3,"message":"Store unavailable"}`)
}

func (e *Engine) open(w http.ResponseWriter, r *http.Request) {
	s, err := e.newSession(r.Context(), "polling", "")
	if err != nil {
		e.fail(w, r, "", err)
		return
	}
	writeText(w, e.openPacket(s))
}

// post handles the packets of one POST: one Load, the App, one Commit.
func (e *Engine) post(w http.ResponseWriter, r *http.Request, sid string) {
	ctx := r.Context()
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, e.cfg.MaxPayload))
	if err != nil {
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig):
			e.refuse(w, r, http.StatusRequestEntityTooLarge, codeBadRequest, sid)
			e.closeLogged(ctx, sid, "transport error")
		case errors.Is(err, os.ErrDeadlineExceeded):
			// The body did not arrive within the server's read timeout: the client's packets
			// are lost to it, and it was not told they arrived.
			e.refuse(w, r, http.StatusRequestTimeout, codeBadRequest, sid)
			e.closeLogged(ctx, sid, "transport error")
		default:
			e.refuse(w, r, http.StatusBadRequest, codeBadRequest, sid)
		}
		return
	}
	packets, decodeErr := engineio.DecodePayload(body)
	st, err := e.cfg.Store.Load(ctx, sid)
	if errors.Is(err, session.ErrNotFound) {
		e.refuse(w, r, http.StatusBadRequest, codeUnknownSID, sid)
		return
	}
	if err != nil {
		e.fail(w, r, sid, err)
		return
	}
	var b session.Batch
	reason := ""
	switch {
	case st.Expired(e.cfg.Now()):
		reason = "ping timeout"
	case st.Transport != "polling":
		e.refuse(w, r, http.StatusBadRequest, codeBadRequest, sid)
		return
	case decodeErr != nil:
		e.log.Info("undecodable payload", logattr.Session(sid), logattr.Err(decodeErr))
		reason = "parse error"
	default:
		reason = e.apply(ctx, st, packets, &b)
	}
	if reason != "" {
		e.cfg.App.OnClose(ctx, st, reason, &b)
		b.Close(reason, false)
	}
	c, err := e.commit(ctx, sid, st, &b)
	if err == nil {
		e.flushAll(ctx, c.Flush)
	}
	switch {
	case errors.Is(err, session.ErrNotFound):
		e.refuse(w, r, http.StatusBadRequest, codeUnknownSID, sid)
	case err != nil:
		e.fail(w, r, sid, err)
	case reason == "parse error":
		e.refuse(w, r, http.StatusBadRequest, codeBadRequest, sid)
	case reason == "ping timeout":
		e.refuse(w, r, http.StatusBadRequest, codeUnknownSID, sid)
	default:
		writeText(w, []byte("ok"))
	}
}

// apply records the effects of the client's packets and returns a close reason, or "".
func (e *Engine) apply(ctx context.Context, st *session.State, packets []engineio.Packet, b *session.Batch) string {
	msgs := packets[:0:0]
	closing := false
	for _, p := range packets {
		switch p.Type {
		case engineio.PacketMessage:
			msgs = append(msgs, p)
		case engineio.PacketPong:
			b.Pong()
		case engineio.PacketClose:
			closing = true
		case engineio.PacketPing, engineio.PacketUpgrade, engineio.PacketNoop:
			// Nothing to do over polling.
		default:
			e.log.Info("packet a client may not send", logattr.Session(st.ID), "type", p.Type.String())
			return "parse error"
		}
	}
	if len(msgs) > 0 {
		if err := e.cfg.App.OnMessages(ctx, st, msgs, b); err != nil {
			e.log.Info("protocol error", logattr.Session(st.ID), logattr.Err(err))
			return "parse error"
		}
	}
	if closing {
		return "transport close"
	}
	return ""
}

// closeLogged closes a session outside the request's cancellation: the client may be gone.
func (e *Engine) closeLogged(ctx context.Context, sid, reason string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := e.closeSession(ctx, sid, reason, false); err != nil {
		e.log.Warn("close failed", logattr.Session(sid), "reason", reason, "err", err)
	}
}

// upgradeGrace is how long a GET that finds an upgrade probe in progress waits for its outcome.
const upgradeGrace = 100 * time.Millisecond

// upgraded reports whether the session completes its upgrade within upgradeGrace.
func (e *Engine) upgraded(ctx context.Context, sid string) bool {
	ctx, cancel := context.WithTimeout(ctx, upgradeGrace)
	defer cancel()
	wake, stop, _ := e.waiter(ctx, sid, nil, 0)
	defer stop()
	for {
		st, err := e.cfg.Store.Load(ctx, sid)
		switch {
		case err != nil:
			return false
		case st.Transport != "polling":
			return true
		case st.Probe == "":
			return false // the probe was abandoned
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return false
		}
	}
}

// abandoned reports whether the client gave up on the GET r (its context is cancelled, not timed
// out): then the store call that just failed was cut short by that, not a store failure, and the
// session ends as for any GET the client abandons ("transport error").
func (e *Engine) abandoned(r *http.Request, sid string) bool {
	if !errors.Is(r.Context().Err(), context.Canceled) {
		return false
	}
	e.log.Info("poll abandoned by the client", logattr.Session(sid))
	e.closeLogged(r.Context(), sid, "transport error")
	return true
}

// deadlineMargin is how long before its context's deadline a held GET answers.
const deadlineMargin = 1500 * time.Millisecond

// poll serves a GET: what is queued, at once; otherwise it holds until a wake-up brings packets,
// a ping is due, or the hold ends (noop).
func (e *Engine) poll(w http.ResponseWriter, r *http.Request, sid string) {
	ctx := r.Context()
	token := newSID()
	start := e.cfg.Now()
	holdEnd := start.Add(e.cfg.PollHold)
	if dl, ok := ctx.Deadline(); ok {
		// On Lambda the invocation's deadline bounds the hold: answer before it, with a margin
		// for the last fetch and the response.
		holdEnd = minTime(holdEnd, dl.Add(-deadlineMargin))
	}
	req := session.FetchRequest{Poll: token, Hold: e.cfg.PollHold + 5*time.Second, Ping: true}
	mn, _ := e.cfg.Store.(session.MarkingNotifier)
	markNow := func() uint64 {
		if mn == nil {
			return 0
		}
		return mn.Mark()
	}
	mark := markNow()
	f, err := e.cfg.Store.Fetch(ctx, sid, req)
	var closed *session.ClosedError
	switch {
	case errors.As(err, &closed) && closed.Answer:
		writeText(w, []byte{'0' + byte(engineio.PacketNoop)})
		return
	case errors.Is(err, session.ErrBusy):
		// Engine.IO v4: overlapping GETs are a protocol error and end the session; the held one
		// answers a close packet.
		e.refuse(w, r, http.StatusBadRequest, codeBadRequest, sid)
		e.closeLogged(ctx, sid, "transport error")
		return
	case errors.Is(err, session.ErrNotFound):
		e.refuse(w, r, http.StatusBadRequest, codeUnknownSID, sid)
		return
	case errors.Is(err, session.ErrTransport):
		// Engine.IO v4 §"Upgrade": after the upgrade, polling requests for the sid are refused.
		e.refuse(w, r, http.StatusBadRequest, codeBadRequest, sid)
		return
	case err != nil && e.abandoned(r, sid):
		return
	case err != nil:
		e.fail(w, r, sid, err)
		return
	case f.Expired:
		e.closeLogged(ctx, sid, "ping timeout")
		e.refuse(w, r, http.StatusBadRequest, codeUnknownSID, sid)
		return
	}
	if f.Upgrading {
		// A WebSocket probes an upgrade. Its "5" may be on the way, sent before this GET: give
		// it a moment, so that a GET after the upgrade is refused (Engine.IO v4 §"Upgrade")
		// however the two connections race; otherwise answer a noop, as to a held GET.
		if e.upgraded(ctx, sid) {
			e.refuse(w, r, http.StatusBadRequest, codeBadRequest, sid)
			return
		}
		if e.abandoned(r, sid) {
			return
		}
		writeText(w, []byte{'0' + byte(engineio.PacketNoop)})
		return
	}
	if len(f.Payloads) > 0 || f.Pinged {
		writeText(w, joinPayloads(f))
		return
	}

	rooms := f.Rooms
	wake, stop, missed := e.waiter(ctx, sid, rooms, mark)
	defer func() { stop() }()
	// Unless the store can tell that the watch missed nothing since the first fetch began, a
	// wake-up may have come before the watch was active: fetch once more.
	checked := !missed
	for {
		if checked {
			now := e.cfg.Now()
			next := holdEnd
			if !f.Session.PingSent {
				next = minTime(next, f.Session.PingDue())
			} else {
				next = minTime(next, f.Session.Deadline())
			}
			timer := time.NewTimer(max(next.Sub(now), 0))
			select {
			case <-wake:
			case <-timer.C:
			case <-e.cfg.Shutdown:
				holdEnd = time.Time{}
			case <-ctx.Done():
				timer.Stop()
				if errors.Is(ctx.Err(), context.DeadlineExceeded) {
					// Out of time (the margin did not suffice): the response cannot go out any
					// more; the session stays, and its hold marker expires on its own.
					e.log.Warn("poll: deadline reached while holding", logattr.Session(sid))
					return
				}
				// Engine.IO: a GET the client abandoned ends the session (the client is gone or
				// broken: "poll connection closed prematurely", a transport error); nothing
				// queued is lost by that, it was never taken.
				e.closeLogged(ctx, sid, "transport error")
				return
			}
			timer.Stop()
		}
		checked = true
		release := !e.cfg.Now().Before(holdEnd)
		if release {
			req.Hold = 0
		}
		mark = markNow()
		f, err = e.cfg.Store.Fetch(ctx, sid, req)
		switch {
		case errors.As(err, &closed):
			// The session ended while this GET was held (Engine.IO v4 §"Closing a session"):
			// a close asked by the client gets a noop, any other a close packet.
			if closed.Reason == "transport close" {
				writeText(w, []byte{'0' + byte(engineio.PacketNoop)})
			} else {
				writeText(w, []byte{'0' + byte(engineio.PacketClose)})
			}
			return
		case errors.Is(err, session.ErrNotFound):
			writeText(w, []byte{'0' + byte(engineio.PacketClose)})
			return
		case errors.Is(err, session.ErrTransport):
			writeText(w, []byte{'0' + byte(engineio.PacketNoop)})
			return
		case err != nil && e.abandoned(r, sid):
			return
		case err != nil:
			e.fail(w, r, sid, err)
			return
		case f.Expired:
			e.closeLogged(ctx, sid, "ping timeout")
			writeText(w, []byte{'0' + byte(engineio.PacketClose)})
			return
		}
		if len(f.Payloads) > 0 || f.Pinged {
			writeText(w, joinPayloads(f))
			return
		}
		if release || f.Upgrading {
			writeText(w, []byte{'0' + byte(engineio.PacketNoop)})
			return
		}
		if !sameRooms(rooms, f.Rooms) {
			// The session joined rooms while this GET was held (its commit woke the session's
			// channel): watch them too.
			stop()
			rooms = f.Rooms
			wake, stop, missed = e.waiter(ctx, sid, rooms, mark)
			checked = !missed
		}
	}
}

// sameRooms reports whether a and b list the same rooms, in any order.
func sameRooms(a, b []session.RoomRef) bool {
	if len(a) != len(b) {
		return false
	}
	set := make(map[session.RoomRef]struct{}, len(a))
	for _, r := range a {
		set[r] = struct{}{}
	}
	for _, r := range b {
		if _, ok := set[r]; !ok {
			return false
		}
	}
	return true
}

func joinPayloads(f *session.Fetched) []byte {
	n := 2
	for _, p := range f.Payloads {
		n += len(p) + 1
	}
	out := make([]byte, 0, n)
	for i, p := range f.Payloads {
		if i > 0 {
			out = append(out, engineio.RecordSeparator)
		}
		out = appendPollingPayload(out, p)
	}
	if f.Pinged {
		if len(out) > 0 {
			out = append(out, engineio.RecordSeparator)
		}
		out = append(out, '0'+byte(engineio.PacketPing))
	}
	return out
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// waiter returns a channel that fires when packets may have arrived (the store's push
// notifications, or a bounded backoff when it has none or watching failed), and reports whether
// a wake-up may have been missed since mark, taken before the caller's last fetch: always, unless
// the store is a session.MarkingNotifier that can tell it was not.
func (e *Engine) waiter(ctx context.Context, sid string, rooms []session.RoomRef, mark uint64) (<-chan struct{}, func(), bool) {
	var (
		w      session.Watch
		err    error
		missed = true
	)
	switch n := e.cfg.Store.(type) {
	case session.MarkingNotifier:
		w, missed, err = n.WatchSince(ctx, sid, rooms, mark)
	case session.Notifier:
		w, err = n.Watch(ctx, sid, rooms)
	default:
		wake, stop := e.backoff()
		return wake, stop, true
	}
	if err == nil {
		return w.C(), w.Stop, missed
	}
	if ctx.Err() == nil {
		e.log.Warn("watch failed; falling back to polling the store", logattr.Session(sid), "err", err)
	}
	wake, stop := e.backoff()
	return wake, stop, true
}

// backoff returns a channel that fires after 50 ms, then after twice as long each time, up to
// PollBackoff: how a held poll re-reads a store that cannot push.
func (e *Engine) backoff() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	done := make(chan struct{})
	go func() {
		delay := 50 * time.Millisecond
		for {
			t := time.NewTimer(delay)
			select {
			case <-done:
				t.Stop()
				return
			case <-t.C:
			}
			select {
			case ch <- struct{}{}:
			default:
			}
			delay = min(delay*2, e.cfg.PollBackoff)
		}
	}()
	return ch, func() { close(done) }
}
