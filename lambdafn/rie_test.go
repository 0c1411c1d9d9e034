//go:build linux

package lambdafn_test

// These tests run the real bootstrap (cmd/lambda, built for Linux) under the AWS Lambda Runtime
// Interface Emulator, on the real Redis (here) and on DynamoDB Local (rie_dynamo_test.go), and
// feed it API Gateway and EventBridge events from testdata/. Loopback servers stand in for the
// two AWS APIs the function calls: the API Gateway Management API (frames to WebSocket
// connections) and the Lambda Invoke API (the asynchronous open event that $connect sends to
// the function itself). The Redis tests need
//
//	SIO_TEST_RIE        the aws-lambda-rie binary
//	SIO_TEST_BOOTSTRAP  CGO_ENABLED=0 GOOS=linux go build -tags lambda.norpc -o bootstrap ./cmd/lambda
//	SIO_TEST_REDIS_URL  a real Redis; the function gets database rieRedisDB of that server
//
// and skip without them. .ci/run sets all three. The scenarios (rieScenario*) take the function
// that starts the RIE on a store: startRIE here, startRIEDynamoDB in rie_dynamo_test.go.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	goredis "github.com/redis/go-redis/v9"

	"github.com/serverless-socketio/server/lambdafn"
)

const (
	envTestRIE       = "SIO_TEST_RIE"
	envTestBootstrap = "SIO_TEST_BOOTSTRAP"
	envTestRedisURL  = "SIO_TEST_REDIS_URL"

	// rieRedisDB is the Redis database the function uses: the store's key prefix is fixed
	// ("sio"), so a database of its own keeps these sessions apart from the other real-Redis
	// tests (database 0) and the end-to-end tests (database 1). It belongs to these tests: each
	// one empties it first, so that no session of an earlier test is in the lobby or due for
	// the sweeper.
	rieRedisDB = 2

	rieFunctionName = "sio"
	rieRegion       = "us-east-1"
	rieAccessKey    = "AKIDRIETESTEXAMPLE"
	rieSecretKey    = "rie-test-secret-access-key"
	rieSessionToken = "rie-test-session-token"
	rieStage        = "prod"
	riePageOrigin   = "https://chat.example.com" // the page of ws_connect.json, listed in SIO_CORS_ORIGINS
	// rieTimeout is the function timeout (AWS_LAMBDA_FUNCTION_TIMEOUT, seconds): the RIE sets each
	// invocation's deadline from it. Short, so that the sweeper, which makes passes until 5 s
	// before its deadline, answers within about a second.
	rieTimeout = 6

	// The heartbeat settings of the function, as announced in open packets (milliseconds).
	riePingInterval   = 25 * time.Second
	riePingTimeout    = 20 * time.Second
	rieWSPingInterval = 45 * time.Second
)

// The chat consumer's packets on /chat (consumers/chat).
const welcome = `42/chat,["system_message",{"text":"Welcome!"}]`

func chatMessage(ack int, text string) string {
	return "42/chat," + strconv.Itoa(ack) + `["chat_message",` + mustJSON(map[string]string{"text": text}) + "]"
}

func broadcast(text string) string {
	return `42/chat,["chat_message",` + mustJSON(map[string]string{"text": text}) + "]"
}

func ackOK(ack int) string { return "43/chat," + strconv.Itoa(ack) + `[{"status":"ok"}]` }

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func TestRIEPollingChatRealRedis(t *testing.T) { rieScenarioPollingChat(t, startRIE) }

func TestRIEWebSocketRealRedis(t *testing.T) { rieScenarioWebSocket(t, startRIE) }

func TestRIEGoneExceptionRealRedis(t *testing.T) { rieScenarioGoneException(t, startRIE) }

func TestRIESweeperRealRedis(t *testing.T) { rieScenarioSweeper(t, startRIE) }

// rieStart starts aws-lambda-rie with the function on one store; overrides replace entries of
// the function's environment.
type rieStart func(t *testing.T, overrides map[string]string) *lambdaRIE

