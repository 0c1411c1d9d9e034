package dynamo_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/serverless-socketio/server/session"
	"github.com/serverless-socketio/server/store/dynamo"
	"github.com/serverless-socketio/server/store/storetest"
)

// faulty is DynamoDB that stops taking writes: once armed, BatchWriteItem succeeds okWrites
// more times and then fails, and so does every UpdateItem when updates is set (a process cut
// off from DynamoDB, or dead, lets nothing go).
type faulty struct {
	dynamo.API
	mu       sync.Mutex
	armed    bool
	okWrites int
	updates  bool
}

var errCut = errors.New("faulty: cut off")

func (f *faulty) arm(okWrites int, updates bool) {
	f.mu.Lock()
	f.armed, f.okWrites, f.updates = true, okWrites, updates
	f.mu.Unlock()
}

func (f *faulty) BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	f.mu.Lock()
	cut := f.armed && f.okWrites == 0
	if f.armed && f.okWrites > 0 {
		f.okWrites--
	}
	f.mu.Unlock()
	if cut {
		return nil, errCut
	}
	return f.API.BatchWriteItem(ctx, in, opts...)
}

func (f *faulty) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	f.mu.Lock()
	cut := f.armed && f.okWrites == 0 && f.updates
	f.mu.Unlock()
	if cut {
		return nil, errCut
	}
	return f.API.UpdateItem(ctx, in, opts...)
}

// fanoutRoom is a sender and members in room "r" of "/" on a table, on a clock of the test's.
type fanoutRoom struct {
	t       *testing.T
	ctx     context.Context
	clock   *storetest.Clock
	sender  string
	members []string
}

func newFanoutRoom(t *testing.T, s session.Store, clock *storetest.Clock, n int) *fanoutRoom {
	r := &fanoutRoom{t: t, ctx: context.Background(), clock: clock}
	open := func(i int) string {
		ss := &session.Session{ID: fmt.Sprintf("m%03d-%d", i, clock.Now().UnixNano()), Transport: session.Polling,
			PingInterval: time.Minute, PingTimeout: time.Minute, LastPong: clock.Now()}
		if err := s.Create(r.ctx, ss, ss.Schedule(true)); err != nil {
			t.Fatal(err)
		}
		var b session.Batch
		b.Connect("/", "sock-"+ss.ID)
		b.Join("/", "r")
		if _, err := s.Commit(r.ctx, ss.ID, &b); err != nil {
			t.Fatal(err)
		}
		return ss.ID
	}
	r.sender = open(0)
	for i := 1; i <= n; i++ {
		r.members = append(r.members, open(i))
	}
	return r
}

func (r *fanoutRoom) broadcast(s session.Store, text string) {
	r.t.Helper()
	var b session.Batch
	b.Broadcast("/", []string{"r"}, nil, []byte(text))
	if _, err := s.Commit(r.ctx, r.sender, &b); err != nil {
		r.t.Fatalf("the broadcast %q failed: %v; its transaction had landed, so it must not", text, err)
	}
	r.clock.Advance(time.Millisecond)
}

// queued returns what each member has queued, in order.
func (r *fanoutRoom) queued(s session.Store) map[string][]string {
	r.t.Helper()
	out := map[string][]string{}
	for _, m := range r.members {
		q, err := s.Read(r.ctx, m, 0)
		if err != nil {
			r.t.Fatal(err)
		}
		for _, en := range q.Entries {
			out[m] = append(out[m], string(en.Payload))
		}
	}
	return out
}

// have counts the members whose queue is exactly want.
func (r *fanoutRoom) have(s session.Store, want ...string) int {
	n := 0
	queued := r.queued(s)
	for _, m := range r.members {
		if slices.Equal(queued[m], want) {
			n++
		}
	}
	return n
}

