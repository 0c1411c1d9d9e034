package sio

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/serverless-socketio/server/engineio"
	"github.com/serverless-socketio/server/internal/logattr"
	"github.com/serverless-socketio/server/session"
	"github.com/serverless-socketio/server/socketio"
)

// Router maps namespaces to consumers and runs their hooks for the Socket.IO packets of a
// request. The default namespace "/" always exists, with no hooks unless a consumer serves it.
type Router struct {
	log  *slog.Logger
	nsps map[string]*namespace
}

type namespace struct {
	consumer   Consumer
	connect    Connector
	disconnect Disconnector
	events     map[string]*eventHandler
}

// NewRouter returns a router that logs with log (nil means slog.Default()).
func NewRouter(log *slog.Logger) *Router {
	if log == nil {
		log = slog.Default()
	}
	return &Router{log: log, nsps: map[string]*namespace{"/": {events: map[string]*eventHandler{}}}}
}

// Register adds c for its namespace. It fails if the namespace is already served by a consumer,
// or if an Event method or an [On] handler has an unusable signature.
func (r *Router) Register(c Consumer, opts ...Option) error {
	name := c.Namespace()
	if !strings.HasPrefix(name, "/") {
		return fmt.Errorf("sio: namespace %q must start with /", name)
	}
	if ns, ok := r.nsps[name]; ok && ns.consumer != nil {
		return fmt.Errorf("sio: namespace %q is already registered", name)
	}
	ns := &namespace{consumer: c, events: map[string]*eventHandler{}}
	ns.connect, _ = c.(Connector)
	ns.disconnect, _ = c.(Disconnector)
	v := reflect.ValueOf(c)
	for i := 0; i < v.NumMethod(); i++ {
		m := v.Type().Method(i)
		suffix, ok := strings.CutPrefix(m.Name, "Event")
		if !ok || suffix == "" {
			continue
		}
		h, err := newEventHandler(v.Method(i))
		if err != nil {
			return fmt.Errorf("sio: %T.%s: %w", c, m.Name, err)
		}
		ns.events[eventName(suffix)] = h
	}
	for _, o := range opts {
		if err := o(ns); err != nil {
			return err
		}
	}
	r.nsps[name] = ns
	return nil
}

// request is the per-request view: the loaded state, its sockets and the batch being recorded.
type request struct {
	r       *Router
	ctx     context.Context
	st      *session.State
	b       *session.Batch
	sockets map[string]*Socket
}

func (r *Router) newRequest(ctx context.Context, st *session.State, b *session.Batch) *request {
	q := &request{r: r, ctx: ctx, st: st, b: b, sockets: make(map[string]*Socket, len(st.Sockets))}
	for nsp, s := range st.Sockets {
		q.sockets[nsp] = newSocket(s)
	}
	return q
}

// OnMessages handles the Engine.IO message packets of one request, in order (Socket.IO v5 over
// Engine.IO v4). An error means the client broke the protocol: the caller closes the session
// with reason "parse error".
func (r *Router) OnMessages(ctx context.Context, st *session.State, msgs []engineio.Packet, b *session.Batch) error {
	q := r.newRequest(ctx, st, b)
	if len(st.Pending) > 0 {
		// A packet from an earlier request still waiting for its attachments (over WebSocket
		// each attachment is a frame of its own, hence a request of its own).
		prev, err := engineio.DecodePayload(st.Pending)
		if err != nil {
			return fmt.Errorf("sio: stored partial packet: %w", err)
		}
		msgs = append(prev, msgs...)
		b.SetPending(nil)
	}
	for i := 0; i < len(msgs); i++ {
		if msgs[i].Binary {
			return errors.New("sio: binary packet without a packet announcing it")
		}
		p, err := socketio.Decode(msgs[i].Data)
		if err != nil {
			return err
		}
		if p.Attachments > 0 {
			// Socket.IO v5 §"Packet encoding": the attachments follow the packet as binary
			// Engine.IO packets, in this request or in the next ones.
			if p.Attachments > socketio.DefaultMaxAttachments {
				return fmt.Errorf("sio: %d attachments, at most %d", p.Attachments, socketio.DefaultMaxAttachments)
			}
			for k := i + 1; k < len(msgs) && k <= i+p.Attachments; k++ {
				if !msgs[k].Binary {
					return errors.New("sio: text packet where a binary attachment was due")
				}
			}
			if i+p.Attachments >= len(msgs) {
				b.SetPending(engineio.AppendPayload(nil, msgs[i:]))
				return nil
			}
			attachments := make([][]byte, p.Attachments)
			for k := range attachments {
				attachments[k] = msgs[i+1+k].Data
			}
			i += p.Attachments
			if err := q.handle(p, attachments); err != nil {
				return err
			}
			continue
		}
		if err := q.handle(p, nil); err != nil {
			return err
		}
	}
	return nil
}

