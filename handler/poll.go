package handler

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/serverless-socketio/server/engineio"
	"github.com/serverless-socketio/server/internal/logattr"
	"github.com/serverless-socketio/server/session"
)

const (
	// pollLeaseMargin is how much longer than its hold a GET's lease lasts: time for its answer
	// and acknowledgement, and the bound on a dead process's lease.
	pollLeaseMargin = 10 * time.Second
	// answerGrace is how long, at least, a GET that finds the session held waits for the holder
	// to let go: the GET before it may have answered and be acknowledging, on another process. A
	// holder still there after it is a real overlap. A slow store stretches the wait to four
	// times its recent acknowledgements (DynamoDB's is several conditional writes in a row, slow
	// on a loaded table), up to answerGraceMax.
	answerGrace    = 100 * time.Millisecond
	answerGraceMax = 2 * time.Second
	// upgradeGrace is how long a GET that finds an upgrade probe in progress waits for its
	// outcome.
	upgradeGrace = 100 * time.Millisecond
	// settleWait is how long an upgrade waits for the poll lease (settlePoll): past a kept
	// lease's handover (at most maxPollHandover) and its acknowledgement, and short of
	// upgradeGrace.
	settleWait = 75 * time.Millisecond
	// deadlineMargin is how long before its context's deadline a held GET answers.
	deadlineMargin = 1500 * time.Millisecond
	// ackTimeout bounds the acknowledgement of an answer written.
	ackTimeout = 5 * time.Second
)

// heldPoll is one GET: it holds the session's poll lease from its start until its answer is
// written and acknowledged (Engine.IO allows one GET at a time), and answers with what is
// queued, the ping when due, or a noop when its hold ends.
type heldPoll struct {
	e       *Engine
	w       http.ResponseWriter
	r       *http.Request
	sid     string
	token   string
	f       *feed
	holdEnd time.Time
	g       *activeGet // this GET, as the next GET of the session on this process sees it
	let     bool       // the lease was let go (with an acknowledgement or without)
	parked  bool       // the feed waits for the session's next GET (pollCache)
	// lease is the poll lease this GET holds: its expiry, and what the GETs before it wrote
	// under it (when it adopted a lease one of them kept: Config.PollHandover) that is still to
	// be acknowledged with this GET's own.
	lease keptLease
}

// poll serves a GET.
func (e *Engine) poll(w http.ResponseWriter, r *http.Request, sid string) {
	p := &heldPoll{e: e, w: w, r: r, sid: sid, token: newSID()}
	p.holdEnd = e.cfg.Now().Add(e.cfg.PollHold)
	if dl, ok := r.Context().Deadline(); ok {
		// On Lambda the invocation's deadline bounds the hold: answer before it, with a margin
		// for the last read and the response.
		p.holdEnd = minTime(p.holdEnd, dl.Add(-deadlineMargin))
	}
	e.gets.wait(r.Context(), sid, e.acks.grace())
	p.g = e.gets.start(sid, r.Context())
	defer e.gets.end(sid, p.g)
	if err := p.take(); err != nil {
		if errors.Is(err, errOverlap) {
			// Engine.IO v4: overlapping GETs are a protocol error and end the session; the held
			// one answers a close packet.
			e.refuse(w, r, err, sid)
			e.closeLogged(r.Context(), sid, session.ReasonTransportError)
			return
		}
		if !p.abandoned() {
			e.refuse(w, r, err, sid)
		}
		return
	}
	defer p.end()
	p.run()
}

// take takes the poll lease and the feed: those the GET before kept for this one if it answered
// on this process (Config.PollHandover), else the lease from the store, and the feed the GET
// before parked if no other GET came in between.
func (p *heldPoll) take() error {
	if parked := p.e.polls.adopt(p.sid); parked != nil {
		if kept := p.e.polls.takeKept(parked); kept != nil {
			p.token, p.f, p.lease = parked.token, parked.f, *kept
			return p.renew()
		}
		parked.f.stop() // let go in between: its acknowledgement is written, take the lease anew
	}
	fresh := p.e.newFeed(p.sid)
	prev, err := p.hold(fresh)
	if err != nil {
		return err
	}
	if p.f = p.e.polls.take(p.sid, prev); p.f == nil {
		p.f = fresh
	}
	return nil
}

