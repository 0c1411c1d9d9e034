package sio_test

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/serverless-socketio/server/handler"
	"github.com/serverless-socketio/server/internal/siotest"
	"github.com/serverless-socketio/server/sio"
)

// These tests drive the real HTTP handler on miniredis with raw long-polling payloads, so that
// what is checked is what a Socket.IO client receives.

// serve serves r with a short poll hold: a GET that finds nothing answers a noop ("6") instead
// of holding for 25 s. No assertion depends on how long anything takes.
func serve(t *testing.T, r *sio.Router) *siotest.Server {
	t.Helper()
	return siotest.Start(t, r, handler.Config{PollHold: 200 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
}

func newRouter() *sio.Router { return sio.NewRouter(slog.New(slog.DiscardHandler)) }

func mustRegister(t *testing.T, r *sio.Router, c sio.Consumer, opts ...sio.Option) {
	t.Helper()
	if err := r.Register(c, opts...); err != nil {
		t.Fatal(err)
	}
}

// expect fails unless the packets of one GET are exactly want.
func expect(t *testing.T, who string, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s received\n  %q\nwant\n  %q", who, got, want)
	}
}

// noop is what a GET answers when nothing was queued for it during its hold.
const noop = "6"

func js(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// consumer is a configurable consumer: its events are given with sio.On, its Connect runs
// connect (accepting when nil), and its Disconnect records the reasons by socket id.
type consumer struct {
	nsp     string
	connect func(ctx context.Context, s *sio.Socket, auth json.RawMessage) error

	mu      sync.Mutex
	reasons map[string][]string
}

func (c *consumer) Namespace() string { return c.nsp }

func (c *consumer) Connect(ctx context.Context, s *sio.Socket, auth json.RawMessage) error {
	if c.connect == nil {
		return nil
	}
	return c.connect(ctx, s, auth)
}

func (c *consumer) Disconnect(ctx context.Context, s *sio.Socket, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reasons == nil {
		c.reasons = map[string][]string{}
	}
	c.reasons[s.ID()] = append(c.reasons[s.ID()], reason)
}

func (c *consumer) disconnects(id string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.reasons[id])
}

// pong answers "ping" with an ack: a marker that the namespace still serves the client.
var pong = sio.On("ping", func(ctx context.Context, s *sio.Socket, ack sio.Ack) {
	if ack != nil {
		ack("pong")
	}
})

// point and file are event payloads.
type point struct {
	X int `json:"x"`
	Y int `json:"y"`
}

type file struct {
	Name string `json:"name"`
	Data []byte `json:"data"`
}

// typed serves /x with an event method per payload shape; each acks what it decoded.
type typed struct{}

func (typed) Namespace() string { return "/x" }

func (typed) EventStruct(ctx context.Context, s *sio.Socket, p point, ack sio.Ack)  { ack(p) }
func (typed) EventString(ctx context.Context, s *sio.Socket, v string, ack sio.Ack) { ack(v) }
func (typed) EventInt(ctx context.Context, s *sio.Socket, v int, ack sio.Ack)       { ack(v) }
func (typed) EventRaw(ctx context.Context, s *sio.Socket, v json.RawMessage, ack sio.Ack) {
	ack(string(v))
}
func (typed) EventAny(ctx context.Context, s *sio.Socket, v any, ack sio.Ack) {
	ack(fmt.Sprintf("%T", v))
}
func (typed) EventBytes(ctx context.Context, s *sio.Socket, v []byte, ack sio.Ack) {
	ack(fmt.Sprint(v))
}
func (typed) EventFile(ctx context.Context, s *sio.Socket, f file, ack sio.Ack) {
	ack(f.Name, fmt.Sprint(f.Data))
}
func (typed) EventTwoBlobs(ctx context.Context, s *sio.Socket, a, b []byte, ack sio.Ack) {
	ack(fmt.Sprint(a), fmt.Sprint(b))
}
func (typed) EventPointer(ctx context.Context, s *sio.Socket, p *point, ack sio.Ack) {
	ack(p == nil, p)
}
func (typed) EventMulti(ctx context.Context, s *sio.Socket, a string, b int, c point, ack sio.Ack) {
	ack(a, b, c)
}

// EventNoPayload emits "ran" and acks when asked to.
func (typed) EventNoPayload(ctx context.Context, s *sio.Socket, ack sio.Ack) error {
	if err := s.Emit("ran"); err != nil {
		return err
	}
	if ack != nil {
		ack("called")
	}
	return nil
}

// EventNoAck takes no Ack: a client asking for one gets none.
func (typed) EventNoAck(ctx context.Context, s *sio.Socket) error { return s.Emit("no_ack_ran") }

func (typed) EventHTTPPing(ctx context.Context, s *sio.Socket, ack sio.Ack) { ack("pong") }
func (typed) EventAckTwice(ctx context.Context, s *sio.Socket, ack sio.Ack) { ack(1); ack(2) }
func (typed) EventAckMany(ctx context.Context, s *sio.Socket, ack sio.Ack) {
	ack("a", 1, true, nil, []int{2})
}
func (typed) EventAckNone(ctx context.Context, s *sio.Socket, ack sio.Ack) { ack() }
func (typed) EventAckBytes(ctx context.Context, s *sio.Socket, ack sio.Ack) {
	ack("x", []byte{1, 2, 3})
}
func (typed) EventEmitBin(ctx context.Context, s *sio.Socket) error {
	return s.Emit("bin", []byte{1, 2, 3})
}
func (typed) EventEmitMixed(ctx context.Context, s *sio.Socket) error {
	return s.Emit("mixed", "text", []byte{1}, []byte{2})
}
func (typed) EventEmitNone(ctx context.Context, s *sio.Socket) error { return s.Emit("none") }
func (typed) EventBroadcastBin(ctx context.Context, s *sio.Socket) error {
	return s.Server().Emit("bin", []byte{1, 2, 3})
}

const placeholder0 = `{"_placeholder":true,"num":0}`
const placeholder1 = `{"_placeholder":true,"num":1}`

// TestEventDispatch sends one POST per case to a fresh socket of /x and checks the GET after it:
// payload decoding, acks, binary attachments in and out.
func TestEventDispatch(t *testing.T) {
	r := newRouter()
	mustRegister(t, r, typed{},
		sio.On("user:join", func(ctx context.Context, s *sio.Socket, name string, ack sio.Ack) {
			ack("joined " + name)
		}),
		sio.On("room:leave", func(ctx context.Context, s *sio.Socket) error { return s.Emit("room:left") }),
	)
	srv := serve(t, r)

	cases := []struct {
		name string
		post string
		want []string
	}{
		{"struct", `42/x,1["struct",{"x":1,"y":2}]`, []string{`43/x,1[{"x":1,"y":2}]`}},
		{"string", `42/x,2["string","héllo ✓"]`, []string{`43/x,2["héllo ✓"]`}},
		{"int", `42/x,3["int",-7]`, []string{`43/x,3[-7]`}},
		{"raw JSON kept verbatim", `42/x,4["raw",{"a":[1, 2]}]`, []string{`43/x,4["{\"a\":[1, 2]}"]`}},
		{"interface", `42/x,5["any",{"a":1}]`, []string{`43/x,5["map[string]interface {}"]`}},
		{"binary attachment", "451-/x,6[\"bytes\"," + placeholder0 + "]\x1ebAQID", []string{`43/x,6["[1 2 3]"]`}},
		{"empty binary attachment", "451-/x,6[\"bytes\"," + placeholder0 + "]\x1eb", []string{`43/x,6["[]"]`}},
		{"attachment inside a struct", "451-/x,7[\"file\",{\"name\":\"a.bin\",\"data\":" + placeholder0 + "}]\x1ebAQID", []string{`43/x,7["a.bin","[1 2 3]"]`}},
		{"two attachments", "452-/x,8[\"two_blobs\"," + placeholder0 + "," + placeholder1 + "]\x1ebAQID\x1ebBAU=", []string{`43/x,8["[1 2 3]","[4 5]"]`}},
		{"attachments in reverse order", "452-/x,8[\"two_blobs\"," + placeholder1 + "," + placeholder0 + "]\x1ebAQID\x1ebBAU=", []string{`43/x,8["[4 5]","[1 2 3]"]`}},
		{"several payload parameters", `42/x,9["multi","a",2,{"x":3}]`, []string{`43/x,9["a",2,{"x":3,"y":0}]`}},
		{"missing arguments are zero values", `42/x,10["multi"]`, []string{`43/x,10["",0,{"x":0,"y":0}]`}},
		{"some arguments missing", `42/x,10["multi","a"]`, []string{`43/x,10["a",0,{"x":0,"y":0}]`}},
		{"extra arguments ignored", `42/x,11["int",1,2,3]`, []string{`43/x,11[1]`}},
		{"pointer parameter absent", `42/x,12["pointer"]`, []string{`43/x,12[true,null]`}},
		{"pointer parameter present", `42/x,13["pointer",{"x":1}]`, []string{`43/x,13[false,{"x":1,"y":0}]`}},
		{"no payload, with ack", `42/x,14["no_payload"]`, []string{`42/x,["ran"]`, `43/x,14["called"]`}},
		{"no payload, no ack id: ack is nil", `42/x,["no_payload"]`, []string{`42/x,["ran"]`}},
		{"handler without Ack sends no ack", `42/x,15["no_ack"]`, []string{`42/x,["no_ack_ran"]`}},
		{"acronym method name", `42/x,16["http_ping"]`, []string{`43/x,16["pong"]`}},
		{"Go method name is not an event", `42/x,16["HTTPPing"]` + "\x1e" + `42/x,17["int",1]`, []string{`43/x,17[1]`}},
		{"On with a colon", `42/x,17["user:join","ann"]`, []string{`43/x,17["joined ann"]`}},
		{"On without payload", `42/x,["room:leave"]`, []string{`42/x,["room:left"]`}},
		{"ack called twice sends once", `42/x,18["ack_twice"]`, []string{`43/x,18[1]`}},
		{"ack with several arguments", `42/x,19["ack_many"]`, []string{`43/x,19["a",1,true,null,[2]]`}},
		{"ack with no argument", `42/x,20["ack_none"]`, []string{`43/x,20[]`}},
		{"large ack id", `42/x,18446744073709551615["int",1]`, []string{`43/x,18446744073709551615[1]`}},
		{"binary ack", `42/x,21["ack_bytes"]`, []string{`461-/x,21["x",` + placeholder0 + `]`, "bAQID"}},
		{"binary emit", `42/x,["emit_bin"]`, []string{`451-/x,["bin",` + placeholder0 + `]`, "bAQID"}},
		{"binary emit with text", `42/x,["emit_mixed"]`, []string{`452-/x,["mixed","text",` + placeholder0 + `,` + placeholder1 + `]`, "bAQ==", "bAg=="}},
		{"emit without arguments", `42/x,["emit_none"]`, []string{`42/x,["none"]`}},
		{"binary broadcast", `42/x,["broadcast_bin"]`, []string{`451-/x,["bin",` + placeholder0 + `]`, "bAQID"}},
		{"type mismatch drops the event only", `42/x,22["int","x"]` + "\x1e" + `42/x,23["int",5]`, []string{`43/x,23[5]`}},
		{"unknown event ignored", `42/x,24["nope",1]` + "\x1e" + `42/x,25["int",1]`, []string{`43/x,25[1]`}},
		{"ack from the client ignored", `43/x,3["late"]` + "\x1e" + `42/x,26["int",2]`, []string{`43/x,26[2]`}},
		{"binary ack from the client ignored", "461-/x,3[" + placeholder0 + "]\x1ebAQID\x1e" + `42/x,27["int",3]`, []string{`43/x,27[3]`}},
		{"events in order", `42/x,1["int",1]` + "\x1e" + `42/x,2["string","b"]` + "\x1e" + `42/x,3["int",3]`, []string{`43/x,1[1]`, `43/x,2["b"]`, `43/x,3[3]`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := srv.Open(t)
			c.Connect("/x")
			c.Post(tc.post)
			expect(t, "client", c.Get(), tc.want...)
		})
	}
}

// TestDefaultNamespace: "/" exists without a consumer (CONNECT accepted, events ignored), and a
// consumer may serve it; packets of "/" carry no namespace.
func TestDefaultNamespace(t *testing.T) {
	t.Run("without consumer", func(t *testing.T) {
		r := newRouter()
		mustRegister(t, r, &consumer{nsp: "/y"}, pong)
		srv := serve(t, r)
		c := srv.Open(t)
		sid := connectDefault(t, c)
		c.Connect("/y")
		c.Post(`421["ping"]` + "\x1e" + `42/y,2["ping"]`)
		expect(t, "client", c.Get(), `43/y,2["pong"]`)
		// Connecting again answers the same socket.
		if again := connectDefault(t, c); again != sid {
			t.Fatalf("second CONNECT / answered sid %q, want %q", again, sid)
		}
	})
	t.Run("with consumer", func(t *testing.T) {
		r := newRouter()
		mustRegister(t, r, &consumer{nsp: "/"}, pong, sio.On("bin", func(ctx context.Context, s *sio.Socket, ack sio.Ack) {
			ack([]byte{1})
		}))
		srv := serve(t, r)
		c := srv.Open(t)
		connectDefault(t, c)
		c.Post(`421["ping"]` + "\x1e" + `422["bin"]`)
		expect(t, "client", c.Get(), `431["pong"]`, "461-2["+placeholder0+"]", "bAQ==")
	})
}

// connectDefault connects the client to "/" (siotest.Client.Connect writes "40<nsp>,", which is
// not how the main namespace is addressed) and returns the socket id.
func connectDefault(t *testing.T, c *siotest.Client) string {
	t.Helper()
	c.Post("40")
	got := c.Get()
	var ans struct{ SID string }
	if len(got) != 1 || !strings.HasPrefix(got[0], "40{") {
		t.Fatalf("CONNECT / answered %q", got)
	}
	if err := json.Unmarshal([]byte(got[0][2:]), &ans); err != nil || ans.SID == "" {
		t.Fatalf("CONNECT / answered %q: %v", got, err)
	}
	return ans.SID
}

// TestConnectInOneRequest: a CONNECT and an event in one POST; two CONNECTs answer one socket.
func TestConnectInOneRequest(t *testing.T) {
	r := newRouter()
	mustRegister(t, r, &consumer{nsp: "/x"}, pong)
	srv := serve(t, r)
	c := srv.Open(t)
	c.Post("40/x,\x1e40/x,\x1e" + `42/x,1["ping"]`)
	got := c.Get()
	if len(got) != 3 || !strings.HasPrefix(got[0], `40/x,{"sid":"`) || got[1] != got[0] || got[2] != `43/x,1["pong"]` {
		t.Fatalf("got %q, want the same CONNECT answer twice, then the ack", got)
	}
}

// failingEvents: "fail" records every kind of effect, then fails as its argument says; "state"
// acks the socket's rooms and data; "ok" broadcasts to /x and /y.
func failingEvents() []sio.Option {
	return []sio.Option{
		sio.On("fail", func(ctx context.Context, s *sio.Socket, how string, ack sio.Ack) error {
			s.Join("r")
			s.Leave(s.ID())
			if err := s.SetData(map[string]string{"dirty": how}); err != nil {
				return err
			}
			if err := s.Emit("own", how); err != nil {
				return err
			}
			if err := s.Server().Emit("all", how); err != nil {
				return err
			}
			if err := s.Server().Emit("other", how, sio.Namespace("/y")); err != nil {
				return err
			}
			if ack != nil {
				ack("early")
			}
			if how != "keep" {
				s.Disconnect()
			}
			switch how {
			case "error":
				return errors.New("boom")
			case "connect error":
				return &sio.ConnectError{Message: "no"}
			case "panic":
				panic("boom")
			case "panic error":
				panic(errors.New("boom"))
			case "panic nil":
				panic(nil)
			case "nil Ack called":
				var nothing sio.Ack
				nothing("x")
			}
			return nil
		}),
		sio.On("state", func(ctx context.Context, s *sio.Socket, ack sio.Ack) { ack(s.Rooms(), s.Data()) }),
		sio.On("ok", func(ctx context.Context, s *sio.Socket) error {
			if err := s.Server().Emit("ok", s.ID()); err != nil {
				return err
			}
			return s.Server().Emit("ok", s.ID(), sio.Namespace("/y"))
		}),
	}
}

// TestHookFailure: a hook that fails or panics has none of its effects (Join, Leave, SetData,
// Emit, Server().Emit, ack, Disconnect) committed, even within the same request, and the session
// carries on.
func TestHookFailure(t *testing.T) {
	r := newRouter()
	mustRegister(t, r, &consumer{nsp: "/x"}, failingEvents()...)
	mustRegister(t, r, &consumer{nsp: "/y"})
	srv := serve(t, r)

	for _, how := range []string{"error", "connect error", "panic", "panic error", "panic nil", "nil Ack called"} {
		t.Run(how, func(t *testing.T) {
			a, b := srv.Open(t), srv.Open(t)
			id, _ := a.Connect("/x")
			a.Connect("/y")
			b.Connect("/x")
			b.Connect("/y")
			state := `[` + js([]string{id}) + `,null]`

			a.Post(`42/x,1["fail",` + js(how) + `]` + "\x1e" + `42/x,2["state"]`)
			expect(t, "failing client, same request", a.Get(), `43/x,2`+state)

			a.Post(`42/x,3["state"]`)
			expect(t, "failing client, next request", a.Get(), `43/x,3`+state)

			a.Post(`42/x,["ok"]`)
			ok := `["ok",` + js(id) + `]`
			expect(t, "failing client", a.Get(), `42/x,`+ok, `42/y,`+ok)
			expect(t, "witness", b.Get(), `42/x,`+ok, `42/y,`+ok)
		})
	}
	// The control cases: without a failure, every effect above is committed.
	t.Run("success", func(t *testing.T) {
		a, b := srv.Open(t), srv.Open(t)
		a.Connect("/x")
		b.Connect("/x")
		b.Connect("/y")
		a.Post(`42/x,1["fail","keep"]` + "\x1e" + `42/x,2["state"]`)
		state := `[["r"],{"dirty":"keep"}]`
		expect(t, "client", a.Get(), `42/x,["own","keep"]`, `42/x,["all","keep"]`, `43/x,1["early"]`, `43/x,2`+state)
		expect(t, "witness", b.Get(), `42/x,["all","keep"]`, `42/y,["other","keep"]`)
		a.Post(`42/x,3["state"]`)
		expect(t, "client, next request", a.Get(), `43/x,3`+state)
	})
	t.Run("success with Disconnect", func(t *testing.T) {
		a := srv.Open(t)
		a.Connect("/x")
		a.Post(`42/x,1["fail","no"]`)
		expect(t, "client", a.Get(), `42/x,["own","no"]`, `42/x,["all","no"]`, `43/x,1["early"]`, `41/x,`)
	})
}

// TestConnectHook: Connect refuses with CONNECT_ERROR (message, and data of a *ConnectError);
// a refused or panicking Connect commits nothing and leaves the client unconnected; a client
// may then try again.
func TestConnectHook(t *testing.T) {
	unmarshalable := make(chan int)
	c := &consumer{nsp: "/x", connect: func(ctx context.Context, s *sio.Socket, auth json.RawMessage) error {
		var a struct{ Case string }
		if len(auth) > 0 {
			if err := json.Unmarshal(auth, &a); err != nil {
				return err
			}
		}
		s.Join("r")
		if err := s.SetData(a.Case); err != nil {
			return err
		}
		if err := s.Emit("welcome"); err != nil {
			return err
		}
		if err := s.Server().Emit("joined", a.Case); err != nil {
			return err
		}
		switch a.Case {
		case "error":
			return errors.New("nope")
		case "connect error":
			return &sio.ConnectError{Message: "no", Data: map[string]any{"code": 42, "retry": false}}
		case "connect error without data":
			return &sio.ConnectError{Message: "no"}
		case "wrapped connect error":
			return fmt.Errorf("auth: %w", &sio.ConnectError{Message: "no", Data: "x"})
		case "unmarshalable data":
			return &sio.ConnectError{Message: "no", Data: unmarshalable}
		case "quoted message":
			return errors.New(`say "no"` + "\n")
		case "panic":
			panic("boom")
		}
		return nil
	}}
	r := newRouter()
	mustRegister(t, r, c, pong, sio.On("state", func(ctx context.Context, s *sio.Socket, ack sio.Ack) {
		ack(s.Rooms(), s.Data())
	}))
	mustRegister(t, r, &consumer{nsp: "/y"}, pong)
	srv := serve(t, r)

	cases := []struct {
		name string
		want string // the CONNECT_ERROR; a prefix when it ends with "*"
	}{
		{"error", `44/x,{"message":"nope"}`},
		{"connect error", `44/x,{"message":"no","data":{"code":42,"retry":false}}`},
		{"connect error without data", `44/x,{"message":"no"}`},
		{"wrapped connect error", `44/x,{"message":"no","data":"x"}`},
		{"unmarshalable data", `44/x,{"message":"no"}`},
		{"quoted message", `44/x,{"message":"say \"no\"\n"}`},
		{"panic", `44/x,{"message":*`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			witness, cl := srv.Open(t), srv.Open(t)
			witness.Connect("/x")
			cl.Connect("/y")
			cl.Post(`40/x,{"case":` + js(tc.name) + `}`)
			got := cl.Get()
			match := len(got) == 1 && got[0] == tc.want
			if prefix, ok := strings.CutSuffix(tc.want, "*"); ok {
				match = len(got) == 1 && strings.HasPrefix(got[0], prefix)
			}
			if !match {
				t.Fatalf("CONNECT answered %q, want only %q", got, tc.want)
			}
			// Not connected: the /x event is ignored, the /y one answered.
			cl.Post(`42/x,1["ping"]` + "\x1e" + `42/y,2["ping"]`)
			expect(t, "refused client", cl.Get(), `43/y,2["pong"]`)
			// Accepted on a second try, with the effects of that Connect only.
			id, welcome := cl.Connect("/x")
			expect(t, "accepted client", welcome, `42/x,["welcome"]`, `42/x,["joined",""]`)
			cl.Post(`42/x,3["state"]`)
			expect(t, "accepted client", cl.Get(), `43/x,3[`+js(withID(id, "r"))+`,""]`)
			expect(t, "witness", witness.Get(), `42/x,["joined",""]`)
		})
	}
}

