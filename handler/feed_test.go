package handler

import (
	"context"
	"testing"
	"time"

	"github.com/serverless-socketio/server/session"
	"github.com/serverless-socketio/server/store/memory"
)

// TestFeedFollowsNewRoomAtOnce: a read that finds the session in a new room moves the watch to
// it before handing anything out. A broadcast to the room that is committed before the
// session's next own packet, while the reader is still busy with what the read returned, comes
// out before that packet; it is not passed over (a feed that moved its watch only when idle
// took the own packet from the watch alone, wrote it, and then skipped the broadcast, whose ID
// is lower).
func TestFeedFollowsNewRoomAtOnce(t *testing.T) {
	st := memory.New(memory.Options{})
	e := &Engine{cfg: Config{Store: st}}
	member, sender := create(t, st), create(t, st)
	commit(t, st, sender, func(b *session.Batch) { b.Connect("/", "S"); b.Join("/", "lobby") })
	commit(t, st, member, func(b *session.Batch) { b.Connect("/", "M") })

	f := e.newFeed(member)
	defer f.stop()
	if got := next(t, f); len(got) != 0 {
		t.Fatalf("first next: %q, want nothing", got)
	}
	commit(t, st, member, func(b *session.Batch) { b.Join("/", "lobby"); b.Send([]byte("joined")) })
	f.handed(expect(t, f, "joined")) // the read that finds the lobby

	commit(t, st, sender, func(b *session.Batch) { b.Broadcast("/", []string{"lobby"}, nil, []byte("to the lobby")) })
	commit(t, st, member, func(b *session.Batch) { b.Send([]byte("own")) })
	var got []string
	for range 2 {
		entries := next(t, f)
		f.handed(entries)
		for _, en := range entries {
			got = append(got, string(en.Payload))
		}
		if len(got) == 2 {
			break
		}
	}
	if len(got) != 2 || got[0] != "to the lobby" || got[1] != "own" {
		t.Fatalf("after the join: %q, want the broadcast, then the own packet", got)
	}
}

func create(t *testing.T, st session.Store) string {
	t.Helper()
	sid := newSID()
	s := &session.Session{ID: sid, Transport: session.Polling, PingInterval: time.Minute, PingTimeout: time.Minute, LastPong: time.Now()}
	if err := st.Create(context.Background(), s, session.Schedule{}); err != nil {
		t.Fatal(err)
	}
	return sid
}

func commit(t *testing.T, st session.Store, sid string, f func(*session.Batch)) {
	t.Helper()
	var b session.Batch
	f(&b)
	if _, err := st.Commit(context.Background(), sid, &b); err != nil {
		t.Fatal(err)
	}
}

func next(t *testing.T, f *feed) []session.Entry {
	t.Helper()
	entries, err := f.next(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return entries
}

// expect takes the next entries and checks that they are the payloads want.
func expect(t *testing.T, f *feed, want ...string) []session.Entry {
	t.Helper()
	entries := next(t, f)
	if len(entries) != len(want) {
		t.Fatalf("next: %d entries, want %q", len(entries), want)
	}
	for i, en := range entries {
		if string(en.Payload) != want[i] {
			t.Fatalf("next: entry %d is %q, want %q", i, en.Payload, want[i])
		}
	}
	return entries
}

// TestAnswerGraceFollowsAcks: the wait for a GET that is answering is 100 ms on a fast store,
// four times the recent acknowledgements on a slow one, and never over 2 s.
func TestAnswerGraceFollowsAcks(t *testing.T) {
	var a ackTimes
	if g := a.grace(); g != answerGrace {
		t.Fatalf("grace before any acknowledgement: %v, want %v", g, answerGrace)
	}
	for range 100 {
		a.observe(5 * time.Millisecond)
	}
	if g := a.grace(); g != answerGrace {
		t.Fatalf("grace after 5 ms acknowledgements: %v, want %v", g, answerGrace)
	}
	for range 100 {
		a.observe(200 * time.Millisecond)
	}
	if g := a.grace(); g < 790*time.Millisecond || g > 800*time.Millisecond {
		t.Fatalf("grace after 200 ms acknowledgements: %v, want about 800 ms", g)
	}
	for range 100 {
		a.observe(5 * time.Second)
	}
	if g := a.grace(); g != answerGraceMax {
		t.Fatalf("grace after 5 s acknowledgements: %v, want the cap %v", g, answerGraceMax)
	}
}

// TestAnswerWaitsForLocalAck: a GET that comes while this process's GET before it is still
// acknowledging its answer waits for that acknowledgement, however long it takes past the
// grace; with none in flight it does not wait; a GET before it still held for its client is
// waited for only the grace (then it is an overlap, which the lease tells).
func TestAnswerWaitsForLocalAck(t *testing.T) {
	const grace = 100 * time.Millisecond
	var a activeGets
	waited := func() time.Duration {
		start := time.Now()
		a.wait(context.Background(), "s", grace)
		return time.Since(start)
	}
	if d := waited(); d > grace/2 {
		t.Fatalf("waited %v with no GET in flight", d)
	}
	g := a.start("s", context.Background())
	g.answered.Store(true)
	go func() {
		time.Sleep(300 * time.Millisecond)
		a.end("s", g)
	}()
	if d := waited(); d < 250*time.Millisecond {
		t.Fatalf("waited %v, want until the acknowledgement ended (300 ms)", d)
	}
	if d := waited(); d > grace/2 {
		t.Fatalf("waited %v again after the acknowledgement ended", d)
	}
	held := a.start("s", context.Background())
	defer a.end("s", held)
	if d := waited(); d < grace*9/10 || d > 250*time.Millisecond {
		t.Fatalf("waited %v for a GET still held for its client, want the grace (%v)", d, grace)
	}
}
