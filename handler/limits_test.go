package handler_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	goredis "github.com/redis/go-redis/v9"

	"github.com/serverless-socketio/server/consumers/chat"
	"github.com/serverless-socketio/server/handler"
	"github.com/serverless-socketio/server/internal/siotest"
	"github.com/serverless-socketio/server/sio"
	"github.com/serverless-socketio/server/store/redis"
)

// These tests hold the design to its promises at sizes a unit test rarely reaches: a broadcast
// costs the same round trips whatever the room's size (fan-out on read), and thousands of held
// long-polls share one pub/sub connection and a handful of pooled ones. The sessions are set up
// through the Engine in process (httptest.NewRecorder): the requests are the real ones, without
// a socket each.

const (
	welcomePacket = `42/chat,["system_message",{"text":"Welcome!"}]`
	chatQuery     = "EIO=4&transport=polling"
)

// serveInProcess runs one request through h without a network and returns its status and body.
// The request's context is never cancelled, so it suits requests that do not hold.
func serveInProcess(h http.Handler, method, query, body string) (int, string) {
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, "/socket.io/?"+query, r))
	return rec.Code, rec.Body.String()
}

// openChatSession opens a polling session through h and connects it to /chat, where the chat
// consumer puts it in "lobby". With takeWelcome it also takes the CONNECT answer and the welcome
// with a GET, leaving nothing queued. It returns errors rather than failing a test, so that
// workers may call it.
func openChatSession(h http.Handler, takeWelcome bool) (string, error) {
	status, body := serveInProcess(h, http.MethodGet, chatQuery, "")
	var open struct {
		SID string `json:"sid"`
	}
	if status != http.StatusOK || !strings.HasPrefix(body, "0{") || json.Unmarshal([]byte(body[1:]), &open) != nil || open.SID == "" {
		return "", fmt.Errorf("handshake: %d %q", status, body)
	}
	q := chatQuery + "&sid=" + open.SID
	if status, body := serveInProcess(h, http.MethodPost, q, "40/chat,"); status != http.StatusOK || body != "ok" {
		return "", fmt.Errorf("CONNECT /chat: %d %q", status, body)
	}
	if takeWelcome {
		status, body := serveInProcess(h, http.MethodGet, q, "")
		packets := strings.Split(body, "\x1e")
		if status != http.StatusOK || len(packets) != 2 || !strings.HasPrefix(packets[0], "40/chat,{") || packets[1] != welcomePacket {
			return "", fmt.Errorf("GET after CONNECT: %d %q", status, body)
		}
	}
	return open.SID, nil
}

// openChatSessions opens n sessions with openChatSession on workers goroutines and returns their
// sids in order of creation index.
func openChatSessions(t *testing.T, h http.Handler, n, workers int, takeWelcome bool) []string {
	t.Helper()
	sids := make([]string, n)
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				sid, err := openChatSession(h, takeWelcome)
				if err != nil {
					once.Do(func() { firstErr = fmt.Errorf("session %d: %w", i, err) })
					next.Store(int64(n)) // stop the other workers
					return
				}
				sids[i] = sid
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		t.Fatal(firstErr)
	}
	return sids
}

// newChatEngine serves the chat consumer from a store on rdb whose keys start with prefix. The
// store is closed when the test ends; rdb stays the caller's.
func newChatEngine(tb testing.TB, rdb *goredis.Client, opt redis.Options, cfg handler.Config) (*handler.Engine, *redis.Store) {
	tb.Helper()
	r := sio.NewRouter(slog.New(slog.DiscardHandler))
	if err := r.Register(chat.Consumer{}); err != nil {
		tb.Fatal(err)
	}
	store := redis.New(rdb, opt)
	tb.Cleanup(func() { store.Close() })
	cfg.Store, cfg.App = store, r
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	eng, err := handler.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return eng, store
}

