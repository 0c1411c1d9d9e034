package handler_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/serverless-socketio/server/handler"
	"github.com/serverless-socketio/server/internal/siotest"
	"github.com/serverless-socketio/server/session"
	"github.com/serverless-socketio/server/store/memory"
)

// stallingStore is a store whose Read, once armed, blocks until its request is cancelled and
// then fails as a network store does when its call is cut short.
type stallingStore struct {
	session.Store
	armed   atomic.Bool
	stalled chan struct{}
}

func (s *stallingStore) Read(ctx context.Context, sid string, max int) (*session.Queued, error) {
	if s.armed.CompareAndSwap(true, false) {
		close(s.stalled)
		<-ctx.Done()
		return nil, fmt.Errorf("stalling store: %w: %w", session.ErrUnavailable, ctx.Err())
	}
	return s.Store.Read(ctx, sid, max)
}

// echoServer serves the raw Engine.IO echo on store, with long holds, until the test ends.
func echoServer(t *testing.T, store session.Store) *httptest.Server {
	t.Helper()
	eng, err := handler.New(handler.Config{
		Store: store, App: handler.Echo{}, PollHold: 5 * time.Second,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(eng)
	t.Cleanup(hs.Close)
	return hs
}

// TestCancelledPollDuringStoreCallClosesSession: a GET the client abandons while the store call
// is in flight (not while the poll waits) ends the session with "transport error" too; the
// cut-short call is not reported as a store failure. (Found by the official Engine.IO suite on
// the DynamoDB store, whose calls are slow enough to be cut short.)
func TestCancelledPollDuringStoreCallClosesSession(t *testing.T) {
	ms := memory.New(memory.Options{})
	store := &stallingStore{Store: ms, stalled: make(chan struct{})}
	hs := echoServer(t, store)
	c := (&siotest.Server{URL: hs.URL + "/socket.io/"}).Open(t)

	store.armed.Store(true)
	abandonGet(t, c.URL, c.SID, ms, func() { <-store.stalled })
}

// slowCloseStore is a store whose commits that close a session take a while to land, as on a
// slow DynamoDB table.
type slowCloseStore struct {
	session.Store
	delay    time.Duration
	acquired chan struct{} // receives each poll lease taken
	// slowAcquire, when set, is taken by the next poll Acquire: it is told the call began, then
	// waits that long before taking the lease.
	slowAcquire atomic.Pointer[slowCall]
}

type slowCall struct {
	began chan struct{}
	wait  time.Duration
}

func (s *slowCloseStore) Acquire(ctx context.Context, sid string, l session.Lease, token string, ttl time.Duration) (string, error) {
	if c := s.slowAcquire.Swap(nil); c != nil && l == session.LeasePoll {
		close(c.began)
		time.Sleep(c.wait)
	}
	prev, err := s.Store.Acquire(ctx, sid, l, token, ttl)
	if l == session.LeasePoll && err == nil {
		select {
		case s.acquired <- struct{}{}:
		default:
		}
	}
	return prev, err
}

func (s *slowCloseStore) Commit(ctx context.Context, sid string, b *session.Batch) (*session.Committed, error) {
	if b.Has(session.OpClose) {
		time.Sleep(s.delay)
	}
	return s.Store.Commit(ctx, sid, b)
}

// TestRequestAfterAbandonedPollFindsSessionClosed: the client abandons a GET and polls again at
// once, before the abandoned GET's close has reached a slow store; the new GET still finds the
// session closed (400), as on the Node server, where the close happens in memory at once. (Found
// by the official Engine.IO suite on a cold DynamoDB Local, about one run in ten.)
func TestRequestAfterAbandonedPollFindsSessionClosed(t *testing.T) {
	store := &slowCloseStore{Store: memory.New(memory.Options{}), delay: 300 * time.Millisecond, acquired: make(chan struct{}, 1)}
	hs := echoServer(t, store)
	// Cancelled as soon as its lease is taken (the GET is in its store calls) and once it holds.
	for _, cancelAfter := range []time.Duration{0, 100 * time.Millisecond} {
		c := (&siotest.Server{URL: hs.URL + "/socket.io/"}).Open(t)
		select {
		case <-store.acquired: // a lease of the handshake's, if any
		default:
		}
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, "GET", c.URL, nil)
		done := make(chan struct{})
		go func() {
			defer close(done)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		}()
		<-store.acquired
		time.Sleep(cancelAfter)
		cancel()
		<-done
		if status, body := siotest.Do(t, "GET", c.URL, ""); status != 400 || body != errorBody(1, "Session ID unknown") {
			t.Fatalf("GET right after one abandoned %v after it took its lease: %d %q, want the session unknown", cancelAfter, status, body)
		}
	}
}

// TestGetDuringAbandonedPollsStoreCall: the client abandons a GET whose first store call is still
// under way (the GET notices only when the call returns) and polls again; the new GET waits for
// the abandoned one, which closes the session, and finds it closed: whether the call ends
// within the grace a GET gives the one before it (100 ms) or after it.
func TestGetDuringAbandonedPollsStoreCall(t *testing.T) {
	store := &slowCloseStore{Store: memory.New(memory.Options{}), delay: 30 * time.Millisecond, acquired: make(chan struct{}, 1)}
	hs := echoServer(t, store)
	for _, callTakes := range []time.Duration{50 * time.Millisecond, 300 * time.Millisecond} {
		c := (&siotest.Server{URL: hs.URL + "/socket.io/"}).Open(t)
		call := &slowCall{began: make(chan struct{}), wait: callTakes}
		store.slowAcquire.Store(call)
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, "GET", c.URL, nil)
		go func() {
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		}()
		<-call.began
		cancel()
		if status, body := siotest.Do(t, "GET", c.URL, ""); status != 400 || body != errorBody(1, "Session ID unknown") {
			t.Fatalf("GET during the abandoned GET's store call of %v: %d %q, want the session unknown", callTakes, status, body)
		}
	}
}