// emitRequest describes the Server().Emit that the "emit" event makes: Payload, or Args as an
// sio.Args, or the bytes 1, 2, 3 as one binary argument; To, Except and Nsp become options.
type emitRequest struct {
	Payload json.RawMessage   `json:"payload"`
	Args    []json.RawMessage `json:"args"`
	Bytes   bool              `json:"bytes"`
	To      []string          `json:"to"`
	Except  []string          `json:"except"`
	Nsp     string            `json:"nsp"`
}

// roomEvents: "ops" joins (+room) and leaves (-room; "$id" stands for the socket id) and acks
// Rooms(); "state" acks Rooms() and Data(); "set" calls SetData with each element of its array
// argument; "emit" broadcasts "ev" as an emitRequest says, then "end" to /x and to /y.
func roomEvents() []sio.Option {
	return []sio.Option{
		sio.On("ops", func(ctx context.Context, s *sio.Socket, ops []string, ack sio.Ack) {
			for _, op := range ops {
				room := strings.ReplaceAll(op[1:], "$id", s.ID())
				if op[0] == '+' {
					s.Join(room)
				} else {
					s.Leave(room)
				}
			}
			ack(s.Rooms())
		}),
		sio.On("state", func(ctx context.Context, s *sio.Socket, ack sio.Ack) { ack(s.Rooms(), s.Data()) }),
		sio.On("set", func(ctx context.Context, s *sio.Socket, v []json.RawMessage) error {
			for _, d := range v {
				if err := s.SetData(d); err != nil {
					return err
				}
			}
			return nil
		}),
		sio.On("emit", func(ctx context.Context, s *sio.Socket, req emitRequest) error {
			var payload any = req.Payload
			switch {
			case req.Bytes:
				payload = []byte{1, 2, 3}
			case req.Args != nil:
				args := sio.Args{}
				for _, a := range req.Args {
					args = append(args, a)
				}
				payload = args
			}
			var opts []sio.EmitOption
			if req.To != nil {
				opts = append(opts, sio.To(req.To...))
			}
			if req.Except != nil {
				opts = append(opts, sio.Except(req.Except...))
			}
			if req.Nsp != "" {
				opts = append(opts, sio.Namespace(req.Nsp))
			}
			if err := s.Server().Emit("ev", payload, opts...); err != nil {
				return err
			}
			if err := s.Server().Emit("end", sio.Args{}, sio.Namespace("/x")); err != nil {
				return err
			}
			return s.Server().Emit("end", sio.Args{}, sio.Namespace("/y"))
		}),
	}
}