// OnClose runs Disconnect for every socket of a session that is ending, in namespace order.
func (r *Router) OnClose(ctx context.Context, st *session.State, reason session.Reason, b *session.Batch) {
	q := r.newRequest(ctx, st, b)
	nsps := make([]string, 0, len(q.sockets))
	for nsp := range q.sockets {
		nsps = append(nsps, nsp)
	}
	sort.Strings(nsps)
	for _, nsp := range nsps {
		q.runDisconnect(q.sockets[nsp], reason)
	}
}

func (q *request) handle(p socketio.Packet, attachments [][]byte) error {
	// A namespace is echoed into replies (CONNECT_ERROR): a control character there (a 0x1e
	// would split the long-polling payload) or bytes that are not UTF-8 (a text frame must be,
	// RFC 6455 §8.1) are refused as a protocol error.
	if !utf8.ValidString(p.Namespace) || strings.ContainsFunc(p.Namespace, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return fmt.Errorf("sio: control character or invalid UTF-8 in namespace %q", logattr.Clip(p.Namespace))
	}
	switch p.Type {
	case socketio.PacketConnect:
		q.connect(p)
	case socketio.PacketDisconnect:
		if s := q.sockets[p.Namespace]; s != nil {
			q.runDisconnect(s, session.ReasonClientNamespaceDisconnect)
			q.b.Disconnect(s.nsp)
			delete(q.sockets, s.nsp)
		}
	case socketio.PacketEvent, socketio.PacketBinaryEvent:
		return q.event(p, attachments)
	case socketio.PacketAck, socketio.PacketBinaryAck:
		q.r.log.Debug("sio: ack from client ignored (server emits with acks are not supported)", logattr.Client("namespace", p.Namespace))
	default:
		return fmt.Errorf("sio: a client may not send %s", p.Type)
	}
	return nil
}

func (q *request) connect(p socketio.Packet) {
	ns := q.r.nsps[p.Namespace]
	if ns == nil {
		q.b.Send(encodeConnectError(p.Namespace, "Invalid namespace", nil))
		return
	}
	if s := q.sockets[p.Namespace]; s != nil {
		// Already connected: answer again rather than create a second socket.
		q.b.Send(encodeConnect(s.nsp, s.id))
		return
	}
	s := &Socket{id: newID(), nsp: p.Namespace}
	s.rooms = []string{s.id}
	var ops []session.Op
	if ns.connect != nil {
		var err error
		ops, err = q.run(s, "connect", func() error { return ns.connect.Connect(q.ctx, s, p.Data) })
		if err != nil {
			var ce *ConnectError
			if errors.As(err, &ce) {
				q.b.Send(encodeConnectError(s.nsp, ce.Message, ce.Data))
			} else {
				q.b.Send(encodeConnectError(s.nsp, err.Error(), nil))
			}
			return
		}
	}
	// Socket.IO v5: the CONNECT answer precedes anything the connection handler emitted.
	q.b.Connect(s.nsp, s.id)
	q.b.Send(encodeConnect(s.nsp, s.id))
	q.b.Ops = append(q.b.Ops, ops...)
	q.sockets[s.nsp] = s
	q.afterHook(s)
}

func (q *request) event(p socketio.Packet, attachments [][]byte) error {
	name, args, err := eventArgs(p, attachments)
	if err != nil {
		return err
	}
	s := q.sockets[p.Namespace]
	if s == nil {
		q.r.log.Debug("sio: event for a namespace the client is not connected to", logattr.Client("namespace", p.Namespace))
		return nil
	}
	ns := q.r.nsps[s.nsp]
	if ns == nil {
		// The socket outlived its consumer (a deploy removed it): nothing handles its events.
		q.r.log.Debug("sio: event for a namespace no longer served", "namespace", s.nsp)
		return nil
	}
	h := ns.events[name]
	if h == nil {
		q.r.log.Debug("sio: no handler for event", "namespace", s.nsp, logattr.Client("event", name))
		return nil
	}
	var ack Ack
	if p.HasID {
		acked := false
		ack = func(args ...any) {
			if acked {
				return
			}
			acked = true
			enc, err := encodeAck(s.nsp, p.ID, args)
			if err != nil {
				q.r.log.Warn("sio: ack not sent", "namespace", s.nsp, logattr.Client("event", name), "err", err)
				return
			}
			s.batch.Send(enc)
		}
	}
	ops, err := q.run(s, name, func() error { return h.call(q.ctx, s, args, ack) })
	if err == nil {
		q.b.Ops = append(q.b.Ops, ops...)
		q.afterHook(s)
	}
	return nil
}

