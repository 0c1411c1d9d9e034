package redis

import (
	"context"
	"errors"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/serverless-socketio/server/session"
)

// hub multiplexes every watch of the process onto one pub/sub connection: a channel is
// subscribed once however many readers follow it, a message is parsed once into a
// session.Event and handed to each watch of its channel, and a watch is active only once Redis
// has confirmed its subscriptions (so nothing published after Watch returns is missed). Redis
// delivers one connection's messages in the order it executed the PUBLISHes, which is commit
// order; a message is lost only while the connection is down, and the resubscription that
// follows is a gap for every watch of the channel.
type hub struct {
	rdb    goredis.UniversalClient
	prefix string
	batch  *batcher // the store's: the hub's reads of room logs share its pipelines

	mu     sync.Mutex
	ps     *goredis.PubSub
	chans  map[string]*hubChannel
	queue  []hubCommand // subscribe/unsubscribe commands, sent in order by the sender goroutine
	wakeup chan struct{}
	done   chan struct{}
	closed bool
	// seq numbers the events the receiver handles (messages, subscription confirmations), so
	// that a watch can tell whether anything reached its channels after a mark.
	seq uint64
	// touched are the watches that got events since the last signal.
	touched []*hubWatch
	// linger keeps a channel subscribed this long after its last watch stops: a polling client
	// watches the same channels again with its next GET, a moment later, and then neither an
	// UNSUBSCRIBE nor a SUBSCRIBE (and the wait for its confirmation) goes to Redis, and the
	// watch can tell that nothing was missed since the GET's fetch (see watchSince).
	linger time.Duration
}

type hubChannel struct {
	room     *session.RoomRef // nil: a session's channel
	refs     int
	wanted   bool          // the last command sent for it was SUBSCRIBE
	pending  int           // commands sent and not yet confirmed
	active   chan struct{} // closed once wanted and confirmed
	watchers map[*hubWatch]struct{}
	idle     time.Time  // when refs dropped to 0 while subscribed; zero while watched
	activeAt uint64     // seq of the confirmation that made it active; 0 while not active
	last     uint64     // seq of the last message (or resubscription) on it
	lastID   session.ID // the ID of that message's event (maxID after a resubscription)
}

// maxID is after every ID: what the channel got is unknown.
var maxID = session.ID{Time: math.MaxInt64, Seq: math.MaxInt64}

type hubCommand struct {
	subscribe bool
	channels  []string
}

type hubWatch struct {
	*session.PendingEvents
	h     *hub
	names []string
	once  sync.Once
}

func (w *hubWatch) Stop() { w.once.Do(func() { w.h.release(w) }) }

// push queues ev for the reader, who is signalled once the hub has handled the messages at
// hand (see receive); h.mu is held.
func (w *hubWatch) push(ev session.Event) {
	w.Add(ev)
	w.h.touched = append(w.h.touched, w)
}

func newHub(rdb goredis.UniversalClient, prefix string, batch *batcher) *hub {
	return &hub{rdb: rdb, prefix: prefix, batch: batch, chans: make(map[string]*hubChannel), wakeup: make(chan struct{}, 1), done: make(chan struct{}), linger: 2 * time.Second}
}

// topics names the channels of a session and its rooms (see lua/keys.lua), with the room of each.
func (h *hub) topics(sid string, rooms []session.RoomRef) ([]string, []*session.RoomRef) {
	names := make([]string, 0, len(rooms)+1)
	refs := make([]*session.RoomRef, 0, len(rooms)+1)
	names = append(names, sessionChannel(h.prefix, sid))
	refs = append(refs, nil)
	for i := range rooms {
		r := rooms[i]
		names = append(names, roomChannel(h.prefix, r.Namespace, r.Room))
		refs = append(refs, &r)
	}
	return names, refs
}

// start opens the pub/sub connection on first use; h.mu is held.
func (h *hub) start() {
	if h.ps != nil {
		return
	}
	// The connection outlives any one request: it belongs to the store, not to a request
	// context, and lives until close.
	h.ps = h.rdb.Subscribe(context.Background())
	go h.receive(h.ps.ChannelWithSubscriptions())
	go h.send()
	if h.linger > 0 {
		go h.expire()
	}
}

// expire unsubscribes the channels nobody has watched for linger.
func (h *hub) expire() {
	t := time.NewTicker(h.linger / 2)
	defer t.Stop()
	for {
		select {
		case <-h.done:
			return
		case now := <-t.C:
			h.mu.Lock()
			var unsubscribe []string
			for name, c := range h.chans {
				if c.refs == 0 && c.wanted && !c.idle.IsZero() && now.Sub(c.idle) >= h.linger {
					c.wanted, c.idle, c.activeAt = false, time.Time{}, 0
					c.pending++
					c.active = make(chan struct{})
					unsubscribe = append(unsubscribe, name)
				}
			}
			h.enqueue(hubCommand{subscribe: false, channels: unsubscribe})
			h.mu.Unlock()
		}
	}
}

// mark returns the current point in the event sequence, for watchSince.
func (h *hub) mark() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.seq
}

