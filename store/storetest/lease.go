package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/serverless-socketio/server/session"
)

// runLeases runs the subtests of Acquire, Release and the release inside an Ack.
func runLeases(t *testing.T, setup func(t *testing.T) *env) {
	t.Run("Lease", func(t *testing.T) { testLease(t, setup(t)) })
	t.Run("LeaseExpires", func(t *testing.T) { testLeaseExpires(t, setup(t)) })
	t.Run("LeaseNames", func(t *testing.T) { testLeaseNames(t, setup(t)) })
	t.Run("AckReleases", func(t *testing.T) { testAckReleases(t, setup(t)) })
	t.Run("LeaseOnClosed", func(t *testing.T) { testLeaseOnClosed(t, setup(t)) })
	t.Run("LeaseLastHolder", func(t *testing.T) { testLeaseLastHolder(t, setup(t)) })
	t.Run("AcquireRead", func(t *testing.T) { testAcquireRead(t, setup(t)) })
}

func (e *env) acquire(sid string, l session.Lease, token string, ttl time.Duration) error {
	e.t.Helper()
	_, err := e.acquirePrev(sid, l, token, ttl)
	return err
}

func (e *env) acquirePrev(sid string, l session.Lease, token string, ttl time.Duration) (string, error) {
	e.t.Helper()
	prev, err := e.store.Acquire(e.ctx, sid, l, token, ttl)
	if err != nil && !errors.Is(err, session.ErrBusy) {
		e.t.Fatalf("Acquire(%s, %s, %s): %v", sid[:6], l, token, err)
	}
	return prev, err
}

func (e *env) release(sid string, l session.Lease, token string) {
	e.t.Helper()
	if err := e.store.Release(e.ctx, sid, l, token); err != nil {
		e.t.Fatalf("Release(%s, %s, %s): %v", sid[:6], l, token, err)
	}
}

// testLease: one token at a time holds a lease; its holder renews it; only the holder releases.
func testLease(t *testing.T, e *env) {
	a := e.create()
	if err := e.acquire(a, session.LeasePoll, "p1", 20*time.Second); err != nil {
		t.Fatalf("first Acquire: %v", err)
	}
	if err := e.acquire(a, session.LeasePoll, "p1", 20*time.Second); err != nil {
		t.Fatalf("the holder again: %v, want a renewal", err)
	}
	if err := e.acquire(a, session.LeasePoll, "p2", 20*time.Second); !errors.Is(err, session.ErrBusy) {
		t.Fatalf("another token: %v, want ErrBusy", err)
	}
	e.release(a, session.LeasePoll, "p2")
	if err := e.acquire(a, session.LeasePoll, "p3", 20*time.Second); !errors.Is(err, session.ErrBusy) {
		t.Fatalf("after a release by a token that does not hold it: %v, want ErrBusy", err)
	}
	e.release(a, session.LeasePoll, "p1")
	if err := e.acquire(a, session.LeasePoll, "p2", 20*time.Second); err != nil {
		t.Fatalf("after the holder released: %v", err)
	}
}

// testLeaseExpires: a lease ends ttl after its last Acquire, whether or not its holder is alive.
func testLeaseExpires(t *testing.T, e *env) {
	a := e.create()
	e.acquire(a, session.LeaseWrite, "w1", 10*time.Second)
	e.clock.Advance(8 * time.Second)
	e.acquire(a, session.LeaseWrite, "w1", 10*time.Second) // renewed: ends at 18 s
	e.clock.Advance(8 * time.Second)
	if err := e.acquire(a, session.LeaseWrite, "w2", 10*time.Second); !errors.Is(err, session.ErrBusy) {
		t.Fatalf("8 s after the renewal: %v, want ErrBusy", err)
	}
	e.clock.Advance(3 * time.Second)
	if err := e.acquire(a, session.LeaseWrite, "w2", 10*time.Second); err != nil {
		t.Fatalf("after the lease expired: %v", err)
	}
}