// redisFromEnv returns the options of the real Redis named by SIO_TEST_REDIS_URL, skipping the
// test or benchmark when it is unset.
func redisFromEnv(tb testing.TB) *goredis.Options {
	tb.Helper()
	url := os.Getenv("SIO_TEST_REDIS_URL")
	if url == "" {
		tb.Skip("SIO_TEST_REDIS_URL not set")
	}
	opt, err := goredis.ParseURL(url)
	if err != nil {
		tb.Fatalf("SIO_TEST_REDIS_URL: %v", err)
	}
	return opt
}

// TestRoundTripsBroadcast10000: a chat message to a lobby of 10,000 sessions is one Load and one
// Commit, as it is in a lobby of 3: the broadcast is appended once to the room's log, and each
// member reads it from there with its own fetch (fan-out on read).
func TestRoundTripsBroadcast10000(t *testing.T) {
	if testing.Short() {
		t.Skip("creates 10,000 sessions")
	}
	const n = 10_000
	// The heartbeat outlasts the setup (a ping due would join the packets checked below) and
	// stays within the store's default 2-minute session TTL.
	srv := chatServerRedis(t, handler.Config{PingInterval: time.Minute, PingTimeout: 50 * time.Second})
	count := func(f func()) int64 {
		before := srv.RoundTrips.Load()
		f()
		return srv.RoundTrips.Load() - before
	}
	chatPacket := func(text string) string { return `42/chat,["chat_message",{"text":"` + text + `"}]` }
	get := func(sid string) []string {
		t.Helper()
		status, body := siotest.Do(t, http.MethodGet, srv.URL+"?"+chatQuery+"&sid="+sid, "")
		if status != http.StatusOK {
			t.Fatalf("GET %s: %d %q", sid, status, body)
		}
		return strings.Split(body, "\x1e")
	}
	post := func(sid, payload string) {
		t.Helper()
		if status, body := siotest.Do(t, http.MethodPost, srv.URL+"?"+chatQuery+"&sid="+sid, payload); status != http.StatusOK || body != "ok" {
			t.Fatalf("POST %q: %d %q", payload, status, body)
		}
	}

	// A small lobby first, which also loads the scripts (a first call costs an extra EVAL).
	small := openChatSessions(t, srv.Engine, 3, 1, true)
	post(small[0], `42/chat,["chat_message",{"text":"warm"}]`)
	get(small[0])
	srv.Released(t, small[0]) // its lease's release follows its answer: not in the count
	startSmall := time.Now()
	smallTrips := count(func() { post(small[0], `42/chat,1["chat_message",{"text":"small"}]`) })
	smallTook := time.Since(startSmall)
	if smallTrips != 2 {
		t.Errorf("chat message to a lobby of %d: %d round trips, want 2 (load + commit)", len(small), smallTrips)
	}

	start := time.Now()
	big := openChatSessions(t, srv.Engine, n-len(small), 4*runtime.GOMAXPROCS(0), false)
	setup := time.Since(start)
	sender := big[len(big)/3]
	startBig := time.Now()
	bigTrips := count(func() { post(sender, `42/chat,7["chat_message",{"text":"big"}]`) })
	bigTook := time.Since(startBig)
	if bigTrips != 2 {
		t.Errorf("chat message to a lobby of %d: %d round trips, want 2 (load + commit), as in a lobby of %d", n, bigTrips, len(small))
	}

	// Members read it from the room's log: the session created first (the small lobby's sender,
	// whose ack is in its own log), the last, one between, and the big lobby's sender. The big
	// lobby's members have not taken their CONNECT answer yet ("*" ends a prefix).
	connectAnswer := "40/chat,{*"
	for _, m := range []struct {
		name, sid string
		want      []string
	}{
		{"first member", small[0], []string{chatPacket("small"), `43/chat,1[{"status":"ok"}]`, chatPacket("big")}},
		{"middle member", big[len(big)/2], []string{connectAnswer, welcomePacket, chatPacket("big")}},
		{"last member", big[len(big)-1], []string{connectAnswer, welcomePacket, chatPacket("big")}},
		{"sender", sender, []string{connectAnswer, welcomePacket, chatPacket("big"), `43/chat,7[{"status":"ok"}]`}},
	} {
		// Its answer reaches it before the lease's release: count the commands until then.
		before := srv.Commands.Load()
		got := get(m.sid)
		srv.Released(t, m.sid)
		if !packetsMatch(got, m.want) {
			t.Errorf("%s received %q, want %q", m.name, got, m.want)
		}
		if n := srv.Commands.Load() - before; n != 4 {
			t.Errorf("%s's GET: %d commands, want 4 (its lease: two plain commands in one round trip; one read script of its log and its rooms' logs; its ack)", m.name, n)
		}
	}
	t.Logf("%d sessions set up in %s (%.0f/s); chat message POST: lobby of %d %d round trips in %s, lobby of %d %d round trips in %s",
		n, setup.Round(time.Millisecond), float64(n-len(small))/setup.Seconds(), len(small), smallTrips, smallTook.Round(time.Microsecond), n, bigTrips, bigTook.Round(time.Microsecond))
}