// watch follows the channels of a session and its rooms, and reports whether an event for them
// may have been missed since mark: false only if every channel was already subscribed
// (confirmed) at mark and nothing after after reached it since. Then a read made after mark,
// whose Through is after, saw everything.
//
// A room's channel subscribed after mark is the exception: every entry its channel carries is in
// the room's log first (the same script writes both), so if the log holds nothing after after
// once the channel is active, nothing was missed on it (one XREVRANGE per such room, in one
// pipeline, instead of the caller's second read). A session's channel has no such log for its
// "changed" events: subscribed after mark, it is a miss.
func (h *hub) watch(ctx context.Context, sid string, rooms []session.RoomRef, mark uint64, after session.ID) (session.Watch, bool, error) {
	names, refs := h.topics(sid, rooms)
	w, err := h.watchChannels(ctx, names, refs)
	if err != nil {
		return nil, true, err
	}
	var fresh []*session.RoomRef
	h.mu.Lock()
	for _, name := range names {
		c := h.chans[name]
		switch {
		case c == nil || c.activeAt == 0 || (c.last > mark && after.Less(c.lastID)):
			h.mu.Unlock()
			return w, true, nil
		case c.activeAt > mark && c.room == nil:
			h.mu.Unlock()
			return w, true, nil
		case c.activeAt > mark:
			fresh = append(fresh, c.room)
		}
	}
	h.mu.Unlock()
	if len(fresh) == 0 {
		return w, false, nil
	}
	return w, h.loggedAfter(ctx, fresh, after), nil
}

// loggedAfter reports whether any of the rooms' logs holds an entry after id (or the store
// could not tell).
func (h *hub) loggedAfter(ctx context.Context, rooms []*session.RoomRef, id session.ID) bool {
	cmds := make([]*goredis.XMessageSliceCmd, len(rooms))
	queue := func(p goredis.Pipeliner) goredis.Cmder {
		for i, r := range rooms {
			cmds[i] = p.XRevRangeN(context.Background(), h.roomLogKey(r), "+", "-", 1)
		}
		return cmds[len(cmds)-1]
	}
	alone := func(ctx context.Context) goredis.Cmder {
		_, _ = h.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error { queue(p); return nil })
		return cmds[len(cmds)-1]
	}
	if _, err := h.batch.do(ctx, queue, alone); err != nil {
		return true
	}
	for _, c := range cmds {
		msgs, err := c.Result()
		if err != nil && !errors.Is(err, goredis.Nil) {
			return true
		}
		if len(msgs) == 0 {
			continue
		}
		last, err := parseID(msgs[0].ID)
		if err != nil || id.Less(last) {
			return true
		}
	}
	return false
}

// roomLogKey is the key of a room's log (lua/keys.lua's room_key).
func (h *hub) roomLogKey(r *session.RoomRef) string {
	return roomKey(h.prefix, r.Namespace, r.Room)
}

// watchChannels subscribes the channels (refs: the room of each, nil for a session's) and
// returns once they are all active.
func (h *hub) watchChannels(ctx context.Context, names []string, refs []*session.RoomRef) (*hubWatch, error) {
	w := &hubWatch{PendingEvents: session.NewPendingEvents(), h: h, names: names}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, context.Canceled
	}
	h.start()
	var subscribe []string
	waits := make([]chan struct{}, 0, len(names))
	for i, name := range names {
		c := h.chans[name]
		if c == nil {
			c = &hubChannel{room: refs[i], active: make(chan struct{}), watchers: make(map[*hubWatch]struct{})}
			h.chans[name] = c
		}
		c.refs++
		c.idle = time.Time{}
		c.watchers[w] = struct{}{}
		if !c.wanted {
			c.wanted = true
			c.pending++
			subscribe = append(subscribe, name)
		}
		waits = append(waits, c.active)
	}
	h.enqueue(hubCommand{subscribe: true, channels: subscribe})
	h.mu.Unlock()
	for _, a := range waits {
		select {
		case <-a:
		case <-ctx.Done():
			w.Stop()
			return nil, ctx.Err()
		}
	}
	return w, nil
}

func (h *hub) release(w *hubWatch) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var unsubscribe []string
	for _, name := range w.names {
		c := h.chans[name]
		if c == nil {
			continue
		}
		delete(c.watchers, w)
		c.refs--
		if c.refs == 0 && c.wanted && h.linger > 0 {
			c.idle = time.Now()
			continue
		}
		if c.refs == 0 && c.wanted {
			c.wanted, c.activeAt = false, 0
			c.pending++
			c.active = make(chan struct{})
			unsubscribe = append(unsubscribe, name)
		}
	}
	h.enqueue(hubCommand{subscribe: false, channels: unsubscribe})
}

// enqueue queues a command for the sender; h.mu is held, which keeps commands in state order.
func (h *hub) enqueue(c hubCommand) {
	if len(c.channels) == 0 || h.closed {
		return
	}
	h.queue = append(h.queue, c)
	select {
	case h.wakeup <- struct{}{}:
	default:
	}
}