// rieScenarioPollingChat is the tutorial's chat over long-polling, through HTTP API
// payload 2.0 events: two sessions connect to /chat, one's chat_message reaches both and is
// acknowledged to its sender; a held GET answers before the invocation deadline; bad requests
// get Engine.IO errors.
func rieScenarioPollingChat(t *testing.T, start rieStart) {
	r := start(t, nil)

	alice, open := r.pollHandshake(t)
	r.checkOpen(t, "alice's handshake", open, riePingInterval, riePingTimeout)
	alice.post(t, "40/chat,")
	aliceSocket := checkChatConnect(t, "alice", alice.get(t), alice.sid)

	bob, open := r.pollHandshake(t)
	r.checkOpen(t, "bob's handshake", open, riePingInterval, riePingTimeout)
	if bob.sid == alice.sid {
		t.Fatalf("two handshakes gave the same sid %q", bob.sid)
	}
	bob.post(t, "40/chat,")
	bobSocket := checkChatConnect(t, "bob", bob.get(t), bob.sid)
	if aliceSocket == bobSocket {
		t.Errorf("alice and bob have the same socket id %q", aliceSocket)
	}

	alice.post(t, chatMessage(1, "hi"))
	r.logLast(t, "warm invocation: POST of a chat_message (load, consumer, one commit with the broadcast)")
	expectPackets(t, "alice's GET after her chat_message", alice.get(t), broadcast("hi"), ackOK(1))
	expectPackets(t, "bob's GET", bob.get(t), broadcast("hi"))

	t.Run("held GET answers before the deadline", func(t *testing.T) {
		// SIO_POLL_HOLD (28s) is longer than the function timeout: the hold must end, with a
		// noop, before the RIE's deadline ends the invocation ("Task timed out").
		expectPackets(t, "bob's GET with nothing queued", bob.get(t), "6")
	})

	t.Run("bad requests", func(t *testing.T) {
		const unknownSID = "AAAAAAAAAAAAAAAAAAAAAA"
		cases := []struct {
			name, fixture string
			vars          map[string]string
			want          string
		}{
			{"GET unknown sid", "http_get.json", map[string]string{"SID": unknownSID}, `{"code":1,"message":"Session ID unknown"}`},
			{"POST unknown sid", "http_post.json", map[string]string{"SID": unknownSID, "BODY": "40/chat,", "LENGTH": "8"}, `{"code":1,"message":"Session ID unknown"}`},
			{"handshake EIO=3", "http_handshake.json", map[string]string{"EIO": "3"}, `{"code":5,"message":"Unsupported protocol version"}`},
		}
		for _, c := range cases {
			resp := r.httpEvent(t, c.fixture, c.vars)
			if resp.StatusCode != http.StatusBadRequest || resp.Body != c.want {
				t.Errorf("%s: answered %d %q, want 400 %q", c.name, resp.StatusCode, resp.Body, c.want)
			}
			if ct := resp.Headers["Content-Type"]; ct != "application/json" {
				t.Errorf("%s: Content-Type %q, want application/json", c.name, ct)
			}
		}
	})

	// Warm invocations: the round trip through the RIE of a GET for an unknown sid (one store
	// read). Reported, not asserted (STYLE.md: timings are not pass/fail).
	var took []time.Duration
	for range 9 {
		r.httpEvent(t, "http_get.json", map[string]string{"SID": "AAAAAAAAAAAAAAAAAAAAAA"})
		took = append(took, r.lastTook)
	}
	slices.Sort(took)
	t.Logf("MEASURE [%s] warm invocation (GET, unknown sid, through the RIE): median %v, min %v, max %v over %d", r.store,
		took[len(took)/2].Round(10*time.Microsecond), took[0].Round(10*time.Microsecond), took[len(took)-1].Round(10*time.Microsecond), len(took))
}

// rieScenarioWebSocket runs the API Gateway WebSocket routes: $connect queues the open
// event (an asynchronous Invoke of the function itself), which delivers the open packet; two
// connections and a polling session chat in the lobby; $disconnect removes a connection from
// it; a $connect with a bad query is refused.
func rieScenarioWebSocket(t *testing.T, start rieStart) {
	r := start(t, nil)

	// A's open event arrives before API Gateway has established the connection (its first
	// PostToConnection answers 410): the function retries until it is.
	a, open := r.connectWS(t, true)
	r.checkOpen(t, "A's open packet", open, rieWSPingInterval, riePingTimeout)
	a.send(t, "40/chat,")
	aSocket := checkChatConnect(t, "A", a.frames(t), a.sid)

	b, open := r.connectWS(t, false)
	r.checkOpen(t, "B's open packet", open, rieWSPingInterval, riePingTimeout)
	if b.sid == a.sid {
		t.Fatalf("A and B have the same sid %q", a.sid)
	}
	b.send(t, "40/chat,")
	bSocket := checkChatConnect(t, "B", b.frames(t), b.sid)
	if aSocket == bSocket {
		t.Errorf("A and B have the same socket id %q", aSocket)
	}

	p, open := r.pollHandshake(t)
	r.checkOpen(t, "the polling handshake", open, riePingInterval, riePingTimeout)
	p.post(t, "40/chat,")
	checkChatConnect(t, "the polling session", p.get(t), p.sid)

	a.send(t, chatMessage(1, "hi from A"))
	r.logLast(t, "warm invocation: $default chat_message (one commit, then PostToConnection: broadcast and ack to A, broadcast to B)")
	expectPackets(t, "A after its chat_message", a.frames(t), broadcast("hi from A"), ackOK(1))
	expectPackets(t, "B", b.frames(t), broadcast("hi from A"))
	expectPackets(t, "the polling session's GET", p.get(t), broadcast("hi from A"))

	// B leaves: API Gateway closes the connection, then runs $disconnect.
	r.mgmt.forget(b.id)
	if resp := b.disconnect(t); resp.StatusCode != http.StatusOK {
		t.Errorf("$disconnect of B answered %d, want 200", resp.StatusCode)
	}
	mark := r.mgmt.mark()
	a.send(t, chatMessage(2, "B left"))
	expectPackets(t, "A after B left", a.frames(t), broadcast("B left"), ackOK(2))
	expectPackets(t, "the polling session after B left", p.get(t), broadcast("B left"))
	if calls := r.mgmt.callsSince(mark, b.id); len(calls) > 0 {
		t.Errorf("after B's $disconnect, a broadcast still went to B: %v", calls)
	}

	t.Run("$connect refused", func(t *testing.T) {
		c := newConnID()
		resp := r.wsEvent(t, "ws_connect.json", map[string]string{"CONN": c, "EIO": "3", "ORIGIN": riePageOrigin})
		const want = `{"code":5,"message":"Unsupported protocol version"}`
		if resp.StatusCode != http.StatusBadRequest || resp.Body != want {
			t.Errorf("$connect with EIO=3 answered %d %q, want 400 %q", resp.StatusCode, resp.Body, want)
		}
		if got := r.lambda.take(); len(got) > 0 {
			t.Errorf("a refused $connect queued open events: %q", got)
		}
		if calls := r.mgmt.callsSince(0, c); len(calls) > 0 {
			t.Errorf("a refused connection got Management API calls: %v", calls)
		}
	})
	t.Run("$connect from a page of another site", func(t *testing.T) {
		c := newConnID()
		resp := r.wsEvent(t, "ws_connect.json", map[string]string{"CONN": c, "EIO": "4", "ORIGIN": "https://evil.example"})
		const want = `{"code":4,"message":"Forbidden"}`
		if resp.StatusCode != http.StatusForbidden || resp.Body != want {
			t.Errorf("$connect from https://evil.example answered %d %q, want 403 %q", resp.StatusCode, resp.Body, want)
		}
		if got := r.lambda.take(); len(got) > 0 {
			t.Errorf("a refused $connect queued open events: %q", got)
		}
	})
}

