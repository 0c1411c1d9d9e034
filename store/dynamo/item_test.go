package dynamo

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/serverless-socketio/server/session"
)

// These tests need no DynamoDB: they check the item encoding and the commit planning, which are
// pure. The store's behaviour is checked against DynamoDB Local (store_test.go).

func TestSessionItemRoundTrip(t *testing.T) {
	it := &sessionItem{
		v: 7, pi: 25000, pt: 20000, pong: 1_764_000_000_000, ps: true, cd: 1_764_000_045_000,
		tr: "websocket", cn: "conn=", pr: "", pb: []byte{0, 1, 2}, dl: 1_764_000_045_000, pd: 1_764_000_025_000, clk: 5, mx: 6,
		expires: 1_764_000_120, shards: 4,
		sockets: map[string]*socketItem{
			"/":     {id: "A", rooms: []string{"A", "lobby", "x\x1ey"}, data: []byte(`{"n":1}`)},
			"/chat": {id: "B", rooms: []string{"B"}, data: []byte{}},
		},
	}
	m := it.encode("sid1")
	got, err := decodeSession(m, 4)
	if err != nil {
		t.Fatal(err)
	}
	if got.v != 7 || got.pi != 25000 || got.pt != 20000 || got.pong != it.pong || !got.ps || got.cd != it.cd ||
		got.tr != "websocket" || got.cn != "conn=" || string(got.pb) != "\x00\x01\x02" || got.dl != it.dl ||
		got.pd != it.pd || got.clk != 5 || got.mx != 6 || got.expires != it.expires {
		t.Fatalf("decoded %+v", got)
	}
	if s := got.sockets["/"]; s == nil || s.id != "A" || !slices.Equal(s.rooms, []string{"A", "lobby", "x\x1ey"}) || string(s.data) != `{"n":1}` {
		t.Fatalf("socket / = %+v", s)
	}
	if s := got.sockets["/chat"]; s == nil || s.data == nil || len(s.data) != 0 {
		t.Fatalf("socket /chat = %+v: empty data must stay empty, not vanish", s)
	}
	// The sweeper index: the earlier of the hints.
	if n := m[attrDue].(*types.AttributeValueMemberN).Value; n != "1764000025000" {
		t.Fatalf("due %s, want the ping hint (earliest)", n)
	}
	it.pd = 0
	m = it.encode("sid1")
	if n := m[attrDue].(*types.AttributeValueMemberN).Value; n != "1764000045000" {
		t.Fatalf("due %s, want the deadline hint", n)
	}
	if _, ok := m[attrPingDue]; ok {
		t.Fatal("a ping hint on a session without one")
	}
	// A tombstone leaves the index.
	closed := (&sessionItem{v: 8, cl: "transport close", ow: true, expires: 1}).encode("sid1")
	for _, a := range []string{attrShard, attrDue, "ns", "pi"} {
		if _, ok := closed[a]; ok {
			t.Fatalf("closed item has %s", a)
		}
	}
}

func TestDecodeMalformed(t *testing.T) {
	m := key(sessionPK("s"), sessionSK)
	m["pong"] = &types.AttributeValueMemberN{Value: "soon"}
	if _, err := decodeSession(m, 4); err == nil || !strings.Contains(err.Error(), "pong") {
		t.Fatalf("malformed number: %v", err)
	}
	m = key(sessionPK("s"), sessionSK)
	m["ns"] = &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{"/": str("not a map")}}
	if _, err := decodeSession(m, 4); err == nil {
		t.Fatal("malformed socket decoded")
	}
}

