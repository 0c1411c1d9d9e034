package sio

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"unicode"
)

// Consumer serves one namespace. Connect, Disconnect and event methods are optional; see the
// package documentation.
type Consumer interface {
	// Namespace returns the namespace the consumer serves, such as "/chat".
	Namespace() string
}

// Connector is implemented by consumers that accept or refuse namespace connections. Returning
// nil accepts; an error refuses, and the client receives CONNECT_ERROR with the error's message
// (and the Data of a *ConnectError).
type Connector interface {
	Connect(ctx context.Context, s *Socket, auth json.RawMessage) error
}

// Disconnector is implemented by consumers that want to know when a socket goes. It runs once
// per socket with a Socket.IO reason: "client namespace disconnect", "server namespace
// disconnect", "transport close", "transport error", "ping timeout", "parse error",
// "forced close".
type Disconnector interface {
	Disconnect(ctx context.Context, s *Socket, reason string)
}

// ConnectError refuses a connection with a message and optional data, both sent to the client
// in the CONNECT_ERROR packet (Socket.IO v5 §"CONNECT_ERROR").
type ConnectError struct {
	Message string
	Data    any
}

func (e *ConnectError) Error() string { return e.Message }

// Ack answers a client's acknowledgement request with the given arguments. It is nil when the
// client did not ask for an ack; a second call is ignored.
type Ack func(args ...any)

// RawArgs, as the only payload parameter of an event handler, receives every argument of the
// event undecoded: each is a json.RawMessage, or a []byte for a binary attachment. Passed back
// to Emit or an Ack, they are sent as they came.
type RawArgs []any

// Option configures a consumer's registration.
type Option func(*namespace) error

// On registers fn as the handler of event, for names that no Event<Name> method maps to (such as
// "user:join"). fn has the shape of an event method without the receiver.
func On(event string, fn any) Option {
	return func(ns *namespace) error {
		h, err := newEventHandler(reflect.ValueOf(fn))
		if err != nil {
			return fmt.Errorf("sio: On(%q): %w", event, err)
		}
		ns.events[event] = h
		return nil
	}
}

var (
	typeContext = reflect.TypeFor[context.Context]()
	typeSocket  = reflect.TypeFor[*Socket]()
	typeAck     = reflect.TypeFor[Ack]()
	typeError   = reflect.TypeFor[error]()
	typeRawArgs = reflect.TypeFor[RawArgs]()
	typeBytes   = reflect.TypeFor[[]byte]()
)

// eventHandler is a validated event method or function.
type eventHandler struct {
	fn       reflect.Value
	payloads []reflect.Type
	hasAck   bool
	hasErr   bool
}

func newEventHandler(fn reflect.Value) (*eventHandler, error) {
	if fn.Kind() != reflect.Func {
		return nil, fmt.Errorf("not a function")
	}
	t := fn.Type()
	if t.NumIn() < 2 || t.In(0) != typeContext || t.In(1) != typeSocket {
		return nil, fmt.Errorf("%s: the first parameters must be (context.Context, *sio.Socket)", t)
	}
	h := &eventHandler{fn: fn}
	last := t.NumIn()
	if t.In(last-1) == typeAck {
		h.hasAck = true
		last--
	}
	for i := 2; i < last; i++ {
		h.payloads = append(h.payloads, t.In(i))
	}
	switch {
	case t.NumOut() == 1 && t.Out(0) == typeError:
		h.hasErr = true
	case t.NumOut() != 0:
		return nil, fmt.Errorf("%s: must return nothing or an error", t)
	}
	if t.IsVariadic() {
		return nil, fmt.Errorf("%s: variadic handlers are not supported", t)
	}
	return h, nil
}

// call decodes args into the payload parameters and runs the handler.
func (h *eventHandler) call(ctx context.Context, s *Socket, args []arg, ack Ack) error {
	in := make([]reflect.Value, 0, 3+len(h.payloads))
	in = append(in, reflect.ValueOf(ctx), reflect.ValueOf(s))
	if len(h.payloads) == 1 && h.payloads[0] == typeRawArgs {
		raw := make(RawArgs, len(args))
		for i, a := range args {
			if a.isBin {
				raw[i] = a.binary
			} else {
				raw[i] = a.json
			}
		}
		in = append(in, reflect.ValueOf(raw))
	} else {
		for i, t := range h.payloads {
			v := reflect.New(t)
			switch {
			case i >= len(args):
			case args[i].isBin && t == typeBytes:
				v.Elem().SetBytes(args[i].binary)
			case args[i].isBin:
				return fmt.Errorf("argument %d: a binary attachment cannot be decoded into %s", i, t)
			default:
				if err := json.Unmarshal(args[i].json, v.Interface()); err != nil {
					return fmt.Errorf("argument %d: %w", i, err)
				}
			}
			in = append(in, v.Elem())
		}
	}
	if h.hasAck {
		in = append(in, reflect.ValueOf(ack))
	}
	out := h.fn.Call(in)
	if h.hasErr && !out[0].IsNil() {
		return out[0].Interface().(error)
	}
	return nil
}

// eventName maps a Go method suffix to a Socket.IO event name: ChatMessage → chat_message,
// HTTPPing → http_ping, Room2Join → room2_join.
func eventName(goName string) string {
	r := []rune(goName)
	var b strings.Builder
	for i, c := range r {
		if unicode.IsUpper(c) {
			prevLower := i > 0 && (unicode.IsLower(r[i-1]) || unicode.IsDigit(r[i-1]))
			acronymEnd := i > 0 && unicode.IsUpper(r[i-1]) && i+1 < len(r) && unicode.IsLower(r[i+1])
			if prevLower || acronymEnd {
				b.WriteByte('_')
			}
			b.WriteRune(unicode.ToLower(c))
		} else {
			b.WriteRune(c)
		}
	}
	return b.String()
}