// rieScenarioGoneException: a connection that vanished without $disconnect (the
// Management API answers 410 GoneException for it) is cleaned up by the first broadcast that
// reaches it; it is no longer in the lobby, and a late frame on it closes the connection.
func rieScenarioGoneException(t *testing.T, start rieStart) {
	r := start(t, nil)
	a, _ := r.connectWS(t, false)
	a.send(t, "40/chat,")
	checkChatConnect(t, "A", a.frames(t), a.sid)
	b, _ := r.connectWS(t, false)
	b.send(t, "40/chat,")
	checkChatConnect(t, "B", b.frames(t), b.sid)

	r.mgmt.forget(a.id)
	mark := r.mgmt.mark()
	b.send(t, chatMessage(1, "anyone?"))
	expectPackets(t, "B after its chat_message", b.frames(t), broadcast("anyone?"), ackOK(1))
	want := []mgmtCall{
		{Method: http.MethodPost, Conn: a.id, Status: http.StatusGone, Data: broadcast("anyone?")},
		{Method: http.MethodDelete, Conn: a.id, Status: http.StatusGone},
	}
	if got := r.mgmt.callsSince(mark, a.id); !slices.Equal(got, want) {
		t.Errorf("Management API calls for the vanished A:\n got %v\nwant %v (the broadcast, answered 410, then the session's close)", got, want)
	}

	mark = r.mgmt.mark()
	b.send(t, chatMessage(2, "still anyone?"))
	expectPackets(t, "B's second chat_message", b.frames(t), broadcast("still anyone?"), ackOK(2))
	if calls := r.mgmt.callsSince(mark, a.id); len(calls) > 0 {
		t.Errorf("A's session should be gone (out of the lobby), but a broadcast went to A: %v", calls)
	}

	mark = r.mgmt.mark()
	a.send(t, chatMessage(3, "I am back"))
	want = []mgmtCall{{Method: http.MethodDelete, Conn: a.id, Status: http.StatusGone}}
	if got := r.mgmt.callsSince(mark, a.id); !slices.Equal(got, want) {
		t.Errorf("a frame on A after its session was cleaned up: Management API calls %v, want %v (the connection closed)", got, want)
	}
	expectPackets(t, "B after A's late frame", b.frames(t))
}

// rieScenarioSweeper runs the sweeper's schedule events: one invocation makes several
// passes until its deadline is near; WebSocket sessions whose ping is due get "2"; a session
// that never answers is closed at its heartbeat deadline and leaves the lobby, one that
// answers stays.
func rieScenarioSweeper(t *testing.T, start rieStart) {
	const (
		wsPing      = time.Second
		pingTimeout = 2 * time.Second
	)
	r := start(t, map[string]string{
		lambdafn.EnvWSPingInterval: wsPing.String(),
		lambdafn.EnvPingTimeout:    pingTimeout.String(),
		lambdafn.EnvSweepPassEvery: "500ms",
	})
	p, open := r.connectWS(t, false)
	r.checkOpen(t, "P's open packet", open, wsPing, pingTimeout)
	p.send(t, "40/chat,")
	checkChatConnect(t, "P", p.frames(t), p.sid)
	q, _ := r.connectWS(t, false)
	q.send(t, "40/chat,")
	checkChatConnect(t, "Q", q.frames(t), q.sid)
	// Both sessions' last pong is their creation, before this moment.
	created := time.Now()

	// A ping is due wsPing after the last pong. The sleeps below make things due; the
	// assertions are about what the sweeper sent, not about when.
	sleepUntil(created.Add(wsPing + 200*time.Millisecond))
	res := r.sweep(t, "schedule_eventbridge.json")
	t.Logf("first sweep (EventBridge scheduled event): %+v in %v", res, r.lastTook.Round(time.Millisecond))
	if res.Passes < 2 {
		t.Errorf("a sweeper invocation made %d passes; with SIO_SWEEP_PASS=500ms and a %ds timeout it should make several", res.Passes, rieTimeout)
	}
	if res.Closed != 0 {
		t.Errorf("the first sweep closed %d sessions; none is past its heartbeat deadline yet", res.Closed)
	}
	expectPackets(t, "P after the first sweep", p.frames(t), "2")
	expectPackets(t, "Q after the first sweep", q.frames(t), "2")

	p.send(t, "3") // P answers its ping; Q stays silent.
	expectPackets(t, "P after its pong", p.frames(t))

	sleepUntil(created.Add(wsPing + pingTimeout + 300*time.Millisecond))
	mark := r.mgmt.mark()
	res = r.sweep(t, "schedule_input.json")
	t.Logf(`second sweep ({"sio":"sweep"}): %+v in %v`, res, r.lastTook.Round(time.Millisecond))
	if res.Closed != 1 {
		t.Errorf("the second sweep closed %d sessions; want 1: Q, past its heartbeat deadline", res.Closed)
	}
	want := []mgmtCall{{Method: http.MethodDelete, Conn: q.id, Status: http.StatusNoContent}}
	if got := r.mgmt.callsSince(mark, q.id); !slices.Equal(got, want) {
		t.Errorf("Q (no pong) after the second sweep: Management API calls %v, want %v", got, want)
	}
	for _, c := range r.mgmt.callsSince(mark, p.id) {
		if c.Method == http.MethodDelete {
			t.Errorf("P answered its ping, yet the sweeper closed it: %v", c)
		}
	}
	// API Gateway runs $disconnect for the connection the function closed.
	if resp := q.disconnect(t); resp.StatusCode != http.StatusOK {
		t.Errorf("$disconnect of Q answered %d, want 200", resp.StatusCode)
	}

	mark = r.mgmt.mark()
	p.send(t, chatMessage(1, "alone?"))
	expectPackets(t, "P's chat_message after Q's ping timeout", withoutPings(p.frames(t)), broadcast("alone?"), ackOK(1))
	if calls := r.mgmt.callsSince(mark, q.id); len(calls) > 0 {
		t.Errorf("Q was closed by the sweeper but is still in the lobby: %v", calls)
	}
}