// TestFanoutCutHalfwayNextCommitFinishes: DynamoDB stops taking the fan-out's writes after its
// first round of 25 members; the commit still succeeds (its transaction landed, with the outbox),
// and the sender's next commit finishes the first broadcast before its own: every member gets
// both, once, in order.
func TestFanoutCutHalfwayNextCommitFinishes(t *testing.T) {
	db := localClient(t)
	clock := storetest.NewClock()
	f := &faulty{API: db}
	s, err := dynamo.New(f, dynamo.Options{Table: newTable(t, db), Now: clock.Now, Parallel: 1})
	if err != nil {
		t.Fatal(err)
	}
	r := newFanoutRoom(t, s, clock, 60)
	f.arm(1, false) // one round (25 members), then the writes fail
	r.broadcast(s, "m1")
	if n := r.have(s, "m1"); n != 25 {
		t.Fatalf("%d members have m1 after a fan-out cut after its first round, want 25", n)
	}
	if n := r.have(s); n != 35 {
		t.Fatalf("%d members have nothing yet, want 35", n)
	}
	// The members who got it take it (a second copy would be queued anew).
	for _, m := range r.members {
		q, err := s.Read(r.ctx, m, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Ack(r.ctx, m, session.Ack{Entries: q.Entries, Through: q.Through}); err != nil {
			t.Fatal(err)
		}
	}
	f.arm(-1, false) // DynamoDB takes writes again
	r.broadcast(s, "m2")
	if n, k := r.have(s, "m2"), r.have(s, "m1", "m2"); n != 25 || k != 35 {
		t.Fatalf("%d members have m2 alone (want the 25 who took m1) and %d m1 then m2 (want 35): %v", n, k, r.queued(s))
	}
}

// TestFanoutProcessDiesSweeperFinishes: the process fanning out dies after the first round (it
// neither writes more nor lets its lease go); another process's sweeper finds the session once
// the drain lease has expired, and its check of the session finishes the fan-out: every member
// gets the broadcast once.
func TestFanoutProcessDiesSweeperFinishes(t *testing.T) {
	db := localClient(t)
	clock := storetest.NewClock()
	table := newTable(t, db)
	f := &faulty{API: db}
	dying, err := dynamo.New(f, dynamo.Options{Table: table, Now: clock.Now, Parallel: 1})
	if err != nil {
		t.Fatal(err)
	}
	other, err := dynamo.New(db, dynamo.Options{Table: table, Now: clock.Now, Parallel: 1})
	if err != nil {
		t.Fatal(err)
	}
	r := newFanoutRoom(t, other, clock, 60)
	f.arm(1, true)
	r.broadcast(dying, "m1")
	if n := r.have(other, "m1"); n != 25 {
		t.Fatalf("%d members have m1 after the first round, want 25", n)
	}
	due := func() []string {
		d, err := other.Due(r.ctx, clock.Now(), 100)
		if err != nil {
			t.Fatal(err)
		}
		return d.Expired
	}
	if slices.Contains(due(), r.sender) {
		t.Fatal("the sweeper lists the session while its drainer's lease still runs")
	}
	// A commit that does not broadcast goes on meanwhile, and leaves the drain to its holder.
	var pong session.Batch
	pong.Pong(clock.Now())
	if _, err := other.Commit(r.ctx, r.sender, &pong); err != nil {
		t.Fatal(err)
	}
	if n := r.have(other, "m1"); n != 25 {
		t.Fatalf("%d members have m1 after a commit while the drainer's lease ran, want 25: it was taken over", n)
	}
	clock.Advance(11 * time.Second)
	if !slices.Contains(due(), r.sender) {
		t.Fatal("the sweeper does not list a session whose fan-out was left undone")
	}
	// The sweeper's check of a live session: a commit of its hints.
	st, err := other.Load(r.ctx, r.sender)
	if err != nil {
		t.Fatal(err)
	}
	var b session.Batch
	b.Require(st.Clock())
	b.Schedule(st.Schedule(false))
	if _, err := other.Commit(r.ctx, r.sender, &b); err != nil {
		t.Fatal(err)
	}
	if n := r.have(other, "m1"); n != 60 {
		t.Fatalf("%d of 60 members have m1 once: %v", n, r.queued(other))
	}
	if slices.Contains(due(), r.sender) {
		t.Fatal("the sweeper still lists the session after its fan-out was finished")
	}
}