// packetsMatch reports whether got is want, where a wanted packet ending in "*" is a prefix.
func packetsMatch(got, want []string) bool {
	if len(got) != len(want) {
		return false
	}
	for i, w := range want {
		if p, ok := strings.CutSuffix(w, "*"); ok {
			if !strings.HasPrefix(got[i], p) {
				return false
			}
		} else if got[i] != w {
			return false
		}
	}
	return true
}

// heldPollClient returns an HTTP client that keeps a connection per concurrent request to one
// host: one held poll is one connection.
func heldPollClient(n int) *http.Client {
	return &http.Client{Transport: &http.Transport{MaxConnsPerHost: 0, MaxIdleConns: 0, MaxIdleConnsPerHost: n}}
}

// openFilesLimit returns the soft limit on open files from /proc/self/limits (the Go runtime has
// already raised it to the hard limit), or 0 where that file does not exist.
func openFilesLimit() int {
	f, err := os.Open("/proc/self/limits")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "Max open files"); ok {
			if fields := strings.Fields(rest); len(fields) > 0 {
				n, _ := strconv.Atoi(fields[0])
				return n
			}
		}
	}
	return 0
}

// memSnapshot is the process's heap and stacks in use and its goroutines, after a GC.
type memSnapshot struct {
	heap, stack uint64
	goroutines  int
}

func takeMemSnapshot() memSnapshot {
	// Twice: the first GC moves sync.Pool contents (net/http's buffers among them) to the
	// victim cache, the second frees them, so that earlier requests' pooled buffers do not
	// offset the count.
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memSnapshot{heap: ms.HeapInuse, stack: ms.StackInuse, goroutines: runtime.NumGoroutine()}
}

// perItem returns the growth from before to after, divided by n.
func perItem(before, after memSnapshot, n int) (heap, stack, goroutines float64) {
	d := func(a, b uint64) float64 { return (float64(b) - float64(a)) / float64(n) }
	return d(before.heap, after.heap), d(before.stack, after.stack), float64(after.goroutines-before.goroutines) / float64(n)
}

// pollResult is the answer to one held GET.
type pollResult struct {
	status int
	body   string
	err    error
}