func roomsServer(t *testing.T) *siotest.Server {
	t.Helper()
	r := newRouter()
	mustRegister(t, r, &consumer{nsp: "/x"}, roomEvents()...)
	mustRegister(t, r, &consumer{nsp: "/y"}, roomEvents()...)
	return serve(t, r)
}

// withID returns rooms plus id, sorted as Rooms() returns them.
func withID(id string, rooms ...string) []string {
	return slices.Sorted(slices.Values(append(rooms, id)))
}

// TestRooms: Rooms() includes the socket's own room and reflects Join and Leave within the hook;
// the result persists to the next request.
func TestRooms(t *testing.T) {
	srv := roomsServer(t)
	cases := []struct {
		name    string
		steps   [][]string // ops of one request each
		want    []string   // rooms besides the socket's own after the last step
		ownGone bool       // the socket left its own room
	}{
		{name: "join sorted", steps: [][]string{{"+b", "+a"}}, want: []string{"a", "b"}},
		{name: "join then leave", steps: [][]string{{"+a", "-a"}}, want: []string{}},
		{name: "join twice", steps: [][]string{{"+a", "+a"}}, want: []string{"a"}},
		{name: "empty room name is ignored", steps: [][]string{{"+"}}, want: []string{}},
		{name: "leave a room not joined", steps: [][]string{{"-nope"}}, want: []string{}},
		{name: "across requests", steps: [][]string{{"+b", "+c"}, {"+a", "-b"}}, want: []string{"a", "c"}},
		{name: "leave in a later request", steps: [][]string{{"+a"}, {"-a"}}, want: []string{}},
		{name: "join again in a later request", steps: [][]string{{"+a"}, {"+a"}}, want: []string{"a"}},
		{name: "leave and join again", steps: [][]string{{"+a"}, {"-a", "+a"}}, want: []string{"a"}},
		{name: "unusual room names", steps: [][]string{{"+ü", "+a b", "+/x", "+,", "+\x1e"}}, want: []string{"\x1e", ",", "/x", "a b", "ü"}},
		{name: "leave own room", steps: [][]string{{"+a", "-$id"}}, want: []string{"a"}, ownGone: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := srv.Open(t)
			id, _ := c.Connect("/x")
			want := withID(id, tc.want...)
			if tc.ownGone {
				want = slices.Clone(tc.want)
			}
			for i, ops := range tc.steps {
				c.Post(`42/x,1["ops",` + js(ops) + `]`)
				got := c.Get()
				if i == len(tc.steps)-1 {
					expect(t, "ops", got, `43/x,1[`+js(want)+`]`)
				}
			}
			c.Post(`42/x,2["state"]`)
			expect(t, "next request", c.Get(), `43/x,2[`+js(want)+`,null]`)
		})
	}
}

