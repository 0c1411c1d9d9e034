package handler

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/url"
	"testing"

	"github.com/serverless-socketio/server/session"
	"github.com/serverless-socketio/server/store/memory"
)

// nopSender takes every frame: the tests here look at the store.
type nopSender struct{}

func (nopSender) Send(context.Context, string, []byte, bool) error { return nil }
func (nopSender) Close(context.Context, string) error              { return nil }

// pumpedEngine returns an Engine with pumps on a memory store, a session opened over connection
// conn by its $connect.
func pumpedEngine(t *testing.T, conn string) *Engine {
	t.Helper()
	e, err := New(Config{Store: memory.New(memory.Options{}), App: Echo{}, Sender: nopSender{}, Pump: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.WSConnect(context.Background(), conn, url.Values{"EIO": {"4"}, "transport": {"websocket"}}); err != nil {
		t.Fatal(err)
	}
	return e
}

// TestConnSessions: with a pump, a connection's frames load its session by the id remembered at
// its $connect, and still find a connection its session no longer names unknown (a closed
// session, an upgrade probe that ended), as LoadConn does; $disconnect forgets it.
func TestConnSessions(t *testing.T) {
	ctx := context.Background()
	e := pumpedEngine(t, "c1")
	sid, ok := e.conns.get("c1")
	if !ok {
		t.Fatal("the connection's session is not remembered after $connect")
	}
	if st, err := e.loadConn(ctx, "c1"); err != nil || st.ID != sid || st.Conn != "c1" {
		t.Fatalf("loadConn: %+v, %v", st, err)
	}
	e.closeLogged(ctx, sid, session.ReasonTransportError)
	if _, err := e.loadConn(ctx, "c1"); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("loadConn of a closed session's connection: %v, want ErrNotFound", err)
	}
	if err := e.WSDisconnect(ctx, "c1"); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.conns.get("c1"); ok {
		t.Fatal("the connection is still remembered after $disconnect")
	}

	polling, err := e.newSession(ctx, session.Polling, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.WSConnect(ctx, "c2", url.Values{"EIO": {"4"}, "transport": {"websocket"}, "sid": {polling.ID}}); err != nil {
		t.Fatal(err)
	}
	if st, err := e.loadConn(ctx, "c2"); err != nil || st.Probe != "c2" {
		t.Fatalf("loadConn of a probing connection: %+v, %v", st, err)
	}
	var b session.Batch
	b.Probe("") // the probe failed
	if _, err := e.cfg.Store.Commit(ctx, polling.ID, &b); err != nil {
		t.Fatal(err)
	}
	if _, err := e.loadConn(ctx, "c2"); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("loadConn of a connection whose probe ended: %v, want ErrNotFound", err)
	}
}