func (h *hub) send() {
	for {
		select {
		case <-h.done:
			return
		case <-h.wakeup:
		}
		for {
			h.mu.Lock()
			if len(h.queue) == 0 || h.closed {
				h.mu.Unlock()
				break
			}
			c := h.queue[0]
			h.queue = h.queue[1:]
			ps := h.ps
			h.mu.Unlock()
			// Commands on the store's own connection; they only write (confirmations arrive
			// in receive), so no request's deadline applies to them.
			if c.subscribe {
				_ = ps.Subscribe(context.Background(), c.channels...)
			} else {
				_ = ps.Unsubscribe(context.Background(), c.channels...)
			}
		}
	}
}

// receive handles the pub/sub connection's messages. Readers are signalled only when no more
// messages are at hand: the PUBLISHes of one commit arrive together, and a reader then takes
// them together (a GET answers them in one response).
func (h *hub) receive(in <-chan any) {
	for m := range in {
		switch m := m.(type) {
		case *goredis.Message:
			h.notify(m.Channel, m.Payload)
		case *goredis.Subscription:
			h.confirm(m)
		}
		if len(in) == 0 {
			h.signal()
		}
	}
}

// signal signals the watches that got events since the last signal.
func (h *hub) signal() {
	h.mu.Lock()
	touched := h.touched
	h.touched = nil
	h.mu.Unlock()
	for _, w := range touched {
		w.Signal()
	}
}

func (h *hub) notify(name, payload string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seq++
	c := h.chans[name]
	if c == nil {
		return
	}
	c.last, c.lastID = h.seq, maxID
	if len(c.watchers) == 0 {
		if id, ok := eventID(payload); ok {
			c.lastID = id
		}
		return
	}
	ev, ok := parseEvent(payload, c.room)
	if !ok {
		ev = session.Event{Kind: session.EventGap}
	} else {
		c.lastID = ev.ID
	}
	for w := range c.watchers {
		w.push(ev)
	}
}

// eventID returns the ID of a channel's message without parsing the rest.
func eventID(msg string) (session.ID, bool) {
	if len(msg) < 2 || (msg[0] != 'c' && msg[0] != 'e' && msg[0] != 'x') {
		return session.ID{}, false
	}
	end := len(msg)
	if msg[0] != 'c' {
		if end = strings.IndexByte(msg[:min(len(msg), 64)], ' '); end < 0 {
			return session.ID{}, false
		}
	}
	id, err := parseID(msg[1:end])
	return id, err == nil
}

// parseEvent parses a message of a session's or a room's channel (see lua/keys.lua):
// "c<id>" (the session changed), "x<id> <owes noop: 0 or 1><reason>" (the session closed) or
// "e<id> <n>\n<except: n bytes><payload>" (an entry).
func parseEvent(msg string, room *session.RoomRef) (session.Event, bool) {
	if len(msg) < 2 {
		return session.Event{}, false
	}
	switch msg[0] {
	case 'c':
		id, err := parseID(msg[1:])
		return session.Event{Kind: session.EventChanged, ID: id}, err == nil
	case 'x':
		head, tail, ok := strings.Cut(msg[1:], " ")
		id, err := parseID(head)
		if !ok || err != nil || tail == "" {
			return session.Event{}, false
		}
		closed := &session.ClosedError{Reason: session.Reason(tail[1:]), OwesNoop: tail[0] == '1'}
		return session.Event{Kind: session.EventClosed, ID: id, Closed: closed}, true
	}
	nl := strings.IndexByte(msg[:min(len(msg), 64)], '\n')
	if msg[0] != 'e' || nl < 0 {
		return session.Event{}, false
	}
	head := msg[1:nl]
	sp := strings.IndexByte(head, ' ')
	if sp < 0 {
		return session.Event{}, false
	}
	id, err := parseID(head[:sp])
	n, err2 := strconv.Atoi(head[sp+1:])
	body := msg[nl+1:]
	if err != nil || err2 != nil || n < 0 || n > len(body) {
		return session.Event{}, false
	}
	ev := session.Event{Kind: session.EventEntry, ID: id, Room: room, Payload: []byte(body[n:])}
	if n > 0 {
		ev.Except = splitNUL(body[:n])
	}
	return ev, true
}

func splitNUL(s string) []string {
	var out []string
	for {
		i := strings.IndexByte(s, 0)
		if i < 0 {
			return append(out, s)
		}
		out = append(out, s[:i])
		s = s[i+1:]
	}
}

func (h *hub) confirm(m *goredis.Subscription) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seq++
	c := h.chans[m.Channel]
	if c == nil {
		return
	}
	if c.pending == 0 {
		// Not ours: go-redis re-subscribed after a reconnect. Anything published while the
		// connection was down is lost: a gap for every watcher, and an event for watch's mark.
		c.last, c.lastID = h.seq, maxID
		for w := range c.watchers {
			w.push(session.Event{Kind: session.EventGap})
		}
		return
	}
	c.pending--
	if c.pending > 0 {
		return
	}
	if c.wanted {
		c.activeAt = h.seq
		close(c.active)
	} else if c.refs == 0 {
		delete(h.chans, m.Channel)
	}
}

func (h *hub) close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil
	}
	h.closed = true
	close(h.done)
	if h.ps != nil {
		return h.ps.Close()
	}
	return nil
}
