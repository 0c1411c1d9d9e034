package redis

import (
	"context"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// hub multiplexes every watch of the process onto one pub/sub connection: a channel is
// subscribed once however many polls wait on it, and a watch is active only once Redis has
// confirmed its subscriptions (so nothing published after Watch returns is missed).
type hub struct {
	rdb goredis.UniversalClient

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
	// linger keeps a channel subscribed this long after its last watch stops: a polling client
	// watches the same channels again with its next GET, a moment later, and then neither an
	// UNSUBSCRIBE nor a SUBSCRIBE (and the wait for its confirmation) goes to Redis, and the
	// watch can tell that nothing was missed since the GET's fetch (see watchSince).
	linger time.Duration
}

type hubChannel struct {
	refs     int
	wanted   bool          // the last command sent for it was SUBSCRIBE
	pending  int           // commands sent and not yet confirmed
	active   chan struct{} // closed once wanted and confirmed
	watchers map[*hubWatch]struct{}
	idle     time.Time // when refs dropped to 0 while subscribed; zero while watched
	activeAt uint64    // seq of the confirmation that made it active; 0 while not active
	last     uint64    // seq of the last message (or resubscription) on it
}

type hubCommand struct {
	subscribe bool
	channels  []string
}

type hubWatch struct {
	h     *hub
	names []string
	ch    chan struct{}
	once  sync.Once
}

func (w *hubWatch) C() <-chan struct{} { return w.ch }
func (w *hubWatch) Stop()              { w.once.Do(func() { w.h.release(w) }) }

func newHub(rdb goredis.UniversalClient) *hub {
	return &hub{rdb: rdb, chans: make(map[string]*hubChannel), wakeup: make(chan struct{}, 1), done: make(chan struct{}), linger: 2 * time.Second}
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

// watchSince is watch that also reports whether an event for names may have been missed since
// mark: false only if every channel was already subscribed (confirmed) at mark and nothing
// reached it since. Then a fetch made after mark saw everything a wake-up could announce.
func (h *hub) watchSince(ctx context.Context, names []string, mark uint64) (*hubWatch, bool, error) {
	w, err := h.watch(ctx, names)
	if err != nil {
		return nil, true, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, name := range names {
		c := h.chans[name]
		if c == nil || c.activeAt == 0 || c.activeAt > mark || c.last > mark {
			return w, true, nil
		}
	}
	return w, false, nil
}

func (h *hub) watch(ctx context.Context, names []string) (*hubWatch, error) {
	w := &hubWatch{h: h, names: names, ch: make(chan struct{}, 1)}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, context.Canceled
	}
	h.start()
	var subscribe []string
	waits := make([]chan struct{}, 0, len(names))
	for _, name := range names {
		c := h.chans[name]
		if c == nil {
			c = &hubChannel{active: make(chan struct{}), watchers: make(map[*hubWatch]struct{})}
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

func (h *hub) receive(in <-chan any) {
	for m := range in {
		switch m := m.(type) {
		case *goredis.Message:
			h.notify(m.Channel)
		case *goredis.Subscription:
			h.confirm(m)
		}
	}
}

func (h *hub) notify(name string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seq++
	if c := h.chans[name]; c != nil {
		c.last = h.seq
		for w := range c.watchers {
			select {
			case w.ch <- struct{}{}:
			default:
			}
		}
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
		// connection was down is lost, so wake every watcher to fetch again, and count it as an
		// event for watchSince.
		c.last = h.seq
		for w := range c.watchers {
			select {
			case w.ch <- struct{}{}:
			default:
			}
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
