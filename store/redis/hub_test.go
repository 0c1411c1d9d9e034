package redis

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	goredis "github.com/redis/go-redis/v9"
)

func testHub(t *testing.T, linger time.Duration) (*hub, *goredis.Client) {
	t.Helper()
	mr := miniredis.RunT(t)
	rdb := goredis.NewClient(&goredis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { rdb.Close() })
	h := newHub(rdb)
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
	w, err := h.watch(ctx, []string{"a"})
	if err != nil {
		t.Fatal(err)
	}
	w.Stop()
	if !subscribed(t, rdb, "a") {
		t.Fatal("unsubscribed at once; want it kept for the linger")
	}
	w, err = h.watch(ctx, []string{"a"})
	if err != nil {
		t.Fatal(err)
	}
	rdb.Publish(ctx, "a", "1")
	select {
	case <-w.C():
	case <-time.After(5 * time.Second):
		t.Fatal("no wake-up on a channel watched again during its linger")
	}
	w.Stop()
	deadline := time.Now().Add(5 * time.Second)
	for subscribed(t, rdb, "a") {
		if time.Now().After(deadline) {
			t.Fatal("still subscribed long after the linger")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestHubWatchSince: a watch reports nothing missed only if its channels were subscribed at the
// mark and had no message since.
func TestHubWatchSince(t *testing.T) {
	h, rdb := testHub(t, time.Hour)
	ctx := context.Background()
	mark := h.mark()
	w, missed, err := h.watchSince(ctx, []string{"a", "b"}, mark)
	if err != nil || !missed {
		t.Fatalf("first watch: missed %v, %v; want missed (not subscribed at the mark)", missed, err)
	}
	w.Stop()

	mark = h.mark()
	w, missed, err = h.watchSince(ctx, []string{"a", "b"}, mark)
	if err != nil || missed {
		t.Fatalf("watch of lingering channels with nothing since the mark: missed %v, %v; want not missed", missed, err)
	}
	w.Stop()

	mark = h.mark()
	rdb.Publish(ctx, "b", "1")
	waitEvents(t, h, mark, 1)
	w, missed, err = h.watchSince(ctx, []string{"a", "b"}, mark)
	if err != nil || !missed {
		t.Fatalf("a message on b after the mark, before the watch: missed %v, %v; want missed", missed, err)
	}
	w.Stop()

	// A message before the mark is not missed: a fetch after the mark saw what it announced.
	mark = h.mark()
	w, missed, err = h.watchSince(ctx, []string{"a", "b"}, mark)
	if err != nil || missed {
		t.Fatalf("message before the mark: missed %v, %v; want not missed", missed, err)
	}
	w.Stop()

	// A channel not subscribed at the mark, with the others lingering: missed.
	mark = h.mark()
	w, missed, err = h.watchSince(ctx, []string{"a", "c"}, mark)
	if err != nil || !missed {
		t.Fatalf("a new channel: missed %v, %v; want missed", missed, err)
	}
	w.Stop()
}

// TestHubWatchSinceAfterExpiry: once a lingering channel is unsubscribed, a watch reports it
// missed (messages published meanwhile never reached the hub).
func TestHubWatchSinceAfterExpiry(t *testing.T) {
	h, rdb := testHub(t, 100*time.Millisecond)
	ctx := context.Background()
	w, err := h.watch(ctx, []string{"a"})
	if err != nil {
		t.Fatal(err)
	}
	w.Stop()
	deadline := time.Now().Add(5 * time.Second)
	for subscribed(t, rdb, "a") {
		if time.Now().After(deadline) {
			t.Fatal("never unsubscribed")
		}
		time.Sleep(20 * time.Millisecond)
	}
	mark := h.mark()
	w, missed, err := h.watchSince(ctx, []string{"a"}, mark)
	if err != nil || !missed {
		t.Fatalf("watch after the linger expired: missed %v, %v; want missed", missed, err)
	}
	w.Stop()
}