// ---------------------------------------------------------------- the RIE and its function

// lambdaRIE is one aws-lambda-rie process running the bootstrap, with the loopback stand-ins
// for the AWS APIs the function calls.
type lambdaRIE struct {
	store      string // SIO_STORE, named in the MEASURE lines
	maxPayload int64  // what the open packets announce on that store
	invokeURL  string
	client     *http.Client
	mgmt       *managementAPI
	lambda     *lambdaAPI
	logs       *syncBuffer
	started    time.Time
	listening  time.Duration
	invoked    int
	lastTook   time.Duration
}

// rieInputs reads the Redis tests' environment; it skips the test when any variable is missing.
// It empties database rieRedisDB and returns its URL.
func rieInputs(t *testing.T) (rie, bootstrap, redisURL string) {
	t.Helper()
	rie, bootstrap, redisURL = rieEnv(t, "a real Redis", envTestRedisURL, "redis://host:port")
	u, err := url.Parse(redisURL)
	if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") {
		t.Fatalf("%s=%q: want redis://host:port[/db]", envTestRedisURL, redisURL)
	}
	u.Path = "/" + strconv.Itoa(rieRedisDB)
	redisURL = u.String()
	opt, err := goredis.ParseURL(redisURL)
	if err != nil {
		t.Fatalf("%s: %v", redisURL, err)
	}
	rdb := goredis.NewClient(opt)
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("Redis at %s does not answer: %v", opt.Addr, err)
	}
	if err := rdb.FlushDB(ctx).Err(); err != nil {
		t.Fatalf("emptying %s: %v", redisURL, err)
	}
	return rie, bootstrap, redisURL
}

// rieEnv reads SIO_TEST_RIE, SIO_TEST_BOOTSTRAP and the store's variable storeVar (what: the
// store, hint: the form of its value); it skips the test when any of them is missing.
func rieEnv(t *testing.T, what, storeVar, hint string) (rie, bootstrap, storeURL string) {
	t.Helper()
	rie, bootstrap, storeURL = os.Getenv(envTestRIE), os.Getenv(envTestBootstrap), os.Getenv(storeVar)
	var missing []string
	for _, v := range [][2]string{{envTestRIE, rie}, {envTestBootstrap, bootstrap}, {storeVar, storeURL}} {
		if v[1] == "" {
			missing = append(missing, v[0])
		}
	}
	if len(missing) > 0 {
		t.Skipf("%s not set: this test runs cmd/lambda's bootstrap under aws-lambda-rie on %s "+
			"(%s=path to aws-lambda-rie, %s=path to the linux bootstrap, %s=%s; see .ci/run)",
			strings.Join(missing, ", "), what, envTestRIE, envTestBootstrap, storeVar, hint)
	}
	for _, p := range []string{rie, bootstrap} {
		st, err := os.Stat(p)
		if err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
			t.Fatalf("%s is not an executable file (err %v)", p, err)
		}
	}
	return rie, bootstrap, storeURL
}

// startRIE starts aws-lambda-rie with the function on the real Redis (database rieRedisDB,
// emptied first); overrides replace entries of the function's environment.
func startRIE(t *testing.T, overrides map[string]string) *lambdaRIE {
	t.Helper()
	rieBin, bootstrap, redisURL := rieInputs(t)
	store := map[string]string{lambdafn.EnvStore: "redis", lambdafn.EnvRedisURL: redisURL}
	return startFunction(t, rieBin, bootstrap, store, 1_000_000, overrides)
}

