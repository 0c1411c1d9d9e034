package dynamo_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/serverless-socketio/server/consumers/chat"
	"github.com/serverless-socketio/server/handler"
	"github.com/serverless-socketio/server/internal/siotest"
	"github.com/serverless-socketio/server/session"
	"github.com/serverless-socketio/server/sio"
	"github.com/serverless-socketio/server/store/dynamo"
)

// meter adds up the capacity DynamoDB reports for every request, and counts the requests. It
// also wraps the client to price transactions by AWS's rule (2 write units per item and KB),
// which DynamoDB Local does not apply: awsWrite is write with the transactions priced so.
type meter struct {
	dynamo.API
	mu                    sync.Mutex
	read, write, txnWrite float64
	awsTxnWrite           float64
	requests              map[string]int
}

func (m *meter) record(op string, read, write float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.read += read
	m.write += write
	if op == "TransactWriteItems" {
		m.txnWrite += write
	}
	m.requests[op]++
}

func (m *meter) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	out, err := m.API.TransactWriteItems(ctx, in, opts...)
	if err == nil {
		units := 0.0
		for _, it := range in.TransactItems {
			kb := 1.0
			if it.Put != nil {
				kb = math.Ceil(float64(itemSize(it.Put.Item)) / 1024)
			}
			units += 2 * kb
		}
		m.mu.Lock()
		m.awsTxnWrite += units
		m.mu.Unlock()
	}
	return out, err
}

// itemSize approximates an item's size as DynamoDB bills it: names plus values.
func itemSize(item map[string]types.AttributeValue) int {
	n := 0
	for name, v := range item {
		n += len(name) + valueSize(v)
	}
	return n
}

func valueSize(v types.AttributeValue) int {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return len(v.Value)
	case *types.AttributeValueMemberN:
		return len(v.Value)/2 + 1
	case *types.AttributeValueMemberB:
		return len(v.Value)
	case *types.AttributeValueMemberL:
		n := 3
		for _, e := range v.Value {
			n += 1 + valueSize(e)
		}
		return n
	case *types.AttributeValueMemberM:
		return 3 + itemSize(v.Value)
	}
	return 1
}

// usage is what one measured step consumed.
type usage struct {
	read, write, awsWrite float64
	requests              string
}

// measure runs f and returns what it consumed.
func (m *meter) measure(f func()) usage {
	m.mu.Lock()
	m.read, m.write, m.txnWrite, m.awsTxnWrite, m.requests = 0, 0, 0, 0, map[string]int{}
	m.mu.Unlock()
	f()
	m.mu.Lock()
	defer m.mu.Unlock()
	ops := make([]string, 0, len(m.requests))
	for op, n := range m.requests {
		ops = append(ops, fmt.Sprintf("%s×%d", op, n))
	}
	slices.Sort(ops)
	return usage{m.read, m.write, m.write - m.txnWrite + m.awsTxnWrite, strings.Join(ops, " ")}
}

