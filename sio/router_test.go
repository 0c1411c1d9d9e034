package sio

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/serverless-socketio/server/engineio"
	"github.com/serverless-socketio/server/session"
)

func TestEventName(t *testing.T) {
	cases := []struct{ in, want string }{
		{"ChatMessage", "chat_message"},
		{"HTTPPing", "http_ping"},
		{"Room2Join", "room2_join"},
		{"A", "a"},
		{"Ping", "ping"},
		{"UserID", "user_id"},
		{"ID", "id"},
		{"XMLHTTPRequest", "xmlhttp_request"},
		{"GetHTTP", "get_http"},
		{"V2", "v2"},
		{"already_snake", "already_snake"},
		{"Chat_Message", "chat_message"},
		{"Élan", "élan"},
		{"ÀBientôt", "à_bientôt"},
		{"", ""},
	}
	for _, tc := range cases {
		if got := eventName(tc.in); got != tc.want {
			t.Errorf("eventName(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// Consumers with one Event method each, for the signature checks of Register.
type (
	evNoParams       struct{}
	evOnlyContext    struct{}
	evNoContext      struct{}
	evSocketFirst    struct{}
	evWrongSecond    struct{}
	evSocketByValue  struct{}
	evReturnsInt     struct{}
	evReturnsTwo     struct{}
	evReturnsErrPtr  struct{}
	evVariadic       struct{}
	evVariadicAck    struct{}
	evPlain          struct{}
	evReturnsError   struct{}
	evAckOnly        struct{}
	evPayloadsAndAck struct{}
	evBareEvent      struct{}
)

func (evNoParams) Namespace() string       { return "/x" }
func (evOnlyContext) Namespace() string    { return "/x" }
func (evNoContext) Namespace() string      { return "/x" }
func (evSocketFirst) Namespace() string    { return "/x" }
func (evWrongSecond) Namespace() string    { return "/x" }
func (evSocketByValue) Namespace() string  { return "/x" }
func (evReturnsInt) Namespace() string     { return "/x" }
func (evReturnsTwo) Namespace() string     { return "/x" }
func (evReturnsErrPtr) Namespace() string  { return "/x" }
func (evVariadic) Namespace() string       { return "/x" }
func (evVariadicAck) Namespace() string    { return "/x" }
func (evPlain) Namespace() string          { return "/x" }
func (evReturnsError) Namespace() string   { return "/x" }
func (evAckOnly) Namespace() string        { return "/x" }
func (evPayloadsAndAck) Namespace() string { return "/x" }
func (evBareEvent) Namespace() string      { return "/x" }

func (evNoParams) EventBad()                                                  {}
func (evOnlyContext) EventBad(context.Context)                                {}
func (evNoContext) EventBad(*Socket, string)                                  {}
func (evSocketFirst) EventBad(*Socket, context.Context)                       {}
func (evWrongSecond) EventBad(context.Context, string)                        {}
func (evSocketByValue) EventBad(context.Context, Socket)                      {}
func (evReturnsInt) EventBad(context.Context, *Socket) int                    { return 0 }
func (evReturnsTwo) EventBad(context.Context, *Socket) (int, error)           { return 0, nil }
func (evReturnsErrPtr) EventBad(context.Context, *Socket) *ConnectError       { return nil }
func (evVariadic) EventBad(context.Context, *Socket, ...string)               {}
func (evVariadicAck) EventBad(context.Context, *Socket, ...Ack)               {}
func (evPlain) EventGood(context.Context, *Socket)                            {}
func (evReturnsError) EventGood(context.Context, *Socket, string) error       { return nil }
func (evAckOnly) EventGood(context.Context, *Socket, Ack)                     {}
func (evPayloadsAndAck) EventGood(context.Context, *Socket, int, []byte, Ack) {}

// Event alone names no event: it is not a handler, whatever its signature.
func (evBareEvent) Event(int) string { return "" }

type nsOnly string

func (n nsOnly) Namespace() string { return string(n) }

func quietRouter() *Router {
	return NewRouter(slog.New(slog.NewTextHandler(io.Discard, nil)))
}

func TestRegister(t *testing.T) {
	cases := []struct {
		name    string
		c       Consumer
		opts    []Option
		wantErr string // a part of the error naming the culprit; "" for success
		events  []string
	}{
		{name: "no parameters", c: evNoParams{}, wantErr: "EventBad"},
		{name: "context only", c: evOnlyContext{}, wantErr: "EventBad"},
		{name: "missing context", c: evNoContext{}, wantErr: "EventBad"},
		{name: "socket before context", c: evSocketFirst{}, wantErr: "EventBad"},
		{name: "second parameter not *Socket", c: evWrongSecond{}, wantErr: "EventBad"},
		{name: "Socket by value", c: evSocketByValue{}, wantErr: "EventBad"},
		{name: "returns int", c: evReturnsInt{}, wantErr: "EventBad"},
		{name: "returns two values", c: evReturnsTwo{}, wantErr: "EventBad"},
		{name: "returns a concrete error type", c: evReturnsErrPtr{}, wantErr: "EventBad"},
		{name: "variadic payload", c: evVariadic{}, wantErr: "EventBad"},
		{name: "variadic ack", c: evVariadicAck{}, wantErr: "EventBad"},
		{name: "namespace without slash", c: nsOnly("chat"), wantErr: `"chat"`},
		{name: "empty namespace", c: nsOnly(""), wantErr: `""`},
		{name: "On with an int", c: nsOnly("/x"), opts: []Option{On("user:join", 42)}, wantErr: "user:join"},
		{name: "On with nil", c: nsOnly("/x"), opts: []Option{On("user:join", nil)}, wantErr: "user:join"},
		{name: "On with a bad function", c: nsOnly("/x"), opts: []Option{On("user:join", func(int) {})}, wantErr: "user:join"},
		{name: "On with a bad second handler", c: nsOnly("/x"), opts: []Option{
			On("a:ok", func(context.Context, *Socket) {}),
			On("b:bad", func(context.Context, *Socket) int { return 0 }),
		}, wantErr: "b:bad"},

		{name: "no parameters but context and socket", c: evPlain{}, events: []string{"good"}},
		{name: "returns error", c: evReturnsError{}, events: []string{"good"}},
		{name: "ack only", c: evAckOnly{}, events: []string{"good"}},
		{name: "payloads and ack", c: evPayloadsAndAck{}, events: []string{"good"}},
		{name: "method named Event", c: evBareEvent{}, events: []string{}},
		{name: "On with colons", c: nsOnly("/x"), opts: []Option{
			On("user:join", func(context.Context, *Socket, string, Ack) error { return nil }),
			On("user:leave", func(context.Context, *Socket) {}),
		}, events: []string{"user:join", "user:leave"}},
		{name: "On next to a method", c: evPlain{}, opts: []Option{On("other", func(context.Context, *Socket) {})}, events: []string{"good", "other"}},
		{name: "default namespace", c: nsOnly("/"), events: []string{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := quietRouter()
			err := r.Register(tc.c, tc.opts...)
			if tc.wantErr != "" {
				if err == nil {
					t.Fatal("Register succeeded")
				}
				if !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Register error %q does not name %s", err, tc.wantErr)
				}
				// A failed registration leaves the namespace free.
				if ns := r.nsps[tc.c.Namespace()]; ns != nil && ns.consumer != nil {
					t.Fatalf("namespace %q registered after an error", tc.c.Namespace())
				}
				return
			}
			if err != nil {
				t.Fatalf("Register: %v", err)
			}
			ns := r.nsps[tc.c.Namespace()]
			if ns == nil || ns.consumer == nil {
				t.Fatalf("namespace %q not registered", tc.c.Namespace())
			}
			got := make([]string, 0, len(ns.events))
			for name := range ns.events {
				got = append(got, name)
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.events) {
				t.Fatalf("events %q, want %q", got, tc.events)
			}
		})
	}
}

func TestRegisterTwice(t *testing.T) {
	cases := []struct {
		name        string
		first, then Consumer
		wantErr     bool
	}{
		{"same namespace", nsOnly("/x"), evPlain{}, true},
		{"default namespace twice", nsOnly("/"), nsOnly("/"), true},
		{"other namespace", nsOnly("/y"), evPlain{}, false},
		{"after a failed registration", evNoParams{}, evPlain{}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := quietRouter()
			_ = r.Register(tc.first) // may fail on purpose ("after a failed registration")
			err := r.Register(tc.then)
			if (err != nil) != tc.wantErr {
				t.Fatalf("second Register: err = %v, want error: %v", err, tc.wantErr)
			}
		})
	}
}

// TestEventForRemovedNamespace: a session loaded with a socket in a namespace the router does not
// serve (a deploy removed the consumer while clients were connected) must have its events
// ignored, as CONNECT and DISCONNECT already handle that case.
func TestEventForRemovedNamespace(t *testing.T) {
	r := quietRouter()
	st := &session.State{Sockets: map[string]*session.Socket{
		"/gone": {Namespace: "/gone", ID: "abc", Rooms: []string{"abc"}},
	}}
	var b session.Batch
	err := r.OnMessages(context.Background(), st, []engineio.Packet{
		{Type: engineio.PacketMessage, Data: []byte(`2/gone,1["chat_message",{"text":"x"}]`)},
	}, &b)
	if err != nil || b.Len() != 0 {
		t.Fatalf("OnMessages = %v with %d effects, want the event ignored", err, b.Len())
	}
}

// TestOnMessagesWithinOneRequest drives the router directly: a CONNECT and an event in one
// request, the socket created by the first packet serving the second.
func TestOnMessagesWithinOneRequest(t *testing.T) {
	r := quietRouter()
	err := r.Register(nsOnly("/x"), On("ping", func(ctx context.Context, s *Socket, ack Ack) {
		s.Join("r")
		ack(s.Rooms())
	}))
	if err != nil {
		t.Fatal(err)
	}
	st := &session.State{Sockets: map[string]*session.Socket{}}
	var b session.Batch
	err = r.OnMessages(context.Background(), st, []engineio.Packet{
		{Type: engineio.PacketMessage, Data: []byte(`0/x,`)},
		{Type: engineio.PacketMessage, Data: []byte(`2/x,7["ping"]`)},
	}, &b)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Ops) != 4 {
		t.Fatalf("ops %+v, want connect, CONNECT answer, join, ack", b.Ops)
	}
	id := b.Ops[0].Socket
	rooms, _ := json.Marshal(slices.Sorted(slices.Values([]string{id, "r"})))
	want := []session.Op{
		{Kind: session.OpConnect, Namespace: "/x", Socket: id},
		{Kind: session.OpSend, Payload: []byte(`40/x,{"sid":"` + id + `"}`)},
		{Kind: session.OpJoin, Namespace: "/x", Room: "r"},
		{Kind: session.OpSend, Payload: []byte(`43/x,7[` + string(rooms) + `]`)},
	}
	for i, op := range b.Ops {
		w := want[i]
		if op.Kind != w.Kind || op.Namespace != w.Namespace || op.Socket != w.Socket || op.Room != w.Room || string(op.Payload) != string(w.Payload) {
			t.Errorf("op %d = %+v (payload %q), want %+v (payload %q)", i, op, op.Payload, w, w.Payload)
		}
	}
	if len(id) < 20 {
		t.Errorf("socket id %q: want at least 120 bits", id)
	}
}