// startFunction starts aws-lambda-rie with the bootstrap and the function's environment: the
// defaults, the store's variables (store), then overrides, each replacing the entries before
// it. It waits until the RIE accepts invocations; the RIE initializes the function lazily, at
// the first invocation. maxPayload is what the function announces on that store.
func startFunction(t *testing.T, rieBin, bootstrap string, store map[string]string, maxPayload int64, overrides map[string]string) *lambdaRIE {
	t.Helper()
	if st, err := os.Stat(bootstrap); err == nil {
		t.Logf("MEASURE [%s] bootstrap size: %d bytes (%.1f MiB), %s", store[lambdafn.EnvStore], st.Size(), float64(st.Size())/(1<<20), bootstrap)
	}

	r := &lambdaRIE{
		store:      store[lambdafn.EnvStore],
		maxPayload: maxPayload,
		mgmt:       &managementAPI{live: map[string]bool{}, goneOnce: map[string]bool{}, frames: map[string][]string{}},
		lambda:     &lambdaAPI{},
		logs:       &syncBuffer{},
		client:     &http.Client{Timeout: (rieTimeout + 10) * time.Second},
	}
	mgmtSrv := httptest.NewServer(r.mgmt)
	t.Cleanup(mgmtSrv.Close)
	lambdaSrv := httptest.NewServer(r.lambda)
	t.Cleanup(lambdaSrv.Close)

	env := map[string]string{
		"PATH":                            "/usr/local/bin:/usr/bin:/bin",
		"HOME":                            t.TempDir(),
		lambdafn.EnvAPIGWEndpoint:         mgmtSrv.URL + "/" + rieStage,
		lambdafn.EnvLambdaEndpoint:        lambdaSrv.URL,
		lambdafn.EnvPingInterval:          riePingInterval.String(),
		lambdafn.EnvPingTimeout:           riePingTimeout.String(),
		lambdafn.EnvWSPingInterval:        rieWSPingInterval.String(),
		lambdafn.EnvPollHold:              "28s",
		lambdafn.EnvCORSOrigins:           riePageOrigin,
		"AWS_LAMBDA_FUNCTION_NAME":        rieFunctionName,
		"AWS_LAMBDA_FUNCTION_TIMEOUT":     strconv.Itoa(rieTimeout),
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
		"AWS_REGION":                      rieRegion,
		"AWS_ACCESS_KEY_ID":               rieAccessKey,
		"AWS_SECRET_ACCESS_KEY":           rieSecretKey,
		"AWS_SESSION_TOKEN":               rieSessionToken,
	}
	maps.Copy(env, store)
	maps.Copy(env, overrides)
	var envList []string
	for _, k := range slices.Sorted(maps.Keys(env)) {
		envList = append(envList, k+"="+env[k])
	}

	rieAddr, apiAddr := twoLoopbackAddrs(t)
	r.invokeURL = "http://" + rieAddr + "/2015-03-31/functions/function/invocations"
	cmd := exec.Command(rieBin, "--runtime-interface-emulator-address", rieAddr, "--runtime-api-address", apiAddr, bootstrap)
	cmd.Dir = t.TempDir()
	cmd.Env = envList // only this: the RIE passes its whole environment on to the function
	cmd.Stdout, cmd.Stderr = r.logs, r.logs
	// Its own process group, so that the cleanup ends the RIE and the bootstrap it started.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	r.started = time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", rieBin, err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
		if t.Failed() {
			t.Logf("aws-lambda-rie and function output (last 16 KiB):\n%s", r.logs.tail(16<<10))
		}
	})

	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", rieAddr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			break
		}
		select {
		case <-exited:
			t.Fatalf("aws-lambda-rie exited before accepting invocations: %v\n%s", waitErr, r.logs.tail(8<<10))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("aws-lambda-rie does not accept connections on %s after 10 s\n%s", rieAddr, r.logs.tail(8<<10))
		}
		time.Sleep(10 * time.Millisecond)
	}
	r.listening = time.Since(r.started)
	return r
}

// twoLoopbackAddrs returns two distinct free loopback addresses.
func twoLoopbackAddrs(t *testing.T) (string, string) {
	t.Helper()
	var addrs []string
	for range 2 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("free port: %v", err)
		}
		defer l.Close()
		addrs = append(addrs, l.Addr().String())
	}
	return addrs[0], addrs[1]
}

var initReportRe = regexp.MustCompile(`INIT REPORT\(durationMs: ([0-9.]+)\)`)

// invoke sends one event to the function and returns its response; a function error, a
// timeout, or a problem one of the AWS stand-ins saw fails the test. The RIE serves one
// invocation at a time, and so does the test.
func (r *lambdaRIE) invoke(t *testing.T, event []byte) []byte {
	t.Helper()
	start := time.Now()
	resp, err := r.client.Post(r.invokeURL, "application/json", bytes.NewReader(event))
	if err != nil {
		t.Fatalf("invoke: %v\nevent: %s", err, event)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	r.lastTook = time.Since(start)
	if err != nil {
		t.Fatalf("invoke: reading the answer: %v", err)
	}
	if r.invoked == 0 {
		initPhase := "?"
		if m := initReportRe.FindStringSubmatch(r.logs.String()); m != nil {
			initPhase = m[1] + " ms"
		}
		t.Logf("MEASURE [%s] cold init: %v from starting aws-lambda-rie to the first invocation's answer "+
			"(RIE listening after %v; function init phase as the RIE reports it: %s; first invocation round trip %v)",
			r.store, time.Since(r.started).Round(time.Millisecond), r.listening.Round(time.Millisecond), initPhase, r.lastTook.Round(time.Millisecond))
	}
	r.invoked++
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("the RIE answered %s: %s\nevent: %s", resp.Status, body, event)
	}
	if !json.Valid(body) {
		t.Fatalf("the RIE answered %q (not JSON; a timeout?)\nevent: %s", body, event)
	}
	var fnErr struct {
		ErrorMessage string `json:"errorMessage"`
		ErrorType    string `json:"errorType"`
	}
	if json.Unmarshal(body, &fnErr) == nil && fnErr.ErrorType != "" {
		t.Fatalf("the function failed: %s (%s)\nevent: %s", fnErr.ErrorMessage, fnErr.ErrorType, event)
	}
	for _, p := range append(r.mgmt.takeProblems(), r.lambda.takeProblems()...) {
		t.Errorf("AWS API stand-in: %s", p)
	}
	if t.Failed() {
		t.FailNow()
	}
	return body
}

// logLast reports the round trip of the last invocation (not asserted).
func (r *lambdaRIE) logLast(t *testing.T, what string) {
	t.Helper()
	t.Logf("MEASURE [%s] %s: %v", r.store, what, r.lastTook.Round(10*time.Microsecond))
}

// event reads testdata/name and fills its ${NAME} placeholders (all inside JSON strings) with
// vars, JSON-escaped.
func event(t *testing.T, name string, vars map[string]string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	s := string(raw)
	for k, v := range vars {
		q, _ := json.Marshal(v)
		s = strings.ReplaceAll(s, "${"+k+"}", string(q[1:len(q)-1]))
	}
	if i := strings.Index(s, "${"); i >= 0 {
		t.Fatalf("%s: placeholder %.20q… left unfilled", name, s[i:])
	}
	if !json.Valid([]byte(s)) {
		t.Fatalf("%s: not valid JSON after filling %v", name, vars)
	}
	return []byte(s)
}