func TestKeys(t *testing.T) {
	// Queue keys sort by time numerically, whatever the digits.
	if a, b := queueSK(999, "z", 0), queueSK(1000, "a", 0); a >= b {
		t.Fatalf("%s sorts after %s", a, b)
	}
	if a, b := queueSK(5, "s", 1), queueSK(5, "s", 10); a >= b {
		t.Fatalf("parts: %s sorts after %s", a, b)
	}
	if queueSK(1, "s", 0) <= sessionSK {
		t.Fatal("a queued item sorts before the session item")
	}
	// "<nsp>:<room>" is unambiguous: namespace "/a:b" room "c" differs from "/a" room "b:c".
	if roomPK("/a:b", "c") == roomPK("/a", "b:c") {
		t.Fatal("room keys collide")
	}
	long := strings.Repeat("r", 5000)
	if k := roomPK("/", long); len(k) > 1024 || k == roomPK("/", long+"x") {
		t.Fatalf("long room key %q", k[:min(len(k), 40)])
	}
	for _, sid := range []string{"a", "b", "c", "d", "e"} {
		if s := shardOf(sid, 4); s < "d#0" || s > "d#3" || len(s) != 3 {
			t.Fatalf("shard %q", s)
		}
	}
}

func testStore(t *testing.T) *Store {
	s, err := New(nil, Options{Table: "t"})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func baseItem() *sessionItem {
	return &sessionItem{v: 3, pi: 25000, pt: 20000, pong: 1000, tr: "polling", shards: 4, mx: 1 << 50,
		sockets: map[string]*socketItem{"/": {id: "A", rooms: []string{"A", "lobby"}}}}
}

// writes summarises a plan's transaction items as "put <pk>" / "del <pk>".
func writes(p *plan) []string {
	var out []string
	for _, w := range p.writes {
		if w.Put != nil {
			out = append(out, "put "+w.Put.Item[attrPK].(*types.AttributeValueMemberS).Value)
		} else {
			out = append(out, "del "+w.Delete.Key[attrPK].(*types.AttributeValueMemberS).Value)
		}
	}
	slices.Sort(out)
	return out
}

func TestPlanMemberships(t *testing.T) {
	s := testStore(t)
	var b session.Batch
	b.Join("/", "r2")
	b.Leave("/", "lobby")
	b.Join("/", "tmp")
	b.Leave("/", "tmp")
	p, err := s.plan("sid", baseItem(), &b, 2000)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"del r#1:/:lobby", "put r#1:/:r2"}
	if got := writes(p); !slices.Equal(got, want) {
		t.Fatalf("writes %q, want %q (a room joined and left in one batch is not written)", got, want)
	}
	if p.next.v != 4 || !slices.Equal(p.next.sockets["/"].rooms, []string{"A", "r2"}) {
		t.Fatalf("next %+v rooms %q", p.next, p.next.sockets["/"].rooms)
	}
}

func TestPlanBroadcastToSelf(t *testing.T) {
	s := testStore(t)
	var b session.Batch
	b.Broadcast("/", []string{"r"}, nil, []byte("before-join"))
	b.Join("/", "r")
	b.Broadcast("/", []string{"r"}, nil, []byte("after-join"))
	b.Broadcast("/", []string{"r"}, []string{"lobby"}, []byte("excepted"))
	b.Send([]byte("ack"))
	p, err := s.plan("sid", baseItem(), &b, 2000)
	if err != nil {
		t.Fatal(err)
	}
	var self []string
	for _, pl := range p.self {
		self = append(self, string(pl))
	}
	if !slices.Equal(self, []string{"after-join", "ack"}) {
		t.Fatalf("self receives %q", self)
	}
	if len(p.casts) != 3 {
		t.Fatalf("%d casts, want 3", len(p.casts))
	}
	// The order time moves past the last one used, even when the clock is behind it.
	it := baseItem()
	it.clk = 5000
	p, _ = s.plan("sid", it, &b, 2000)
	if p.at != 5001 || p.next.clk != 5001 {
		t.Fatalf("order time %d (clk %d), want 5001", p.at, p.next.clk)
	}
}