// renew extends an adopted lease when it would expire before this GET's answer is acknowledged.
func (p *heldPoll) renew() error {
	if p.lease.until.After(p.holdEnd.Add(pollLeaseMargin / 2)) {
		return nil
	}
	ttl := p.holdEnd.Sub(p.e.cfg.Now()) + pollLeaseMargin
	until := p.e.cfg.Now().Add(ttl)
	if _, err := p.e.cfg.Store.Acquire(p.r.Context(), p.sid, session.LeasePoll, p.token, ttl); err != nil {
		// What the GETs before wrote is acknowledged all the same; the release leaves alone a
		// lease another GET took meanwhile (it had expired: an overlap).
		p.f.stop()
		p.release()
		if errors.Is(err, session.ErrBusy) {
			return errOverlap
		}
		return err
	}
	p.lease.until = until
	return nil
}

// end lets the lease go, if the answer did not, and stops the feed unless it was parked.
func (p *heldPoll) end() {
	p.release()
	if !p.parked {
		p.f.stop()
	}
}

// hold takes the session's poll lease, waiting up to the grace for a holder that is answering;
// it returns the token that took the lease before this GET ("" when unknown: see
// session.Store.Acquire). A retry's Acquire that names this GET's own token (a store that counts
// failed attempts) or the same token as the first means nobody came in between.
func (p *heldPoll) hold(f *feed) (string, error) {
	ttl := p.holdEnd.Sub(p.e.cfg.Now()) + pollLeaseMargin
	p.lease.until = p.e.cfg.Now().Add(ttl)
	delay := 2 * time.Millisecond
	giveUp := p.e.cfg.Now().Add(p.e.acks.grace())
	first := ""
	for attempt := 0; ; attempt++ {
		prev, err := p.acquire(ttl, f, attempt == 0)
		switch {
		case attempt == 0:
			first = prev
		case prev != p.token && prev != first:
			first = ""
		}
		if !errors.Is(err, session.ErrBusy) {
			return first, err
		}
		if !p.e.cfg.Now().Before(giveUp) {
			return "", errOverlap
		}
		if !sleep(p.r.Context(), delay) {
			return "", p.r.Context().Err()
		}
		delay = min(2*delay, 64*time.Millisecond)
	}
}

// acquire takes the poll lease once. A first attempt with no feed parked on this process (which
// will read at once) reads in the same step where the store can (session.LeaseReader), and
// preloads f with it.
func (p *heldPoll) acquire(ttl time.Duration, f *feed, first bool) (string, error) {
	lr, ok := p.e.cfg.Store.(session.LeaseReader)
	if !ok || !first || p.e.polls.has(p.sid) {
		return p.e.cfg.Store.Acquire(p.r.Context(), p.sid, session.LeasePoll, p.token, ttl)
	}
	mark := f.markNow()
	prev, read, q, qerr, err := lr.AcquireRead(p.r.Context(), p.sid, session.LeasePoll, p.token, ttl, readMax)
	if err == nil && read {
		f.preload(mark, q, qerr)
		var closed *session.ClosedError
		// No such session: the store kept no lease (session.LeaseReader), nothing to let go.
		p.let = errors.Is(qerr, session.ErrNotFound) && !errors.As(qerr, &closed)
	}
	return prev, err
}