// TestRoomNameWithNUL: a room name the stores cannot keep (NUL) is ignored by Join, and the
// session keeps working.
func TestRoomNameWithNUL(t *testing.T) {
	srv := roomsServer(t)
	c := srv.Open(t)
	id, _ := c.Connect("/x")
	c.Post(`42/x,1["ops",["+a\u0000b","+ok"]]`)
	status, body := siotest.Do(t, "GET", c.URL, "")
	want := `43/x,1[` + js(withID(id, "ok")) + `]`
	if status != 200 || body != want {
		t.Fatalf("GET after joining %q: %d %q, want 200 %q", "a\x00b", status, body, want)
	}
	c.Post(`42/x,2["state"]`)
	expect(t, "next request", c.Get(), `43/x,2[`+js(withID(id, "ok"))+`,null]`)
}

// TestSocketData: SetData persists to later requests, per namespace; the last call of a request
// wins.
func TestSocketData(t *testing.T) {
	srv := roomsServer(t)
	cases := []struct {
		name  string
		steps []string // argument lists of "set", one request each
		want  string   // Data() afterwards in /x
	}{
		{"none", nil, "null"},
		{"object", []string{`[{"n":1}]`}, `{"n":1}`},
		{"compacted", []string{`[{"n": [1, 2]}]`}, `{"n":[1,2]}`},
		{"string", []string{`["s"]`}, `"s"`},
		{"last of a request wins", []string{`[1,2,3]`}, `3`},
		{"later request replaces", []string{`[1]`, `[{"m":2}]`}, `{"m":2}`},
		{"null", []string{`[1]`, `[null]`}, `null`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := srv.Open(t)
			id, _ := c.Connect("/x")
			idY, _ := c.Connect("/y")
			for _, args := range tc.steps {
				c.Post(`42/x,["set",` + args + `]`)
			}
			c.Post(`42/x,1["state"]` + "\x1e" + `42/y,2["state"]`)
			expect(t, "client", c.Get(),
				`43/x,1[`+js([]string{id})+`,`+tc.want+`]`,
				`43/y,2[`+js([]string{idY})+`,null]`)
		})
	}
}