// holdGets sends a GET to each url at once through client and returns a channel that receives
// each answer, and a counter of the answers so far.
func holdGets(ctx context.Context, client *http.Client, urls []string) (<-chan pollResult, *atomic.Int64) {
	results := make(chan pollResult, len(urls))
	var answered atomic.Int64
	for _, u := range urls {
		go func() {
			defer answered.Add(1)
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
			if err != nil {
				results <- pollResult{err: err}
				return
			}
			resp, err := client.Do(req)
			if err != nil {
				results <- pollResult{err: err}
				return
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			results <- pollResult{status: resp.StatusCode, body: string(b), err: err}
		}()
	}
	return results, &answered
}

// waitFor polls cond every 10 ms until it holds or timeout passes, and reports whether it held.
func waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// bareHoldCost measures what n GETs held by a handler that only waits cost this process (the
// client's side included): the share of a held poll that is net/http's, not the Engine's.
func bareHoldCost(t *testing.T, n int) (heap, stack, goroutines float64) {
	t.Helper()
	release := make(chan struct{})
	var arrived atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
		io.WriteString(w, "6")
	}))
	defer srv.Close()
	client := heldPollClient(n)
	defer client.CloseIdleConnections()
	urls := make([]string, n)
	for i := range urls {
		urls[i] = srv.URL + "/?i=" + strconv.Itoa(i)
	}
	before := takeMemSnapshot()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	results, _ := holdGets(ctx, client, urls)
	if !waitFor(30*time.Second, func() bool { return arrived.Load() == int64(n) }) {
		t.Fatalf("bare handler: %d of %d GETs arrived", arrived.Load(), n)
	}
	after := takeMemSnapshot()
	close(release)
	for range n {
		if r := <-results; r.err != nil || r.status != http.StatusOK || r.body != "6" {
			t.Fatalf("bare handler answered %d %q, %v", r.status, r.body, r.err)
		}
	}
	return perItem(before, after, n)
}

// commandCounter counts the commands, pipelines and scripts a client sends.
type commandCounter struct{ n atomic.Int64 }

func (c *commandCounter) DialHook(next goredis.DialHook) goredis.DialHook { return next }
func (c *commandCounter) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error { c.n.Add(1); return next(ctx, cmd) }
}
func (c *commandCounter) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error { c.n.Add(1); return next(ctx, cmds) }
}

// heldPollConnBound bounds the store's pooled Redis connections (both of go-redis's pools)
// while thousands of polls are held and woken. The setup runs heldPollSetupWorkers requests at
// once, each using one connection at a time; held polls use none; the fetches that 5,000 woken
// polls make go through the store's batcher, a few pipelines at a time; 32 leaves room for
// go-redis dialing ahead. A design that kept a connection per held poll would need 5,000.
const (
	heldPollSetupWorkers = 8
	heldPollConnBound    = 32
)

// TestHeldPolls5000 holds 5,000 long-polls on one Engine at once and wakes them with one
// broadcast: none holds a Redis connection of its own (the pool stays small, and all wait on the
// store's one pub/sub connection), and each gets the message.
func TestHeldPolls5000(t *testing.T) {
	if testing.Short() {
		t.Skip("holds 5,000 polls")
	}
	mr := miniredis.RunT(t)
	testHeldPolls(t, &goredis.Options{Addr: mr.Addr()}, "sio", mr.CurrentConnectionCount)
}

// TestHeldPolls5000RealRedis is TestHeldPolls5000 on the Redis at SIO_TEST_REDIS_URL, whose own
// count of the test's connections (CLIENT LIST, by client name) is checked too.
func TestHeldPolls5000RealRedis(t *testing.T) {
	if testing.Short() {
		t.Skip("holds 5,000 polls")
	}
	opt := redisFromEnv(t)
	prefix := siotest.RandomPrefix("siotest-held")
	admin := goredis.NewClient(&goredis.Options{Addr: opt.Addr, Username: opt.Username, Password: opt.Password, DB: opt.DB, TLSConfig: opt.TLSConfig, ClientName: prefix + "-admin"})
	t.Cleanup(func() {
		if err := siotest.DeleteKeys(context.Background(), admin, prefix); err != nil {
			t.Errorf("deleting the test's keys: %v", err)
		}
		admin.Close()
	})
	// Redis's own count of the connections named after this test's prefix.
	opt.ClientName = prefix
	serverConns := func() int {
		list, err := admin.ClientList(context.Background()).Result()
		if err != nil {
			t.Fatalf("CLIENT LIST: %v", err)
		}
		return strings.Count(list, " name="+prefix+" ")
	}
	testHeldPolls(t, opt, prefix, serverConns)
}