// httpEvent invokes an HTTP API payload 2.0 event and decodes the answer.
func (r *lambdaRIE) httpEvent(t *testing.T, fixture string, vars map[string]string) events.APIGatewayV2HTTPResponse {
	t.Helper()
	body := r.invoke(t, event(t, fixture, vars))
	var resp events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(body, &resp); err != nil || resp.StatusCode == 0 {
		t.Fatalf("%s: answer %s is not an HTTP API response (%v)", fixture, body, err)
	}
	if resp.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(resp.Body)
		if err != nil {
			t.Fatalf("%s: base64 body: %v", fixture, err)
		}
		resp.Body = string(b)
	}
	return resp
}

// wsEvent invokes a WebSocket route event and decodes the answer.
func (r *lambdaRIE) wsEvent(t *testing.T, fixture string, vars map[string]string) events.APIGatewayProxyResponse {
	t.Helper()
	body := r.invoke(t, event(t, fixture, vars))
	var resp events.APIGatewayProxyResponse
	if err := json.Unmarshal(body, &resp); err != nil || resp.StatusCode == 0 {
		t.Fatalf("%s: answer %s is not a route response (%v)", fixture, body, err)
	}
	return resp
}

// sweep invokes a schedule event.
func (r *lambdaRIE) sweep(t *testing.T, fixture string) lambdafn.SweepResult {
	t.Helper()
	body := r.invoke(t, event(t, fixture, nil))
	var res lambdafn.SweepResult
	if err := json.Unmarshal(body, &res); err != nil || res.Passes == 0 {
		t.Fatalf("%s: answer %s is not a sweep result (%v)", fixture, body, err)
	}
	return res
}

// ---------------------------------------------------------------- long-polling

type pollingSession struct {
	r   *lambdaRIE
	sid string
}

func (r *lambdaRIE) pollHandshake(t *testing.T) (*pollingSession, openPacket) {
	t.Helper()
	resp := r.httpEvent(t, "http_handshake.json", map[string]string{"EIO": "4"})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("handshake answered %d %q", resp.StatusCode, resp.Body)
	}
	if ct := resp.Headers["Content-Type"]; !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("handshake Content-Type %q, want text/plain", ct)
	}
	open := parseOpen(t, resp.Body)
	return &pollingSession{r: r, sid: open.SID}, open
}

// get polls and returns the packets of the answer.
func (p *pollingSession) get(t *testing.T) []string {
	t.Helper()
	resp := p.r.httpEvent(t, "http_get.json", map[string]string{"SID": p.sid})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET for %s answered %d %q", p.sid, resp.StatusCode, resp.Body)
	}
	return strings.Split(resp.Body, "\x1e")
}

func (p *pollingSession) post(t *testing.T, payload string) {
	t.Helper()
	resp := p.r.httpEvent(t, "http_post.json", map[string]string{"SID": p.sid, "BODY": payload, "LENGTH": strconv.Itoa(len(payload))})
	if resp.StatusCode != http.StatusOK || resp.Body != "ok" {
		t.Fatalf("POST %q answered %d %q, want 200 \"ok\"", payload, resp.StatusCode, resp.Body)
	}
}

// ---------------------------------------------------------------- WebSocket routes

type wsConn struct {
	r   *lambdaRIE
	id  string
	sid string
}

// newConnID returns an API Gateway-like connection id ("L0SM9cOFvHcCIhw=": base64 of 11
// bytes). '+' and '/' become letters so that every run escapes the ids alike.
func newConnID() string {
	b := make([]byte, 11)
	_, _ = rand.Read(b)
	return strings.NewReplacer("+", "P", "/", "S").Replace(base64.StdEncoding.EncodeToString(b))
}

// connectWS runs $connect for a new connection, checks the open event it queued, lets the
// gateway establish the connection and delivers the open event, as Lambda would; it returns
// the open packet the connection received. With late, the connection is established only
// after the function's first PostToConnection was answered 410.
func (r *lambdaRIE) connectWS(t *testing.T, late bool) (*wsConn, openPacket) {
	t.Helper()
	c := &wsConn{r: r, id: newConnID()}
	resp := r.wsEvent(t, "ws_connect.json", map[string]string{"CONN": c.id, "EIO": "4", "ORIGIN": riePageOrigin})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("$connect %s answered %d %q, want 200", c.id, resp.StatusCode, resp.Body)
	}
	invokes := r.lambda.take()
	if len(invokes) != 1 {
		t.Fatalf("$connect %s queued %d asynchronous invocations %q, want 1 open event", c.id, len(invokes), invokes)
	}
	var got map[string]any
	if err := json.Unmarshal(invokes[0], &got); err != nil {
		t.Fatalf("open event %q: %v", invokes[0], err)
	}
	if want := map[string]any{"sio": "open", "connectionId": c.id}; !maps.Equal(got, want) {
		t.Fatalf("$connect queued %s, want %s", invokes[0], mustJSON(want))
	}
	if calls := r.mgmt.callsSince(0, c.id); len(calls) > 0 {
		t.Fatalf("the function called the Management API during $connect (API Gateway cannot send then): %v", calls)
	}
	if late {
		r.mgmt.establishAfterGone(c.id)
	} else {
		r.mgmt.establish(c.id)
	}
	if out := r.invoke(t, invokes[0]); string(out) != "null" {
		t.Errorf("the open event answered %s, want null", out)
	}
	if late {
		want := []mgmtCall{{Method: http.MethodPost, Conn: c.id, Status: http.StatusGone}, {Method: http.MethodPost, Conn: c.id, Status: http.StatusOK}}
		got := r.mgmt.callsSince(0, c.id)
		for i := range got {
			got[i].Data = ""
		}
		if !slices.Equal(got, want) {
			t.Errorf("open event of a connection established late: calls %v, want %v (retry after 410)", got, want)
		}
	}
	frames := c.frames(t)
	if len(frames) != 1 {
		t.Fatalf("after the open event, %s received %q, want the open packet", c.id, frames)
	}
	open := parseOpen(t, frames[0])
	c.sid = open.SID
	return c, open
}