// run holds the GET until it has something to answer.
func (p *heldPoll) run() {
	ctx := p.r.Context()
	for first := true; ; first = false {
		entries, err := p.f.next(ctx)
		if err != nil {
			p.failed(err, first)
			return
		}
		s := p.f.session()
		now := p.e.cfg.Now()
		switch {
		case s.Transport != session.Polling:
			// Engine.IO v4 §"Upgrade": after the upgrade, polling requests are refused; a GET
			// held across it ends with a noop.
			p.finish(first, errWrongTransport, engineio.PacketNoop)
			return
		case s.Expired(now):
			p.e.closeLogged(ctx, p.sid, session.ReasonPingTimeout)
			p.finish(first, session.ErrNotFound, engineio.PacketClose)
			return
		case s.Probe != "":
			p.upgrading(first)
			return
		}
		if ping := s.NeedsPing(now); len(entries) > 0 || ping {
			p.answer(joinPayloads(entries, ping), entries, ping, true)
			return
		}
		if !now.Before(p.holdEnd) {
			p.answer(packet(engineio.PacketNoop), nil, false, true)
			return
		}
		if !p.wait(minTime(p.holdEnd, s.NextBeat())) {
			return
		}
	}
}

// wait waits for the feed, the time until, or a shutdown; it reports false when the GET is over
// (the client gave up, or the context's deadline came).
func (p *heldPoll) wait(until time.Time) bool {
	ctx := p.r.Context()
	events, backoff := p.f.wake()
	timer := time.NewTimer(max(until.Sub(p.e.cfg.Now()), 0))
	defer timer.Stop()
	select {
	case <-events:
	case <-backoff:
	case <-timer.C:
	case <-p.e.cfg.Shutdown:
		p.holdEnd = time.Time{}
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			// Out of time (the margin did not suffice): the answer cannot go out any more; the
			// session stays, and the lease is let go.
			p.e.log.Warn("poll: deadline reached while holding", logattr.Session(p.sid))
			p.release()
			return false
		}
		p.abandoned()
		return false
	}
	return true
}

// answer writes body and, once it is written, acknowledges the entries and the ping it carries
// (all that the feed last returned), with what earlier GETs wrote under the lease, letting the
// lease go in the same step. A body the client did not get acknowledges nothing of its own: its
// entries stay queued; nor does an answer without them (a noop), whatever the feed returned
// before. With park, the feed is parked for the session's next GET before the lease goes (that
// GET cannot start earlier, so it finds the feed), and dropped again if the acknowledgement
// fails; and the lease may be kept with it (keeps), the acknowledgement going with a later one.
func (p *heldPoll) answer(body []byte, entries []session.Entry, ping, park bool) {
	var ack session.Ack
	written := writeText(p.w, body) == nil
	if written && (len(entries) > 0 || ping) {
		ack = p.f.ack(entries)
		if ping {
			ack.PingFor = p.f.session().LastPong
		}
	}
	ack = p.lease.with(ack)
	p.let = true
	ctx, cancel := context.WithTimeout(context.WithoutCancel(p.r.Context()), ackTimeout)
	defer cancel()
	keep := p.keeps(written && park, ack)
	p.parked = written && park && p.park(ctx, ack, keep)
	p.g.answered.Store(true)
	if p.parked && keep != nil {
		return // the next GET here adopts the lease, or the cache lets it go
	}
	ack.Release, ack.Token = session.LeasePoll, p.token
	start := time.Now()
	err := p.e.cfg.Store.Ack(ctx, p.sid, ack)
	p.e.acks.observe(time.Since(start))
	if err != nil {
		p.e.log.Warn("poll: acknowledgement failed", logattr.Session(p.sid), "err", err)
		if p.parked {
			p.e.polls.drop(p.sid, p.token)
			p.parked = false
		}
	}
}