// TestCostDynamoDBLocal measures, with ReturnConsumedCapacity, the read and write units the
// server's requests consume on DynamoDB Local: the handshake, a namespace connect, a chat message
// in rooms of 1, 10 and 100 members (the sender's POST and every member's GET), and an idle held
// poll. It checks the shape of the costs (what must hold whatever the prices) and logs lines
// starting with COST for the README.
func TestCostDynamoDBLocal(t *testing.T) {
	db := localClient(t)
	m := &meter{API: db, requests: map[string]int{}}
	store, err := dynamo.New(m, dynamo.Options{Table: newTable(t, db), Capacity: m.record})
	if err != nil {
		t.Fatal(err)
	}
	router := sio.NewRouter(nil)
	if err := router.Register(chat.Consumer{}); err != nil {
		t.Fatal(err)
	}
	const hold, backoff = 5 * time.Second, time.Second
	eng, err := handler.New(handler.Config{
		Store: store, App: router, PollHold: hold, PollBackoff: backoff,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(eng)
	defer hs.Close()
	srv := &siotest.Server{URL: hs.URL + "/socket.io/"}
	report := func(what string, u usage) {
		t.Logf("COST %-44s read %6.1f  write %6.1f  write at AWS %6.1f  (%s)", what, u.read, u.write, u.awsWrite, u.requests)
	}

	var c *siotest.Client
	u := m.measure(func() { c = srv.Open(t) })
	report("handshake", u)
	if u.read != 0 || u.write == 0 {
		t.Errorf("handshake: %+v, want a write and no read", u)
	}
	report("namespace connect: POST 40", m.measure(func() { c.Post("40/chat,") }))
	report("namespace connect: GET of the answer", m.measure(func() {
		if p := c.Get(); !strings.HasPrefix(p[0], "40/chat,") {
			t.Fatalf("CONNECT answered %q", p)
		}
	}))

	members := []*siotest.Client{c}
	for _, n := range []int{1, 10, 100} {
		for len(members) < n {
			x := srv.Open(t)
			x.Connect("/chat")
			members = append(members, x)
		}
		text := fmt.Sprintf("hello %d", n)
		post := m.measure(func() { members[0].Post(`42/chat,["chat_message",{"text":"` + text + `"}]`) })
		report(fmt.Sprintf("chat message, room of %d: the sender's POST", n), post)
		gets := m.measure(func() {
			for i, x := range members {
				p := x.Get()
				if !slices.ContainsFunc(p, func(s string) bool { return strings.Contains(s, text) }) {
					t.Fatalf("member %d of %d got %q, want %q", i, n, p, text)
				}
			}
		})
		report(fmt.Sprintf("chat message, room of %d: the %d GETs", n, n), gets)
		read, write := post.read+gets.read, post.awsWrite+gets.awsWrite
		t.Logf("COST chat message, room of %d: total read %.1f write at AWS %.1f, per member read %.2f write %.2f",
			n, read, write, read/float64(n), write/float64(n))
		if gets.write < float64(n) {
			t.Errorf("room of %d: the GETs wrote %v units; each taken packet is deleted, want ≥ %d", n, gets.write, n)
		}
	}

	report("heartbeat: POST of a pong", m.measure(func() { c.Post("3") }))

	var elapsed time.Duration
	u = m.measure(func() {
		start := time.Now()
		if p := c.Get(); len(p) != 1 || p[0] != "6" {
			t.Fatalf("idle held poll answered %q, want a noop", p)
		}
		elapsed = time.Since(start)
	})
	report(fmt.Sprintf("idle held poll of %s (backoff ≤ %s)", elapsed.Round(100*time.Millisecond), backoff), u)
	t.Logf("COST idle held poll: %.2f read units per second, %.0f writes per hold", u.read/elapsed.Seconds(), u.write)
	// The backoff doubles from 50 ms up to its bound: 5 reads ramping up, then one per backoff.
	if limit := 6 + elapsed.Seconds()/backoff.Seconds(); u.read > limit {
		t.Errorf("idle poll read %.0f units in %s, want at most %.0f (one read per backoff)", u.read, elapsed, limit)
	}

	// A WebSocket member receives by push: the handler's push takes the write lease, reads,
	// acknowledges what it wrote with the lease's release, and reads once more.
	ws := &session.Session{ID: "ws-member", Transport: session.WebSocket, Conn: "conn-1", PingInterval: time.Minute, PingTimeout: time.Minute, LastPong: time.Now()}
	if err := store.Create(t.Context(), ws, ws.Schedule(true)); err != nil {
		t.Fatal(err)
	}
	var join session.Batch
	join.Connect("/chat", "WS")
	join.Join("/chat", "lobby")
	if _, err := store.Commit(t.Context(), ws.ID, &join); err != nil {
		t.Fatal(err)
	}
	members[1].Post(`42/chat,["chat_message",{"text":"to the websocket member"}]`)
	report("WebSocket push of one message (lease, read, ack + release, read)", m.measure(func() {
		ctx := t.Context()
		if _, err := store.Acquire(ctx, ws.ID, session.LeaseWrite, "pusher", 10*time.Second); err != nil {
			t.Fatal(err)
		}
		q, err := store.Read(ctx, ws.ID, 0)
		if err != nil || len(q.Entries) == 0 {
			t.Fatalf("the WebSocket member's queue: %+v, %v", q, err)
		}
		if err := store.Ack(ctx, ws.ID, session.Ack{Entries: q.Entries, Release: session.LeaseWrite, Token: "pusher"}); err != nil {
			t.Fatal(err)
		}
		if q, err := store.Read(ctx, ws.ID, 0); err != nil || len(q.Entries) != 0 {
			t.Fatalf("after the ack: %+v, %v", q, err)
		}
	}))

	report("sweeper pass (Due, 4 shards)", m.measure(func() { _, _ = store.Due(t.Context(), time.Now(), 100) }))
}
