package redis

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	goredis "github.com/redis/go-redis/v9"

	"github.com/serverless-socketio/server/session"
)

// The channels of session "a" and of room "b" of namespace "/", on the test hub's prefix.
const (
	chanA = "t:w:s:a"
	chanB = "t:w:r:1:/:b"
)

var roomB = []session.RoomRef{{Namespace: "/", Room: "b"}}

func testHub(t *testing.T, linger time.Duration) (*hub, *goredis.Client) {
	t.Helper()
	mr := miniredis.RunT(t)
	rdb := goredis.NewClient(&goredis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { rdb.Close() })
	b := newBatcher(rdb, 1)
	t.Cleanup(b.close)
	h := newHub(rdb, "t", b)
	h.linger = linger
	t.Cleanup(func() { h.close() })
	return h, rdb
}

func subscribed(t *testing.T, rdb *goredis.Client, name string) bool {
	t.Helper()
	chans, err := rdb.PubSubChannels(context.Background(), "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	return slices.Contains(chans, name)
}

// waitEvents waits until the hub has handled n more events than at mark.
func waitEvents(t *testing.T, h *hub, mark uint64, n uint64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for h.mark() < mark+n {
		if time.Now().After(deadline) {
			t.Fatalf("the hub handled %d events since the mark, want %d", h.mark()-mark, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestHubLinger: a channel stays subscribed for the linger after its last watch stops, and is
// unsubscribed after that.
func TestHubLinger(t *testing.T) {
	h, rdb := testHub(t, 200*time.Millisecond)
	ctx := context.Background()
	w, _, err := h.watch(ctx, "a", nil, 0, session.ID{})
	if err != nil {
		t.Fatal(err)
	}
	w.Stop()
	if !subscribed(t, rdb, chanA) {
		t.Fatal("unsubscribed at once; want it kept for the linger")
	}
	w, _, err = h.watch(ctx, "a", nil, 0, session.ID{})
	if err != nil {
		t.Fatal(err)
	}
	rdb.Publish(ctx, chanA, "c1-0")
	select {
	case <-w.C():
	case <-time.After(5 * time.Second):
		t.Fatal("no wake-up on a channel watched again during its linger")
	}
	w.Stop()
	deadline := time.Now().Add(5 * time.Second)
	for subscribed(t, rdb, chanA) {
		if time.Now().After(deadline) {
			t.Fatal("still subscribed long after the linger")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestHubWatchMissed: a watch reports nothing missed only if its channels were subscribed at the
// mark and had no message since that the read after the mark does not account for.
func TestHubWatchMissed(t *testing.T) {
	h, rdb := testHub(t, time.Hour)
	ctx := context.Background()
	mark := h.mark()
	w, missed, err := h.watch(ctx, "a", roomB, mark, session.ID{})
	if err != nil || !missed {
		t.Fatalf("first watch: missed %v, %v; want missed (not subscribed at the mark)", missed, err)
	}
	w.Stop()

	mark = h.mark()
	w, missed, err = h.watch(ctx, "a", roomB, mark, session.ID{})
	if err != nil || missed {
		t.Fatalf("watch of lingering channels with nothing since the mark: missed %v, %v; want not missed", missed, err)
	}
	w.Stop()

	mark = h.mark()
	rdb.Publish(ctx, chanB, "e1-0 0\nx")
	waitEvents(t, h, mark, 1)
	w, missed, err = h.watch(ctx, "a", roomB, mark, session.ID{})
	if err != nil || !missed {
		t.Fatalf("a message on b after the mark, before the watch: missed %v, %v; want missed", missed, err)
	}
	w.Stop()
	// Unless the read that followed the mark accounts for it (its Through is the message's ID).
	w, missed, err = h.watch(ctx, "a", roomB, mark, session.ID{Time: 1})
	if err != nil || missed {
		t.Fatalf("a message after the mark that the read accounts for: missed %v, %v; want not missed", missed, err)
	}
	w.Stop()
	// A message that failed to parse may be anything: missed whatever the read.
	mark = h.mark()
	rdb.Publish(ctx, chanB, "?")
	waitEvents(t, h, mark, 1)
	w, missed, err = h.watch(ctx, "a", roomB, mark, session.ID{Time: 1 << 40})
	if err != nil || !missed {
		t.Fatalf("an unparsable message after the mark: missed %v, %v; want missed", missed, err)
	}
	w.Stop()

	// A message before the mark is not missed: a fetch after the mark saw what it announced.
	mark = h.mark()
	w, missed, err = h.watch(ctx, "a", roomB, mark, session.ID{})
	if err != nil || missed {
		t.Fatalf("message before the mark: missed %v, %v; want not missed", missed, err)
	}
	w.Stop()

	// A room's channel not subscribed at the mark, with the others lingering: missed only if
	// the room's log holds an entry after the read's Through (each entry is logged before it is
	// published).
	mark = h.mark()
	w, missed, err = h.watch(ctx, "a", []session.RoomRef{{Namespace: "/", Room: "c"}}, mark, session.ID{Time: 1})
	if err != nil || missed {
		t.Fatalf("a new room channel, nothing in its log: missed %v, %v; want not missed", missed, err)
	}
	w.Stop()
	rdb.XAdd(ctx, &goredis.XAddArgs{Stream: h.roomLogKey(&session.RoomRef{Namespace: "/", Room: "d"}), ID: "5-0", Values: []string{"p", "x"}})
	mark = h.mark()
	w, missed, err = h.watch(ctx, "a", []session.RoomRef{{Namespace: "/", Room: "d"}}, mark, session.ID{Time: 1})
	if err != nil || !missed {
		t.Fatalf("a new room channel whose log holds an entry after the read: missed %v, %v; want missed", missed, err)
	}
	w.Stop()
	mark = h.mark()
	w, missed, err = h.watch(ctx, "a", []session.RoomRef{{Namespace: "/", Room: "e"}, {Namespace: "/", Room: "d"}}, mark, session.ID{Time: 5})
	if err != nil || missed {
		t.Fatalf("new room channels whose logs hold nothing after the read: missed %v, %v; want not missed", missed, err)
	}
	w.Stop()
	// A session's channel not subscribed at the mark: missed (its "changed" events are in no log).
	mark = h.mark()
	w, missed, err = h.watch(ctx, "z", nil, mark, session.ID{Time: 1 << 40})
	if err != nil || !missed {
		t.Fatalf("a new session channel: missed %v, %v; want missed", missed, err)
	}
	w.Stop()
}

// TestHubWatchAfterExpiry: once a lingering channel is unsubscribed, a watch reports it missed
// (messages published meanwhile never reached the hub).
func TestHubWatchAfterExpiry(t *testing.T) {
	h, rdb := testHub(t, 100*time.Millisecond)
	ctx := context.Background()
	w, _, err := h.watch(ctx, "a", nil, 0, session.ID{})
	if err != nil {
		t.Fatal(err)
	}
	w.Stop()
	deadline := time.Now().Add(5 * time.Second)
	for subscribed(t, rdb, chanA) {
		if time.Now().After(deadline) {
			t.Fatal("never unsubscribed")
		}
		time.Sleep(20 * time.Millisecond)
	}
	mark := h.mark()
	w, missed, err := h.watch(ctx, "a", nil, mark, session.ID{})
	if err != nil || !missed {
		t.Fatalf("watch after the linger expired: missed %v, %v; want missed", missed, err)
	}
	w.Stop()
}

// TestParseEvent: the messages commit.lua publishes, and what the hub makes of them.
func TestParseEvent(t *testing.T) {
	room := &session.RoomRef{Namespace: "/chat", Room: "lobby"}
	cases := []struct {
		msg  string
		room *session.RoomRef
		ok   bool
		want session.Event
	}{
		{"c17-3", nil, true, session.Event{Kind: session.EventChanged, ID: session.ID{Time: 17, Seq: 3}}},
		{"e17-4 0\n42[\"x\"]", nil, true, session.Event{Kind: session.EventEntry, ID: session.ID{Time: 17, Seq: 4}, Payload: []byte(`42["x"]`)}},
		{"e9-0 7\nmuted\x00A2\n\x1eb", room, true, session.Event{Kind: session.EventEntry, ID: session.ID{Time: 9}, Room: room, Except: []string{"muted", "A"}, Payload: []byte("2\n\x1eb")}},
		{"e9-0 0\n", room, true, session.Event{Kind: session.EventEntry, ID: session.ID{Time: 9}, Room: room, Payload: []byte{}}},
		{"", nil, false, session.Event{}},
		{"c", nil, false, session.Event{}},
		{"cx-1", nil, false, session.Event{}},
		{"e1-1 5\nab", nil, false, session.Event{}},
		{"e1-1\nab", nil, false, session.Event{}},
		{"e1-1 -1\nab", nil, false, session.Event{}},
		{"z1-1 0\n", nil, false, session.Event{}},
	}
	for _, tc := range cases {
		got, ok := parseEvent(tc.msg, tc.room)
		if ok != tc.ok {
			t.Errorf("parseEvent(%q): ok %v", tc.msg, ok)
			continue
		}
		if ok && (got.Kind != tc.want.Kind || got.ID != tc.want.ID || got.Room != tc.want.Room ||
			string(got.Payload) != string(tc.want.Payload) || !slices.Equal(got.Except, tc.want.Except)) {
			t.Errorf("parseEvent(%q) = %+v, want %+v", tc.msg, got, tc.want)
		}
	}
}

// TestRoomLogKey: the hub looks for a room's entries under the key the commit script writes
// them to.
func TestRoomLogKey(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb := goredis.NewClient(&goredis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { rdb.Close() })
	s := New(rdb, Options{Prefix: "t"})
	t.Cleanup(func() { s.Close() })
	ctx := context.Background()
	ss := &session.Session{ID: "k", Transport: session.Polling, PingInterval: time.Minute, PingTimeout: time.Minute, LastPong: time.Now()}
	if err := s.Create(ctx, ss, ss.Schedule(true)); err != nil {
		t.Fatal(err)
	}
	var b session.Batch
	b.Connect("/chat", "K")
	b.Broadcast("/chat", []string{"a:b{c}"}, nil, []byte("m"))
	if _, err := s.Commit(ctx, "k", &b); err != nil {
		t.Fatal(err)
	}
	if !s.hub.loggedAfter(ctx, []*session.RoomRef{{Namespace: "/chat", Room: "a:b{c}"}}, session.ID{}) {
		t.Fatalf("no entry found under %q; the log's keys: %q", s.hub.roomLogKey(&session.RoomRef{Namespace: "/chat", Room: "a:b{c}"}), mr.Keys())
	}
}