// send delivers one frame from the client ($default).
func (c *wsConn) send(t *testing.T, frame string) {
	t.Helper()
	resp := c.r.wsEvent(t, "ws_default.json", map[string]string{"CONN": c.id, "BODY": frame})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("$default %q on %s answered %d %q, want 200", frame, c.id, resp.StatusCode, resp.Body)
	}
}

func (c *wsConn) disconnect(t *testing.T) events.APIGatewayProxyResponse {
	t.Helper()
	return c.r.wsEvent(t, "ws_disconnect.json", map[string]string{"CONN": c.id})
}

// frames returns the frames posted to the connection since the last call.
func (c *wsConn) frames(t *testing.T) []string {
	t.Helper()
	return c.r.mgmt.takeFrames(c.id)
}

// ---------------------------------------------------------------- packets

// openPacket is the Engine.IO v4 open packet's JSON (§"Handshake").
type openPacket struct {
	SID          string   `json:"sid"`
	Upgrades     []string `json:"upgrades"`
	PingInterval int64    `json:"pingInterval"`
	PingTimeout  int64    `json:"pingTimeout"`
	MaxPayload   int64    `json:"maxPayload"`
}

func parseOpen(t *testing.T, packet string) openPacket {
	t.Helper()
	data, ok := strings.CutPrefix(packet, "0")
	var fields map[string]json.RawMessage
	var o openPacket
	if !ok || json.Unmarshal([]byte(data), &fields) != nil || json.Unmarshal([]byte(data), &o) != nil {
		t.Fatalf("%q is not an open packet", packet)
	}
	if o.SID == "" {
		t.Fatalf("open packet %q without sid", packet)
	}
	// API Gateway cannot share a domain between the HTTP and the WebSocket API: no upgrades,
	// announced as an empty list (not null, not missing).
	if string(fields["upgrades"]) != "[]" {
		t.Errorf(`open packet %q: "upgrades" is %s, want []`, packet, fields["upgrades"])
	}
	return o
}

// checkOpen checks an open packet's heartbeat settings, and its maxPayload: the store's
// (r.maxPayload).
func (r *lambdaRIE) checkOpen(t *testing.T, what string, o openPacket, pingInterval, pingTimeout time.Duration) {
	t.Helper()
	if o.PingInterval != pingInterval.Milliseconds() || o.PingTimeout != pingTimeout.Milliseconds() || o.MaxPayload != r.maxPayload {
		t.Errorf("%s: pingInterval %d, pingTimeout %d, maxPayload %d; want %d, %d, %d",
			what, o.PingInterval, o.PingTimeout, o.MaxPayload, pingInterval.Milliseconds(), pingTimeout.Milliseconds(), r.maxPayload)
	}
}

// checkChatConnect checks the answer to CONNECT /chat (Socket.IO v5: CONNECT with the socket
// id, then the consumer's welcome) and returns the socket id.
func checkChatConnect(t *testing.T, who string, got []string, engineSID string) string {
	t.Helper()
	if len(got) != 2 {
		t.Fatalf("%s after CONNECT /chat received %q, want the CONNECT answer and the welcome", who, got)
	}
	data, ok := strings.CutPrefix(got[0], "40/chat,")
	var c struct {
		SID string `json:"sid"`
	}
	if !ok || json.Unmarshal([]byte(data), &c) != nil || c.SID == "" {
		t.Fatalf("%s: %q is not a CONNECT answer with a socket id", who, got[0])
	}
	if c.SID == engineSID {
		t.Errorf("%s: the socket id is the Engine.IO sid %q (Socket.IO v5 keeps them apart)", who, c.SID)
	}
	if got[1] != welcome {
		t.Errorf("%s: %q after CONNECT, want %q", who, got[1], welcome)
	}
	return c.SID
}

func expectPackets(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
		t.Errorf("%s: got %q, want %q", what, got, want)
	}
}

// withoutPings drops pings ("2"): a flush also sends the ping that is due.
func withoutPings(frames []string) []string {
	return slices.DeleteFunc(frames, func(f string) bool { return f == "2" })
}

func sleepUntil(at time.Time) { time.Sleep(time.Until(at)) }

// ---------------------------------------------------------------- AWS API stand-ins

// mgmtCall is one Management API request and the status it was answered with.
type mgmtCall struct {
	Method string
	Conn   string
	Status int
	Data   string
}

func (c mgmtCall) String() string {
	if c.Data == "" {
		return fmt.Sprintf("%s %s → %d", c.Method, c.Conn, c.Status)
	}
	return fmt.Sprintf("%s %s %q → %d", c.Method, c.Conn, c.Data, c.Status)
}

// managementAPI imitates the API Gateway Management API of stage rieStage: POST
// /@connections/{id} (PostToConnection) records a frame, DELETE (DeleteConnection) closes the
// connection, and a connection that is not established answers 410 GoneException, as AWS does.
// Every request must carry a SigV4 signature for execute-api.
type managementAPI struct {
	mu       sync.Mutex
	live     map[string]bool
	goneOnce map[string]bool     // answer 410 once, then establish: the state right after $connect
	frames   map[string][]string // frames posted and not yet taken, by connection
	calls    []mgmtCall
	problems []string
}