// testLeaseNames: each lease of a session, and each session's lease, is separate.
func testLeaseNames(t *testing.T, e *env) {
	a, b := e.create(), e.create()
	e.acquire(a, session.LeasePoll, "x", 10*time.Second)
	if err := e.acquire(a, session.LeaseWrite, "y", 10*time.Second); err != nil {
		t.Fatalf("another lease of the session: %v", err)
	}
	if err := e.acquire(b, session.LeasePoll, "y", 10*time.Second); err != nil {
		t.Fatalf("the same lease of another session: %v", err)
	}
}

// testAckReleases: an Ack's release gives the lease up with the acknowledgement, by its holder
// only.
func testAckReleases(t *testing.T, e *env) {
	a := e.create()
	e.commit(a, func(b *session.Batch) { b.Send([]byte("m")) })
	e.acquire(a, session.LeasePoll, "p1", 20*time.Second)
	q := e.read(a, 0)
	e.ack(a, session.Ack{Entries: q.Entries, Release: session.LeasePoll, Token: "p2"})
	if err := e.acquire(a, session.LeasePoll, "p3", 20*time.Second); !errors.Is(err, session.ErrBusy) {
		t.Fatalf("after an Ack releasing another token's lease: %v, want ErrBusy", err)
	}
	e.wantTake(a)
	e.ack(a, session.Ack{Release: session.LeasePoll, Token: "p1"})
	if err := e.acquire(a, session.LeasePoll, "p3", 20*time.Second); err != nil {
		t.Fatalf("after the holder's Ack released it: %v", err)
	}
}

// testLeaseOnClosed: leases work on a closed session (the noop a client's close owes is claimed
// with one), and an Ack on it still releases.
func testLeaseOnClosed(t *testing.T, e *env) {
	a := e.create()
	e.acquire(a, session.LeasePoll, "p1", 20*time.Second)
	e.commit(a, func(b *session.Batch) { b.Close(session.ReasonTransportClose, true) })
	if err := e.acquire(a, session.LeaseNoop, "g1", time.Minute); err != nil {
		t.Fatalf("first claim of the noop: %v", err)
	}
	if err := e.acquire(a, session.LeaseNoop, "g2", time.Minute); !errors.Is(err, session.ErrBusy) {
		t.Fatalf("second claim of the noop: %v, want ErrBusy", err)
	}
	e.ack(a, session.Ack{Release: session.LeasePoll, Token: "p1"})
	if err := e.acquire(a, session.LeasePoll, "p2", 20*time.Second); err != nil {
		t.Fatalf("the poll lease after the closed session's Ack released it: %v", err)
	}
}

// testLeaseLastHolder: Acquire names the lease's last holder, whether it released the lease, let
// it expire, or is renewing it (or a failed attempt after it); a release by another token
// changes nothing.
func testLeaseLastHolder(t *testing.T, e *env) {
	a := e.create()
	if prev, err := e.acquirePrev(a, session.LeasePoll, "p1", 10*time.Second); err != nil || prev != "" {
		t.Fatalf("first Acquire: prev %q, %v; want none", prev, err)
	}
	if prev, err := e.acquirePrev(a, session.LeasePoll, "p1", 10*time.Second); err != nil || prev != "p1" {
		t.Fatalf("renewal: prev %q, %v; want p1", prev, err)
	}
	e.release(a, session.LeasePoll, "p1")
	e.release(a, session.LeasePoll, "p9")
	if prev, err := e.acquirePrev(a, session.LeasePoll, "p2", 10*time.Second); err != nil || prev != "p1" {
		t.Fatalf("after p1 released: prev %q, %v; want p1", prev, err)
	}
	e.clock.Advance(11 * time.Second)
	if prev, err := e.acquirePrev(a, session.LeasePoll, "p3", 10*time.Second); err != nil || prev != "p2" {
		t.Fatalf("after p2's hold expired: prev %q, %v; want p2", prev, err)
	}
	e.ack(a, session.Ack{Release: session.LeasePoll, Token: "p3"})
	if prev, err := e.acquirePrev(a, session.LeasePoll, "p4", 10*time.Second); err != nil || prev != "p3" {
		t.Fatalf("after p3's Ack released it: prev %q, %v; want p3", prev, err)
	}
	// A failed Acquire may count as the last attempt, never as anything else.
	if _, err := e.acquirePrev(a, session.LeasePoll, "p5", 10*time.Second); !errors.Is(err, session.ErrBusy) {
		t.Fatalf("p5 while p4 holds: %v, want ErrBusy", err)
	}
	e.release(a, session.LeasePoll, "p4")
	if prev, err := e.acquirePrev(a, session.LeasePoll, "p6", 10*time.Second); err != nil || (prev != "p4" && prev != "p5") {
		t.Fatalf("after p5 failed and p4 released: prev %q, %v; want p4 (or p5, the failed attempt)", prev, err)
	}
}