// park parks the feed for the session's next GET, which then need not read the store: what ack
// acknowledges counts as written, and the watch follows the session and its rooms. A watch
// that may have missed an event (the first on this process, whose channels were not yet
// subscribed, or one that came between the read and the watch) does not park: the next GET
// reads, as it would without the feed.
func (p *heldPoll) park(ctx context.Context, ack session.Ack, keep *keptLease) bool {
	f := p.f
	if f.sub == nil || f.stale || len(f.pending) > 0 {
		return false
	}
	if missed, err := f.watch(ctx); err != nil || missed {
		return false
	}
	if !ack.Through.IsZero() {
		f.handed([]session.Entry{{ID: ack.Through}})
	}
	if !ack.PingFor.IsZero() {
		f.q.Session.PingSent = true
	}
	p.e.polls.park(p.sid, p.token, f, keep)
	return true
}

// keeps returns the lease to keep for the session's next GET (Config.PollHandover) with ack,
// what this GET wrote and did not acknowledge, or nil to let the lease go now: when the answer
// parks nothing, carries a ping (its acknowledgement schedules the next), or the acknowledgement
// has waited long enough; during an upgrade, or a shutdown, or when the next GETs seldom come
// to this process (pollCache.keeps).
func (p *heldPoll) keeps(park bool, ack session.Ack) *keptLease {
	if !park || !ack.PingFor.IsZero() || shutting(p.e.cfg.Shutdown) || !p.e.polls.keeps() {
		return nil
	}
	now := p.e.cfg.Now()
	since := p.lease.since
	if since.IsZero() {
		since = now
	}
	if s := p.f.session(); s.Probe != "" || s.Transport != session.Polling || now.Sub(since) >= handoverAckEvery {
		return nil
	}
	return &keptLease{ack: ack, since: since, until: p.lease.until}
}

// release lets the poll lease go, acknowledging only what GETs before this one wrote under it,
// unless it was let go already.
func (p *heldPoll) release() {
	if p.let {
		return
	}
	p.let = true
	ctx, cancel := context.WithTimeout(context.WithoutCancel(p.r.Context()), ackTimeout)
	defer cancel()
	ack := p.lease.with(session.Ack{})
	ack.Release, ack.Token = session.LeasePoll, p.token
	if err := p.e.cfg.Store.Ack(ctx, p.sid, ack); err != nil {
		p.e.log.Warn("poll: releasing the lease failed", logattr.Session(p.sid), "err", err)
	}
}

// finish ends the GET without packets: a refusal (err) if it is the GET's first look at the
// session, otherwise the one-packet answer t to a GET that was held.
func (p *heldPoll) finish(first bool, err error, t engineio.PacketType) {
	if first {
		p.e.refuse(p.w, p.r, err, p.sid)
		p.release()
		return
	}
	p.answer(packet(t), nil, false, false)
}

// failed ends the GET on a read error: the session closed or vanished (Engine.IO v4 §"Closing
// a session": a close the client asked for is answered with a noop, by the first GET to learn of
// it, any other with a close packet; a GET that was not held gets 400), or the store failed.
func (p *heldPoll) failed(err error, first bool) {
	var closed *session.ClosedError
	switch {
	case errors.As(err, &closed) && closed.OwesNoop && p.claimNoop():
		p.answer(packet(engineio.PacketNoop), nil, false, false)
	case errors.Is(err, session.ErrNotFound):
		p.finish(first, session.ErrNotFound, engineio.PacketClose)
	case p.abandoned():
	default:
		p.e.refuse(p.w, p.r, err, p.sid)
		p.release()
	}
}

// claimNoop takes the noop a client's close owes: only the first GET to ask gets it.
func (p *heldPoll) claimNoop() bool {
	_, err := p.e.cfg.Store.Acquire(p.r.Context(), p.sid, session.LeaseNoop, p.token, time.Hour)
	return err == nil
}