func TestPlanClose(t *testing.T) {
	s := testStore(t)
	it := baseItem()
	it.tr, it.cn = "websocket", "c1"
	var b session.Batch
	b.Broadcast("/", []string{"lobby"}, []string{"A"}, []byte("bye"))
	b.Close(session.ReasonTransportClose, false)
	b.Send([]byte("ignored"))
	p, err := s.plan("sid", it, &b, 2000)
	if err != nil {
		t.Fatal(err)
	}
	// The broadcast of its OnClose goes to the outbox, with the tombstone.
	want := []string{"del c#c1", "del r#1:/:", "del r#1:/:A", "del r#1:/:lobby", "put o#sid"}
	if got := writes(p); !slices.Equal(got, want) {
		t.Fatalf("writes %q, want %q", got, want)
	}
	// A close that owes no noop keeps none.
	if p.next.cl != "transport close" || p.next.ow || len(p.self) != 0 || len(p.casts) != 1 {
		t.Fatalf("close plan: next %+v self %d casts %d", p.next, len(p.self), len(p.casts))
	}
}

func TestPlanRefusesOversizedPacket(t *testing.T) {
	s := testStore(t)
	var b session.Batch
	b.Send(make([]byte, MaxPacket+1))
	if _, err := s.plan("sid", baseItem(), &b, 2000); err == nil || !strings.Contains(err.Error(), "exceeds") {
		t.Fatalf("oversized packet: %v", err)
	}
}

func TestQueueItemsSplit(t *testing.T) {
	s := testStore(t)
	big := make([]byte, 200*1024)
	q := s.queueItems("r", "s", 10, [][]byte{big, big, []byte("x")}, 0)
	items := q.all()
	if len(items) != 2 || len(q.tails) != 0 {
		t.Fatalf("%d items (%d tails), want 2 heads (an item holds at most %d bytes)", len(items), len(q.tails), maxItemPayload)
	}
	if n := len(payloadsOf(items[0])) + len(payloadsOf(items[1])); n != 3 {
		t.Fatalf("%d payloads in the items, want 3", n)
	}
	if skOf(items[0]) >= skOf(items[1]) {
		t.Fatal("parts out of order")
	}
}

// TestQueueItemsSplitLarge: a payload larger than an item holds is split into a head that
// counts its parts and tails that sort right after it, between the items of its neighbours.
func TestQueueItemsSplitLarge(t *testing.T) {
	s := testStore(t)
	big := make([]byte, 2*maxItemPayload+1)
	q := s.queueItems("r", "s", 10, [][]byte{[]byte("a"), big, []byte("b")}, 0)
	if len(q.heads) != 3 || len(q.tails) != 2 {
		t.Fatalf("%d heads and %d tails, want 3 and 2", len(q.heads), len(q.tails))
	}
	head := q.heads[1]
	if numOf(head, attrParts) != 3 || head[attrTail] != nil {
		t.Fatalf("the head: %d parts, tail %v", numOf(head, attrParts), head[attrTail])
	}
	var sks []string
	for _, it := range []map[string]types.AttributeValue{q.heads[0], head, q.tails[0], q.tails[1], q.heads[2]} {
		sks = append(sks, skOf(it))
	}
	if !slices.IsSorted(sks) || skOf(q.tails[0]) != nextPart(skOf(head), 1) {
		t.Fatalf("sort keys %q: want the tails right after their head", sks)
	}
	en, ok := joinParts([]map[string]types.AttributeValue{head, q.tails[0], q.tails[1]}, 3)
	if !ok || !bytes.Equal(en.Payload, big) {
		t.Fatalf("joined %v, %d bytes, want the %d-byte payload", ok, len(en.Payload), len(big))
	}
	if _, ok := joinParts([]map[string]types.AttributeValue{head, q.tails[1]}, 3); ok {
		t.Fatal("joined a payload with a part missing")
	}
}