// TestServerEmit: the targets of Server().Emit. Sockets in /x: a (rooms r1, r2; a is the sender
// and is in /y too, in no room), b (r1), c (r2), d (none); in /y: e (r1). After the emit under
// test, the sender broadcasts "end" to /x and /y, so that every GET has something to return.
func TestServerEmit(t *testing.T) {
	srv := roomsServer(t)
	ev := `42/x,["ev",1]`
	evY := `42/y,["ev",1]`
	cases := []struct {
		name string
		req  map[string]any    // "$a".."$e" in to and except stand for socket ids
		want map[string]string // client name → the packets it receives before the markers
		from string            // the sender's namespace; "" means /x
		bug  string
	}{
		{name: "no To reaches the namespace", req: map[string]any{"payload": 1},
			want: map[string]string{"a": ev, "b": ev, "c": ev, "d": ev}},
		{name: "To one room", req: map[string]any{"payload": 1, "to": []string{"r1"}},
			want: map[string]string{"a": ev, "b": ev}},
		{name: "To two rooms delivers once", req: map[string]any{"payload": 1, "to": []string{"r1", "r2"}},
			want: map[string]string{"a": ev, "b": ev, "c": ev}},
		{name: "To one room twice delivers once", req: map[string]any{"payload": 1, "to": []string{"r1", "r1"}},
			want: map[string]string{"a": ev, "b": ev}},
		{name: "To an empty room", req: map[string]any{"payload": 1, "to": []string{"nobody"}}},
		{name: "Except a room", req: map[string]any{"payload": 1, "except": []string{"r2"}},
			want: map[string]string{"b": ev, "d": ev}},
		{name: "Except two rooms", req: map[string]any{"payload": 1, "except": []string{"r1", "r2"}},
			want: map[string]string{"d": ev}},
		{name: "To and Except", req: map[string]any{"payload": 1, "to": []string{"r1"}, "except": []string{"r2"}},
			want: map[string]string{"b": ev}},
		{name: "Except a socket id", req: map[string]any{"payload": 1, "to": []string{"r1"}, "except": []string{"$b"}},
			want: map[string]string{"a": ev}},
		{name: "Except the sender", req: map[string]any{"payload": 1, "except": []string{"$a"}},
			want: map[string]string{"b": ev, "c": ev, "d": ev}},
		{name: "To a socket id", req: map[string]any{"payload": 1, "to": []string{"$c"}},
			want: map[string]string{"c": ev}},
		{name: "To a socket id and a room", req: map[string]any{"payload": 1, "to": []string{"$d", "r1"}},
			want: map[string]string{"a": ev, "b": ev, "d": ev}},
		{name: "To a socket id of another namespace", req: map[string]any{"payload": 1, "to": []string{"$e"}}},
		{name: "Namespace", req: map[string]any{"payload": 1, "nsp": "/y"},
			want: map[string]string{"a": evY, "e": evY}},
		{name: "Namespace and To: rooms of that namespace", req: map[string]any{"payload": 1, "nsp": "/y", "to": []string{"r1"}},
			want: map[string]string{"e": evY}},
		{name: "the sender's namespace by default", req: map[string]any{"payload": 1}, from: "/y",
			want: map[string]string{"a": evY, "e": evY}},
		{name: "Namespace from another namespace", req: map[string]any{"payload": 1, "nsp": "/x", "to": []string{"r2"}}, from: "/y",
			want: map[string]string{"a": ev, "c": ev}},
		{name: "unserved namespace", req: map[string]any{"payload": 1, "nsp": "/none"}},
		{name: "Args sends several arguments", req: map[string]any{"args": []any{"x", 2}},
			want: map[string]string{"a": `42/x,["ev","x",2]`, "b": `42/x,["ev","x",2]`, "c": `42/x,["ev","x",2]`, "d": `42/x,["ev","x",2]`}},
		{name: "Args with one slice argument", req: map[string]any{"args": []any{[]int{1, 2}}, "to": []string{"r2"}},
			want: map[string]string{"a": `42/x,["ev",[1,2]]`, "c": `42/x,["ev",[1,2]]`}},
		{name: "a slice payload is one argument", req: map[string]any{"payload": []int{1, 2}, "to": []string{"r2"}},
			want: map[string]string{"a": `42/x,["ev",[1,2]]`, "c": `42/x,["ev",[1,2]]`}},
		{name: "binary", req: map[string]any{"bytes": true, "to": []string{"r2"}},
			want: map[string]string{"a": `451-/x,["ev",` + placeholder0 + `]` + "\x1ebAQID", "c": `451-/x,["ev",` + placeholder0 + `]` + "\x1ebAQID"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.bug != "" {
				t.Skip(tc.bug)
			}
			type client struct {
				c    *siotest.Client
				id   string
				nsps []string
			}
			clients := map[string]*client{}
			setup := []struct {
				name  string
				rooms map[string][]string // namespace → ops
			}{
				{"a", map[string][]string{"/x": {"+r1", "+r2"}, "/y": nil}},
				{"b", map[string][]string{"/x": {"+r1"}}},
				{"c", map[string][]string{"/x": {"+r2"}}},
				{"d", map[string][]string{"/x": nil}},
				{"e", map[string][]string{"/y": {"+r1"}}},
			}
			for _, st := range setup {
				cl := &client{c: srv.Open(t)}
				for _, nsp := range []string{"/x", "/y"} {
					ops, ok := st.rooms[nsp]
					if !ok {
						continue
					}
					cl.nsps = append(cl.nsps, nsp)
					id, _ := cl.c.Connect(nsp)
					if cl.id == "" {
						cl.id = id
					}
					if len(ops) > 0 {
						cl.c.Post(`42` + nsp + `,1["ops",` + js(ops) + `]`)
						cl.c.Get()
					}
				}
				clients[st.name] = cl
			}
			ids := func(rooms any) any {
				list, ok := rooms.([]string)
				if !ok {
					return rooms
				}
				out := make([]string, len(list))
				for i, r := range list {
					if name, ok := strings.CutPrefix(r, "$"); ok {
						r = clients[name].id
					}
					out[i] = r
				}
				return out
			}
			req := maps.Clone(tc.req)
			for _, k := range []string{"to", "except"} {
				if v, ok := req[k]; ok {
					req[k] = ids(v)
				}
			}
			from := cmp.Or(tc.from, "/x")
			clients["a"].c.Post(`42` + from + `,["emit",` + js(req) + `]`)
			for _, st := range setup {
				cl := clients[st.name]
				var want []string
				if p, ok := tc.want[st.name]; ok {
					want = strings.Split(p, "\x1e")
				}
				for _, nsp := range cl.nsps {
					want = append(want, `42`+nsp+`,["end"]`)
				}
				expect(t, st.name, cl.c.Get(), want...)
			}
		})
	}
}

