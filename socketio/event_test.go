package socketio

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestEvent(t *testing.T) {
	tests := []struct {
		in   string
		name string
		args []string
	}{
		{`2["hello"]`, "hello", nil},
		{`2["hello",1]`, "hello", []string{`1`}},
		{`2/chat,12["chat_message",{"text":"hello"}]`, "chat_message", []string{`{"text":"hello"}`}},
		{`2[ "a" , 1 , "two" , [3,[4]] , {"5":{"6":"]"}} , null , true , false , -1.5e3 ]`, "a",
			[]string{`1`, `"two"`, `[3,[4]]`, `{"5":{"6":"]"}}`, `null`, `true`, `false`, `-1.5e3`}},
		{`2["esc\"aped\u00e9","x\"]"]`, "esc\"apedé", []string{`"x\"]"`}},
		{`2[42,"x"]`, "42", []string{`"x"`}},
		{`2[-1.5]`, "-1.5", nil},
		{`2[""]`, "", nil},
		{`51-["up",{"_placeholder":true,"num":0}]`, "up", []string{`{"_placeholder":true,"num":0}`}},
	}
	for _, tt := range tests {
		p, err := Decode([]byte(tt.in))
		if err != nil {
			t.Errorf("Decode(%q): %v", tt.in, err)
			continue
		}
		name, args, err := p.Event()
		if err != nil {
			t.Errorf("Event of %q: %v", tt.in, err)
			continue
		}
		if name != tt.name {
			t.Errorf("Event of %q: name %q, want %q", tt.in, name, tt.name)
		}
		if len(args) != len(tt.args) {
			t.Errorf("Event of %q: %d args %q, want %q", tt.in, len(args), args, tt.args)
			continue
		}
		for i := range args {
			if string(args[i]) != tt.args[i] {
				t.Errorf("Event of %q: arg %d = %s, want %s", tt.in, i, args[i], tt.args[i])
			}
			if cap(args[i]) != len(args[i]) {
				t.Errorf("Event of %q: arg %d not capacity-limited", tt.in, i)
			}
			if !json.Valid(args[i]) {
				t.Errorf("Event of %q: arg %d = %s is not valid JSON", tt.in, i, args[i])
			}
		}
	}
}

func TestEventErrors(t *testing.T) {
	for _, p := range []Packet{
		{Type: PacketAck, Data: json.RawMessage(`["x"]`)},
		{Type: PacketConnect, Data: json.RawMessage(`{}`)},
		{Type: PacketEvent},
		{Type: PacketEvent, Data: json.RawMessage(`[]`)},
		{Type: PacketEvent, Data: json.RawMessage(`{"a":1}`)},
		{Type: PacketEvent, Data: json.RawMessage(`[null]`)},
		{Type: PacketEvent, Data: json.RawMessage(`["x"`)},
		{Type: PacketEvent, Data: json.RawMessage(`["x",`)},
		{Type: PacketEvent, Data: json.RawMessage(`["x" 1]`)},
		{Type: PacketEvent, Data: json.RawMessage(`["x",]`)},
		{Type: PacketEvent, Data: json.RawMessage(`["x`)},
		{Type: PacketBinaryEvent, Data: json.RawMessage(`[`)},
	} {
		if name, args, err := p.Event(); !errors.Is(err, ErrInvalidPacket) {
			t.Errorf("Event(%+v) = %q, %q, %v; want ErrInvalidPacket", p, name, args, err)
		}
	}
}

func TestEventInvalidUTF8Name(t *testing.T) {
	// encoding/json (and JSON.parse on a UTF-8 decoded body) read invalid
	// UTF-8 as U+FFFD; Event must name the event the same way.
	p, err := Decode([]byte("2[\"a\x80\",1]"))
	if err != nil {
		t.Fatal(err)
	}
	name, _, err := p.Event()
	if err != nil {
		t.Fatal(err)
	}
	if name != "a\uFFFD" {
		t.Errorf("name = %q, want %q", name, "a\uFFFD")
	}
}