// TestStoreDown: a store whose DynamoDB does not answer fails with ErrUnavailable, not a panic
// or a misleading "not found".
func TestStoreDown(t *testing.T) {
	db := NewClient("us-east-1", "http://127.0.0.1:1", aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: "x", SecretAccessKey: "x"}, nil
	}))
	s, err := New(db, Options{Table: "t"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := s.Load(ctx, "sid"); !errors.Is(err, session.ErrUnavailable) {
		t.Fatalf("Load: %v, want ErrUnavailable", err)
	}
	var b session.Batch
	b.Send([]byte("x"))
	if _, err := s.Commit(ctx, "sid", &b); !errors.Is(err, session.ErrUnavailable) {
		t.Fatalf("Commit: %v, want ErrUnavailable", err)
	}
	if _, err := s.Read(ctx, "sid", 0); !errors.Is(err, session.ErrUnavailable) {
		t.Fatalf("Read: %v, want ErrUnavailable", err)
	}
	if _, err := s.Acquire(ctx, "sid", session.LeasePoll, "t", time.Second); !errors.Is(err, session.ErrUnavailable) {
		t.Fatalf("Acquire: %v, want ErrUnavailable", err)
	}
	if err := s.Ack(ctx, "sid", session.Ack{Release: session.LeasePoll, Token: "t"}); !errors.Is(err, session.ErrUnavailable) {
		t.Fatalf("Ack: %v, want ErrUnavailable", err)
	}
	if err := s.Create(ctx, &session.Session{ID: "sid", Transport: session.Polling, LastPong: time.Now()}, session.Schedule{Deadline: time.Now()}); !errors.Is(err, session.ErrUnavailable) {
		t.Fatalf("Create: %v, want ErrUnavailable", err)
	}
	if _, err := s.Due(ctx, time.Now(), 10); !errors.Is(err, session.ErrUnavailable) {
		t.Fatalf("Due: %v, want ErrUnavailable", err)
	}
}

// TestOutboxRoundTrip: casts go into as few outbox items as hold them, a large one split over
// several, and come back whole and in order; the first item carries the drain lease.
func TestOutboxRoundTrip(t *testing.T) {
	s := testStore(t)
	big := bytes.Repeat([]byte("b"), 2*maxItemPayload+1)
	casts := []cast{
		{nsp: "/", rooms: []string{"r"}, payload: []byte("one")},
		{nsp: "/chat", rooms: []string{"a", "b"}, except: []string{"x"}, payload: big},
		{nsp: "/", rooms: []string{"r"}, payload: []byte("two")},
		{nsp: "/", rooms: []string{"r"}, payload: []byte("three")},
	}
	o := &outbox{at: 42, token: "tok", casts: casts}
	items := s.outboxItems("sid", o, 1000)
	if len(items) != 5 || len(o.keys) != 5 {
		t.Fatalf("%d items (%d keys), want 5: the first cast, the large one's 3 parts, the last two together", len(items), len(o.keys))
	}
	if strOf(items[0], "tok") != "tok" || numOf(items[0], "x") != 1000+drainLease.Milliseconds() {
		t.Fatalf("the first item's lease: %v %v", items[0]["tok"], items[0]["x"])
	}
	back, err := decodeOutbox(42, items)
	if err != nil {
		t.Fatal(err)
	}
	if len(back.casts) != len(casts) || !slices.Equal(back.keys, o.keys) {
		t.Fatalf("%d casts back, want %d; keys %q, want %q", len(back.casts), len(casts), back.keys, o.keys)
	}
	for i, c := range back.casts {
		w := casts[i]
		if c.nsp != w.nsp || !slices.Equal(c.rooms, w.rooms) || !slices.Equal(c.except, w.except) || !bytes.Equal(c.payload, w.payload) {
			t.Fatalf("cast %d back: %s %q %q, %d bytes; want %s %q %q, %d bytes", i, c.nsp, c.rooms, c.except, len(c.payload), w.nsp, w.rooms, w.except, len(w.payload))
		}
	}
	if _, err := decodeOutbox(42, items[:2]); err == nil {
		t.Fatal("decoded an outbox with parts missing")
	}
}