// TestServerDisconnect: Socket.Disconnect from an event sends DISCONNECT after the hook's own
// packets, runs Disconnect once with "server namespace disconnect", and the namespace then
// ignores the client until it connects again.
func TestServerDisconnect(t *testing.T) {
	x := &consumer{nsp: "/x", connect: func(ctx context.Context, s *sio.Socket, auth json.RawMessage) error {
		if string(auth) == `{"bye":true}` {
			s.Disconnect()
		}
		return nil
	}}
	r := newRouter()
	mustRegister(t, r, x, pong,
		sio.On("bye", func(ctx context.Context, s *sio.Socket) error {
			if err := s.Emit("bye_ack"); err != nil {
				return err
			}
			s.Disconnect()
			return s.Server().Emit("leaving", s.ID())
		}),
		sio.On("bye_fail", func(ctx context.Context, s *sio.Socket) error {
			s.Disconnect()
			return errors.New("changed my mind")
		}),
	)
	mustRegister(t, r, &consumer{nsp: "/y"}, pong)
	srv := serve(t, r)

	t.Run("from an event", func(t *testing.T) {
		a, witness := srv.Open(t), srv.Open(t)
		id, _ := a.Connect("/x")
		a.Connect("/y")
		witness.Connect("/x")
		a.Post(`42/x,1["bye"]`)
		leaving := `42/x,["leaving",` + js(id) + `]`
		expect(t, "client", a.Get(), `42/x,["bye_ack"]`, leaving, `41/x,`)
		expect(t, "witness", witness.Get(), leaving)
		if got := x.disconnects(id); !slices.Equal(got, []string{"server namespace disconnect"}) {
			t.Fatalf("Disconnect reasons %q", got)
		}

		a.Post(`42/x,2["ping"]` + "\x1e" + `42/y,3["ping"]`)
		expect(t, "client after disconnect", a.Get(), `43/y,3["pong"]`)

		// The socket is gone from the rooms: a broadcast to /x no longer reaches the client.
		witness.Post(`42/x,4["bye"]`)
		witness.Get()
		a.Post(`42/y,5["ping"]`)
		expect(t, "client", a.Get(), `43/y,5["pong"]`)

		// Connecting again makes a new socket.
		again, _ := a.Connect("/x")
		if again == id {
			t.Fatalf("reconnect answered the old socket id %q", id)
		}
		a.Post("1") // closing the session runs Disconnect for the new socket only
		if got := x.disconnects(id); len(got) != 1 {
			t.Fatalf("old socket disconnected %d times: %q", len(got), got)
		}
		if got := x.disconnects(again); !slices.Equal(got, []string{"transport close"}) {
			t.Fatalf("new socket Disconnect reasons %q", got)
		}
	})
	t.Run("from a failing event", func(t *testing.T) {
		a := srv.Open(t)
		id, _ := a.Connect("/x")
		a.Post(`42/x,1["bye_fail"]` + "\x1e" + `42/x,2["ping"]`)
		expect(t, "client", a.Get(), `43/x,2["pong"]`)
		if got := x.disconnects(id); len(got) != 0 {
			t.Fatalf("Disconnect ran: %q", got)
		}
	})
	t.Run("from Connect", func(t *testing.T) {
		a := srv.Open(t)
		a.Post(`40/x,{"bye":true}`)
		got := a.Get()
		if len(got) != 2 || !strings.HasPrefix(got[0], `40/x,{"sid":"`) || got[1] != `41/x,` {
			t.Fatalf("got %q, want CONNECT then DISCONNECT", got)
		}
		var ans struct{ SID string }
		if err := json.Unmarshal([]byte(strings.TrimPrefix(got[0], "40/x,")), &ans); err != nil {
			t.Fatal(err)
		}
		if got := x.disconnects(ans.SID); !slices.Equal(got, []string{"server namespace disconnect"}) {
			t.Fatalf("Disconnect reasons %q", got)
		}
		a.Post(`42/x,1["ping"]`)
		expect(t, "client", a.Get(), noop)
	})
}