// testAcquireRead: a session.LeaseReader takes the lease as Acquire does and, when it read, read
// what Read reads; for a session that does not exist it keeps no lease.
func testAcquireRead(t *testing.T, e *env) {
	lr, ok := e.store.(session.LeaseReader)
	if !ok {
		t.Log("the store is no LeaseReader: a GET takes the lease, then reads")
		return
	}
	acquireRead := func(sid, token string) (string, bool, *session.Queued, error, error) {
		t.Helper()
		prev, read, q, qerr, err := lr.AcquireRead(e.ctx, sid, session.LeasePoll, token, 20*time.Second, 0)
		if err != nil && !errors.Is(err, session.ErrBusy) {
			t.Fatalf("AcquireRead(%s): %v", token, err)
		}
		return prev, read, q, qerr, err
	}
	a := e.connect("/", "A")
	e.commit(a, func(b *session.Batch) { b.Send([]byte("m1")) })
	want := payloads(e.read(a, 0).Entries)
	prev, read, q, qerr, err := acquireRead(a, "r1")
	if err != nil || prev != "" {
		t.Fatalf("first AcquireRead: prev %q, %v; want the lease, no last holder", prev, err)
	}
	if read && (qerr != nil || !slices.Equal(payloads(q.Entries), want)) {
		t.Fatalf("AcquireRead read %v (%v); Read reads %q", q, qerr, want)
	}
	if err := e.acquire(a, session.LeasePoll, "r2", 20*time.Second); !errors.Is(err, session.ErrBusy) {
		t.Fatalf("another token while r1 holds the lease: %v, want ErrBusy", err)
	}
	if _, read, _, _, err := acquireRead(a, "r2"); !errors.Is(err, session.ErrBusy) || read {
		t.Fatalf("AcquireRead while r1 holds the lease: read %v, %v; want ErrBusy and no read", read, err)
	}
	e.release(a, session.LeasePoll, "r1")
	if prev, _, _, _, err := acquireRead(a, "r3"); err != nil || (prev != "r1" && prev != "r2") {
		t.Fatalf("after r1 released: prev %q, %v; want the lease, and r1 (or r2, a store that counts failed attempts)", prev, err)
	}

	gone := newSID(t)
	if _, read, _, qerr, err := acquireRead(gone, "g1"); err != nil || (read && !errors.Is(qerr, session.ErrNotFound)) {
		t.Fatalf("AcquireRead of an unknown session: read %v, %v, %v; want ErrNotFound", read, qerr, err)
	} else if !read {
		e.release(gone, session.LeasePoll, "g1")
	}
	if err := e.acquire(gone, session.LeasePoll, "g2", 20*time.Second); err != nil {
		t.Fatalf("after AcquireRead of an unknown session: %v; want no lease kept", err)
	}
}