// upgrading answers a GET during an upgrade probe. Its "5" may be on the way, sent before this
// GET: give it a moment, so that a GET after the upgrade is refused (Engine.IO v4 §"Upgrade")
// however the two connections race; otherwise answer a noop, as to a held GET.
func (p *heldPoll) upgrading(first bool) {
	ctx, cancel := context.WithTimeout(p.r.Context(), upgradeGrace)
	defer cancel()
	for {
		_, err := p.f.next(ctx)
		switch {
		case err == nil && p.f.session().Transport != session.Polling:
			p.finish(first, errWrongTransport, engineio.PacketNoop)
			return
		case err != nil || p.f.session().Probe == "":
			p.answer(packet(engineio.PacketNoop), nil, false, false)
			return
		}
		events, backoff := p.f.wake()
		select {
		case <-events:
		case <-backoff:
		case <-ctx.Done():
			if !p.abandoned() {
				p.answer(packet(engineio.PacketNoop), nil, false, false)
			}
			return
		}
	}
}

// abandoned reports whether the client gave up on the GET (its context is cancelled, not timed
// out): the session then ends as for any GET the client abandons ("transport error"; nothing
// queued is lost by that, it was never acknowledged).
func (p *heldPoll) abandoned() bool {
	if !errors.Is(p.r.Context().Err(), context.Canceled) {
		return false
	}
	p.e.log.Info("poll abandoned by the client", logattr.Session(p.sid))
	p.e.closeLogged(p.r.Context(), p.sid, session.ReasonTransportError)
	return true
}

// ackTimes follows how long the acknowledgements of this process's GETs take (a moving
// average), which bounds how long the GET after one may find the lease still held on another
// process.
type ackTimes struct {
	avg atomic.Int64 // nanoseconds
}

func (a *ackTimes) observe(d time.Duration) {
	old := a.avg.Load()
	a.avg.Store(old - old/8 + int64(d)/8)
}

// grace is how long a GET waits for a holder that is answering.
func (a *ackTimes) grace() time.Duration {
	return min(max(answerGrace, 4*time.Duration(a.avg.Load())), answerGraceMax)
}

// sleep waits d or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// shutting reports whether ch (Config.Shutdown) is closed.
func shutting(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// letGoPoll lets go of a poll lease a GET kept for the session's next (Config.PollHandover),
// with the acknowledgement of what was written under it. If that fails, the feed parked with
// the lease is dropped: the store's cursor is behind it.
func (e *Engine) letGoPoll(sid, token string, a session.Ack) {
	a.Release, a.Token = session.LeasePoll, token
	ctx, cancel := context.WithTimeout(context.Background(), ackTimeout)
	defer cancel()
	if err := e.cfg.Store.Ack(ctx, sid, a); err != nil {
		e.log.Warn("poll: acknowledgement failed", logattr.Session(sid), "err", err)
		e.polls.drop(sid, token)
	}
}

// settlePoll waits a moment (settleWait) until nobody holds the session's poll lease: a GET may
// have kept it for the next (Config.PollHandover), with what it wrote still to acknowledge,
// and an upgrade must not hand the queue to the WebSocket before that. A GET held during the
// probe holds the lease too, and waits for the upgrade (upgradeGrace): the wait gives up first.
func (e *Engine) settlePoll(ctx context.Context, sid string) {
	e.polls.letGoNow(sid)
	if _, ok := e.cfg.Store.(session.Subscriber); !ok {
		return // no feed parks on such a store (heldPoll.park), so no lease is kept
	}
	token := newSID()
	delay := 2 * time.Millisecond
	giveUp := e.cfg.Now().Add(settleWait)
	for {
		_, err := e.cfg.Store.Acquire(ctx, sid, session.LeasePoll, token, time.Second)
		if err == nil {
			_ = e.cfg.Store.Release(ctx, sid, session.LeasePoll, token)
			return
		}
		left := giveUp.Sub(e.cfg.Now())
		if !errors.Is(err, session.ErrBusy) || left <= 0 || !sleep(ctx, min(delay, left)) {
			e.log.Info("upgrade: the poll lease is still held", logattr.Session(sid), "err", err)
			return
		}
		delay = min(2*delay, 64*time.Millisecond)
	}
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