// arg is one event argument: JSON, or a binary attachment that stood as the argument itself.
type arg struct {
	json   json.RawMessage
	binary []byte
	isBin  bool
}

// eventArgs splits an EVENT's payload into its name and arguments. An argument that is a
// placeholder (Socket.IO v5 §"Binary") becomes that attachment; placeholders nested deeper
// become base64 strings, which encoding/json decodes into []byte.
func eventArgs(p socketio.Packet, attachments [][]byte) (string, []arg, error) {
	name, raw, err := p.Event()
	if err != nil {
		return "", nil, err
	}
	args := make([]arg, len(raw))
	if len(attachments) == 0 {
		for i, r := range raw {
			args[i] = arg{json: r}
		}
		return name, args, nil
	}
	replaced, err := socketio.ReplacePlaceholders(p.Data, attachments)
	if err != nil {
		return "", nil, err
	}
	_, rep, err := socketio.Packet{Type: p.Type, Data: replaced}.Event()
	if err != nil || len(rep) != len(raw) {
		return "", nil, fmt.Errorf("sio: attachments: %v", err)
	}
	for i, r := range raw {
		var ph struct {
			Placeholder bool `json:"_placeholder"`
			Num         *int `json:"num"`
		}
		if json.Unmarshal(r, &ph) == nil && ph.Placeholder && ph.Num != nil && *ph.Num >= 0 && *ph.Num < len(attachments) {
			args[i] = arg{binary: attachments[*ph.Num], isBin: true}
		} else {
			args[i] = arg{json: rep[i]}
		}
	}
	return name, args, nil
}

// run calls one hook with s recording into a batch of its own, and returns what it recorded.
// If the hook fails or panics, the failure is logged, s is restored and the effects dropped.
func (q *request) run(s *Socket, hook string, fn func() error) (ops []session.Op, err error) {
	var sub session.Batch
	rooms, data := s.rooms, s.data
	s.rooms = append([]string(nil), rooms...)
	s.batch = &sub
	defer func() {
		if v := recover(); v != nil {
			q.r.log.Error("sio: hook panicked", "namespace", s.nsp, "hook", hook, "socket", s.id, "panic", v, "stack", string(debug.Stack()))
			err = fmt.Errorf("sio: %s hook panicked", hook)
		}
		if err != nil {
			if !errors.As(err, new(*ConnectError)) {
				q.r.log.Warn("sio: hook failed; its effects are dropped", "namespace", s.nsp, "hook", hook, "socket", s.id, "err", err)
			}
			s.rooms, s.data, s.disconnect = rooms, data, false
			ops = nil
		}
	}()
	err = fn()
	return sub.Ops, err
}

// afterHook carries out a Disconnect the hook asked for.
func (q *request) afterHook(s *Socket) {
	if !s.disconnect {
		return
	}
	q.b.Send(encodePacket(socketio.Packet{Type: socketio.PacketDisconnect, Namespace: s.nsp}, nil))
	q.runDisconnect(s, session.ReasonServerNamespaceDisconnect)
	q.b.Disconnect(s.nsp)
	delete(q.sockets, s.nsp)
}

func (q *request) runDisconnect(s *Socket, reason session.Reason) {
	ns := q.r.nsps[s.nsp]
	if ns == nil || ns.disconnect == nil {
		return
	}
	ops, err := q.run(s, "disconnect", func() error { ns.disconnect.Disconnect(q.ctx, s, string(reason)); return nil })
	if err == nil {
		q.b.Ops = append(q.b.Ops, ops...)
	}
}

func encodeConnect(nsp, id string) []byte {
	data := append(append([]byte(`{"sid":`), strconv.Quote(id)...), '}')
	return encodePacket(socketio.Packet{Type: socketio.PacketConnect, Namespace: nsp, Data: data}, nil)
}

func encodeConnectError(nsp, message string, data any) []byte {
	body := struct {
		Message string `json:"message"`
		Data    any    `json:"data,omitempty"`
	}{message, data}
	j, err := json.Marshal(body)
	if err != nil {
		j, _ = json.Marshal(struct {
			Message string `json:"message"`
		}{message})
	}
	return encodePacket(socketio.Packet{Type: socketio.PacketConnectError, Namespace: nsp, Data: j}, nil)
}

// newID returns a socket id: 120 random bits, URL-safe.
func newID() string {
	var b [15]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	return base64.RawURLEncoding.EncodeToString(b[:])
}