// testHeldPolls holds 5,000 polls on an Engine whose store uses a client with opt and keys
// starting with prefix; serverConns returns the server's count of this process's connections.
func testHeldPolls(t *testing.T, opt *goredis.Options, prefix string, serverConns func() int) {
	const n = 5000
	if raceEnabled {
		t.Skip("5,000 held polls are some 25,000 goroutines; the race detector allows 8128")
	}
	// Each held poll is two sockets in this process: the client's and the server's.
	if limit := openFilesLimit(); limit > 0 && limit < 2*n+1000 {
		t.Skipf("open files limited to %d; %d held polls need about %d", limit, n, 2*n+1000)
	}

	// What net/http alone costs per held request, measured before anything else holds.
	bareHeap, bareStack, bareGoroutines := bareHoldCost(t, n)

	// The pool may grow far beyond what the design needs, so that a poll holding a connection
	// would show in the count instead of queueing for one of the default 10*GOMAXPROCS.
	opt.PoolSize = 1024
	rdb := goredis.NewClient(opt)
	var commands commandCounter
	rdb.AddHook(&commands)
	t.Cleanup(func() { rdb.Close() })
	// The heartbeat stays out of the way (no ping falls due during the test); the session TTL
	// exceeds pingInterval+pingTimeout as the store requires.
	eng, _ := newChatEngine(t, rdb, redis.Options{Prefix: prefix, SessionTTL: 15 * time.Minute},
		handler.Config{PollHold: handler.MaxPollHold, PingInterval: 10 * time.Minute, PingTimeout: time.Minute})
	start := time.Now()
	sids := openChatSessions(t, eng, n+1, heldPollSetupWorkers, true)
	sender, pollers := sids[n], sids[:n]
	setup := time.Since(start)
	setupConns := rdb.PoolStats().TotalConns

	srv := httptest.NewServer(eng)
	t.Cleanup(srv.Close)
	client := heldPollClient(n)
	t.Cleanup(client.CloseIdleConnections)
	urls := make([]string, n)
	for i, sid := range pollers {
		urls[i] = srv.URL + "/socket.io/?" + chatQuery + "&sid=" + sid
	}

	var peakConns atomic.Uint32
	sampleDone := make(chan struct{})
	stopSampling := sync.OnceFunc(func() { close(sampleDone) })
	t.Cleanup(stopSampling)
	// go-redis keeps pipelines in a pool of their own; both count.
	splitConns := func() (main, pipeline uint32) {
		st := rdb.PoolStats()
		if st.PipelineStats != nil {
			pipeline = st.PipelineStats.TotalConns
		}
		return st.TotalConns, pipeline
	}
	poolConns := func() uint32 { main, pipeline := splitConns(); return main + pipeline }
	go func() {
		for {
			if c := poolConns(); c > peakConns.Load() {
				peakConns.Store(c)
			}
			select {
			case <-sampleDone:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()

	before := takeMemSnapshot()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start = time.Now()
	results, answered := holdGets(ctx, client, urls)
	// A poll is waiting once its session's channel is subscribed (the store's watch confirms
	// its subscriptions before it returns); it then fetches once more, and the command count
	// settles when all of those are done.
	sessionChannels := func() int {
		chans, err := rdb.PubSubChannels(context.Background(), prefix+":w:s:*").Result()
		if err != nil {
			t.Fatalf("PUBSUB CHANNELS: %v", err)
		}
		return len(chans)
	}
	if !waitFor(handler.MaxPollHold/2, func() bool { return sessionChannels() == n || answered.Load() > 0 }) {
		t.Fatalf("after %s, %d of %d polls watch their session's channel", handler.MaxPollHold/2, sessionChannels(), n)
	}
	waitFor(5*time.Second, func() bool {
		c := commands.n.Load()
		time.Sleep(200 * time.Millisecond)
		return commands.n.Load() == c
	})
	holding := time.Since(start)
	held := takeMemSnapshot()
	if a := answered.Load(); a != 0 {
		t.Fatalf("%d of %d polls answered before the broadcast; all must be held", a, n)
	}
	heldConns, heldServerConns, ps := poolConns(), serverConns(), rdb.PoolStats().PubSubStats
	heldMain, heldPipeline := splitConns()

	startWake := time.Now()
	if status, body := serveInProcess(eng, http.MethodPost, chatQuery+"&sid="+sender, `42/chat,["chat_message",{"text":"wake"}]`); status != http.StatusOK || body != "ok" {
		t.Fatalf("broadcast POST: %d %q", status, body)
	}
	want := `42/chat,["chat_message",{"text":"wake"}]`
	var wrong []string
	for range n {
		r := <-results
		if r.err != nil || r.status != http.StatusOK || r.body != want {
			wrong = append(wrong, fmt.Sprintf("%d %q %v", r.status, r.body, r.err))
		}
	}
	woken := time.Since(startWake)
	stopSampling()
	afterConns, afterServerConns := poolConns(), serverConns()

	if len(wrong) > 0 {
		t.Errorf("%d of %d woken polls did not get the broadcast alone, e.g. %q", len(wrong), n, wrong[:min(3, len(wrong))])
	}
	if peak := peakConns.Load(); peak > heldPollConnBound {
		t.Errorf("the store's pools reached %d connections for %d polls; want at most %d", peak, n, heldPollConnBound)
	}
	// The server's view: the pooled connections and the pub/sub one.
	for _, c := range []struct {
		when   string
		server int
	}{{"while held", heldServerConns}, {"after the wake", afterServerConns}} {
		if c.server > heldPollConnBound+1 {
			t.Errorf("Redis counts %d connections from this process %s; want at most %d", c.server, c.when, heldPollConnBound+1)
		}
	}
	if ps.Active != 1 || ps.Created != 1 {
		t.Errorf("pub/sub connections while held: %d active, %d created; want the store's one", ps.Active, ps.Created)
	}

	heap, stack, goroutines := perItem(before, held, n)
	t.Logf("MEASURE held-poll bytes=%.0f goroutines=%.2f (heap %.0f B + stacks %.0f B per poll, this process's client side included; a bare net/http hold costs heap %.0f B + stacks %.0f B and %.2f goroutines, so the Engine's own share is heap %.0f B, stacks %.0f B, %.2f goroutines)",
		heap, goroutines, heap, stack, bareHeap, bareStack, bareGoroutines, heap-bareHeap, stack-bareStack, goroutines-bareGoroutines)
	t.Logf("setup of %d sessions %s; all %d held after %s; woken and answered in %s; pooled connections: %d after the setup, %d held (%d main, %d pipeline pool), %d peak, %d after; Redis counts %d held, %d after; pub/sub %d",
		n+1, setup.Round(time.Millisecond), n, holding.Round(time.Millisecond), woken.Round(time.Millisecond), setupConns, heldConns, heldMain, heldPipeline, peakConns.Load(), afterConns, heldServerConns, afterServerConns, ps.Active)
	// A loose sanity bound, not a measure: a held poll is a few buffers and goroutine stacks.
	if total := heap + stack; total > 200<<10 {
		t.Errorf("a held poll costs %.0f bytes of heap and stacks; want under 200 KB", total)
	}
}

// benchRedis runs bench on a fresh miniredis and, when SIO_TEST_REDIS_URL is set, on that Redis
// under a key prefix of its own, deleted at the end.
func benchRedis(b *testing.B, bench func(b *testing.B, rdb *goredis.Client, prefix string)) {
	b.Run("miniredis", func(b *testing.B) {
		mr := miniredis.RunT(b)
		rdb := goredis.NewClient(&goredis.Options{Addr: mr.Addr()})
		b.Cleanup(func() { rdb.Close() })
		bench(b, rdb, "sio")
	})
	b.Run("real", func(b *testing.B) {
		rdb := goredis.NewClient(redisFromEnv(b))
		prefix := siotest.RandomPrefix("siobench")
		b.Cleanup(func() {
			if err := siotest.DeleteKeys(context.Background(), rdb, prefix); err != nil {
				b.Errorf("deleting the benchmark's keys: %v", err)
			}
			rdb.Close()
		})
		bench(b, rdb, prefix)
	})
}

// benchChat returns an Engine serving the chat consumer and a session of it connected to /chat
// (in a lobby of 10) with nothing queued.
func benchChat(b *testing.B, rdb *goredis.Client, prefix string) (*handler.Engine, string) {
	b.Helper()
	// Ping due in an hour: a benchmark's GETs never carry one.
	eng, _ := newChatEngine(b, rdb, redis.Options{Prefix: prefix, SessionTTL: 3 * time.Hour},
		handler.Config{PingInterval: time.Hour, PingTimeout: time.Hour})
	var sid string
	for range 10 {
		s, err := openChatSession(eng, true)
		if err != nil {
			b.Fatal(err)
		}
		sid = s
	}
	return eng, sid
}

// BenchmarkHandlerPost measures a chat message with an ack, POSTed by a member of a lobby of 10:
// one Load, the consumer, one Commit (a broadcast and the ack).
func BenchmarkHandlerPost(b *testing.B) {
	benchRedis(b, func(b *testing.B, rdb *goredis.Client, prefix string) {
		eng, sid := benchChat(b, rdb, prefix)
		q := chatQuery + "&sid=" + sid
		b.ReportAllocs()
		for b.Loop() {
			if status, body := serveInProcess(eng, http.MethodPost, q, `42/chat,1["chat_message",{"text":"hi"}]`); status != http.StatusOK || body != "ok" {
				b.Fatalf("POST: %d %q", status, body)
			}
		}
	})
}

// BenchmarkHandlerGet measures a GET that finds one packet (a broadcast to the lobby, committed
// outside the timed part): one fetch.
func BenchmarkHandlerGet(b *testing.B) {
	benchRedis(b, func(b *testing.B, rdb *goredis.Client, prefix string) {
		eng, sid := benchChat(b, rdb, prefix)
		sender, err := openChatSession(eng, true)
		if err != nil {
			b.Fatal(err)
		}
		q, sq := chatQuery+"&sid="+sid, chatQuery+"&sid="+sender
		const msg = `42/chat,["chat_message",{"text":"hi"}]`
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			if status, body := serveInProcess(eng, http.MethodPost, sq, msg); status != http.StatusOK || body != "ok" {
				b.Fatalf("POST: %d %q", status, body)
			}
			b.StartTimer()
			if status, body := serveInProcess(eng, http.MethodGet, q, ""); status != http.StatusOK || body != msg {
				b.Fatalf("GET: %d %q, want %q", status, body, msg)
			}
		}
	})
}

// BenchmarkHandlerEcho measures a client's chat message end to end: its POST, then the GETs that
// bring back the broadcast and the ack. One GET usually brings both; a GET woken by the
// broadcast's event before the ack's arrived answers the broadcast alone, as the Node server's
// would (gets/op counts them).
func BenchmarkHandlerEcho(b *testing.B) {
	benchRedis(b, func(b *testing.B, rdb *goredis.Client, prefix string) {
		eng, sid := benchChat(b, rdb, prefix)
		q := chatQuery + "&sid=" + sid
		const want = "42/chat,[\"chat_message\",{\"text\":\"hi\"}]\x1e43/chat,1[{\"status\":\"ok\"}]"
		gets := 0
		b.ReportAllocs()
		for b.Loop() {
			if status, body := serveInProcess(eng, http.MethodPost, q, `42/chat,1["chat_message",{"text":"hi"}]`); status != http.StatusOK || body != "ok" {
				b.Fatalf("POST: %d %q", status, body)
			}
			got := ""
			for len(got) < len(want) {
				status, body := serveInProcess(eng, http.MethodGet, q, "")
				if status != http.StatusOK {
					b.Fatalf("GET: %d %q", status, body)
				}
				if got != "" {
					got += "\x1e"
				}
				got += body
				gets++
			}
			if got != want {
				b.Fatalf("GETs: %q, want %q", got, want)
			}
		}
		b.ReportMetric(float64(gets)/float64(b.N), "gets/op")
	})
}