func (m *managementAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	m.mu.Lock()
	defer m.mu.Unlock()
	conn, ok := strings.CutPrefix(r.URL.Path, "/"+rieStage+"/@connections/")
	if !ok || conn == "" || (r.Method != http.MethodPost && r.Method != http.MethodDelete) {
		m.problems = append(m.problems, fmt.Sprintf("Management API: unexpected %s %s", r.Method, r.URL.Path))
		http.NotFound(w, r)
		return
	}
	if err := verifySigV4(r, body, "execute-api"); err != nil {
		m.problems = append(m.problems, fmt.Sprintf("Management API %s %s: %v", r.Method, conn, err))
		w.WriteHeader(http.StatusForbidden)
		return
	}
	status := http.StatusOK
	switch {
	case m.goneOnce[conn]:
		delete(m.goneOnce, conn)
		m.live[conn] = true
		status = http.StatusGone
	case !m.live[conn]:
		status = http.StatusGone
	case r.Method == http.MethodDelete:
		delete(m.live, conn)
		status = http.StatusNoContent
	default:
		m.frames[conn] = append(m.frames[conn], string(body))
	}
	m.calls = append(m.calls, mgmtCall{Method: r.Method, Conn: conn, Status: status, Data: string(body)})
	if status == http.StatusGone {
		w.Header().Set("x-amzn-ErrorType", "GoneException")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusGone)
		_, _ = io.WriteString(w, `{"message":null}`)
		return
	}
	w.WriteHeader(status)
}

func (m *managementAPI) establish(conn string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.live[conn] = true
}

func (m *managementAPI) establishAfterGone(conn string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.goneOnce[conn] = true
}

// forget drops a connection: from now on it answers 410.
func (m *managementAPI) forget(conn string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.live, conn)
}

func (m *managementAPI) takeFrames(conn string) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	f := m.frames[conn]
	delete(m.frames, conn)
	return f
}

// mark returns a position in the call log for callsSince.
func (m *managementAPI) mark() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.calls)
}

func (m *managementAPI) callsSince(mark int, conn string) []mgmtCall {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []mgmtCall
	for _, c := range m.calls[mark:] {
		if c.Conn == conn {
			out = append(out, c)
		}
	}
	return out
}

func (m *managementAPI) takeProblems() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.problems
	m.problems = nil
	return p
}

// lambdaAPI imitates the Lambda Invoke API for asynchronous invocations of function
// rieFunctionName: it checks the request and its SigV4 signature, records the payload and
// answers 202 Accepted. The test delivers the payloads to the RIE itself.
type lambdaAPI struct {
	mu       sync.Mutex
	payloads [][]byte
	problems []string
}

func (l *lambdaAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	l.mu.Lock()
	defer l.mu.Unlock()
	var problem string
	if want := "/2015-03-31/functions/" + rieFunctionName + "/invocations"; r.Method != http.MethodPost || r.URL.Path != want {
		problem = fmt.Sprintf("unexpected %s %s, want POST %s", r.Method, r.URL.Path, want)
	} else if it := r.Header.Get("X-Amz-Invocation-Type"); it != "Event" {
		problem = fmt.Sprintf("X-Amz-Invocation-Type %q, want Event (asynchronous)", it)
	} else if err := verifySigV4(r, body, "lambda"); err != nil {
		problem = err.Error()
	}
	if problem != "" {
		l.problems = append(l.problems, "Lambda Invoke API: "+problem)
		w.WriteHeader(http.StatusForbidden)
		return
	}
	l.payloads = append(l.payloads, body)
	w.WriteHeader(http.StatusAccepted)
}

func (l *lambdaAPI) take() [][]byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.payloads
	l.payloads = nil
	return p
}

func (l *lambdaAPI) takeProblems() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.problems
	l.problems = nil
	return p
}

var sigV4Re = regexp.MustCompile(`^AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$`)

// verifySigV4 checks a request's SigV4 signature the way AWS does: it signs the same request
// again, with the test's credentials and the request's own time, and compares.
func verifySigV4(r *http.Request, body []byte, service string) error {
	auth := r.Header.Get("Authorization")
	m := sigV4Re.FindStringSubmatch(auth)
	if m == nil {
		return fmt.Errorf("Authorization %q is not a SigV4 signature", auth)
	}
	if m[1] != rieAccessKey || m[3] != rieRegion || m[4] != service {
		return fmt.Errorf("credential scope %s/%s/%s/%s, want %s/…/%s/%s", m[1], m[2], m[3], m[4], rieAccessKey, rieRegion, service)
	}
	if tok := r.Header.Get("X-Amz-Security-Token"); tok != rieSessionToken {
		return fmt.Errorf("X-Amz-Security-Token %q, want the function's session token", tok)
	}
	at, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return fmt.Errorf("X-Amz-Date: %w", err)
	}
	// AWS refuses a signature more than 5 minutes away from its own clock.
	if skew := time.Since(at); skew > 5*time.Minute || skew < -5*time.Minute {
		return fmt.Errorf("X-Amz-Date %s is %v away from now", at.Format(time.RFC3339), skew.Round(time.Second))
	}
	again, err := http.NewRequest(r.Method, "http://"+r.Host+r.RequestURI, bytes.NewReader(body))
	if err != nil {
		return err
	}
	for _, h := range strings.Split(m[5], ";") {
		if h != "host" && h != "content-length" {
			again.Header[http.CanonicalHeaderKey(h)] = r.Header.Values(h)
		}
	}
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: rieAccessKey, SecretAccessKey: rieSecretKey, SessionToken: rieSessionToken}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, again, hex.EncodeToString(sum[:]), service, rieRegion, at); err != nil {
		return err
	}
	if want := again.Header.Get("Authorization"); want != auth {
		return errors.New("the SigV4 signature does not verify:\n got " + auth + "\nwant " + want)
	}
	return nil
}

// syncBuffer collects the RIE's output, written from its process's pipes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (s *syncBuffer) tail(n int) string {
	str := s.String()
	if len(str) > n {
		return "…" + str[len(str)-n:]
	}
	return str
}
