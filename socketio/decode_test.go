package socketio

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestPacketTypeString(t *testing.T) {
	want := []string{"CONNECT", "DISCONNECT", "EVENT", "ACK", "CONNECT_ERROR", "BINARY_EVENT", "BINARY_ACK"}
	for i, w := range want {
		pt := PacketType(i)
		if got := pt.String(); got != w {
			t.Errorf("PacketType(%d).String() = %q, want %q", i, got, w)
		}
		if !pt.Valid() {
			t.Errorf("PacketType(%d).Valid() = false", i)
		}
		if got, want := pt.IsBinary(), i == 5 || i == 6; got != want {
			t.Errorf("PacketType(%d).IsBinary() = %v, want %v", i, got, want)
		}
	}
	if PacketType(7).Valid() || PacketType(255).Valid() {
		t.Error("out-of-range type reported Valid")
	}
	if got := PacketType(7).String(); got != "PacketType(7)" {
		t.Errorf("PacketType(7).String() = %q", got)
	}
}

func TestDecode(t *testing.T) {
	tests := []struct {
		in   string
		want Packet
	}{
		{`0`, Packet{Type: PacketConnect, Namespace: "/"}},
		{`0/admin,`, Packet{Type: PacketConnect, Namespace: "/admin"}},
		{`0/admin`, Packet{Type: PacketConnect, Namespace: "/admin"}}, // no ',' at the end: accepted like the reference parser
		{`0/admin,{"token":"123"}`, Packet{Type: PacketConnect, Namespace: "/admin", Data: []byte(`{"token":"123"}`)}},
		{`0{"sid":"oSO0OpakMV_3jnilAAAA"}`, Packet{Type: PacketConnect, Namespace: "/", Data: []byte(`{"sid":"oSO0OpakMV_3jnilAAAA"}`)}},
		{`0/chat?token=1,`, Packet{Type: PacketConnect, Namespace: "/chat?token=1"}}, // verbatim, see Packet.Namespace
		{`0/,{}`, Packet{Type: PacketConnect, Namespace: "/", Data: []byte(`{}`)}},
		{`1`, Packet{Type: PacketDisconnect, Namespace: "/"}},
		{`1/admin,`, Packet{Type: PacketDisconnect, Namespace: "/admin"}},
		{`2["hello",1]`, Packet{Type: PacketEvent, Namespace: "/", Data: []byte(`["hello",1]`)}},
		{`2["foo"]`, Packet{Type: PacketEvent, Namespace: "/", Data: []byte(`["foo"]`)}},
		{`2[42,"x"]`, Packet{Type: PacketEvent, Namespace: "/", Data: []byte(`[42,"x"]`)}},
		{`2 [ "x" ] `, Packet{Type: PacketEvent, Namespace: "/", Data: []byte(` [ "x" ] `)}},
		{`2["connected"]`, Packet{Type: PacketEvent, Namespace: "/", Data: []byte(`["connected"]`)}},
		{`212["foo"]`, Packet{Type: PacketEvent, Namespace: "/", ID: 12, HasID: true, Data: []byte(`["foo"]`)}},
		{`2/admin,456["project:delete",123]`, Packet{Type: PacketEvent, Namespace: "/admin", ID: 456, HasID: true, Data: []byte(`["project:delete",123]`)}},
		{`2/chat,12["chat_message",{"text":"hello"}]`, Packet{Type: PacketEvent, Namespace: "/chat", ID: 12, HasID: true, Data: []byte(`["chat_message",{"text":"hello"}]`)}},
		{`218446744073709551615["x"]`, Packet{Type: PacketEvent, Namespace: "/", ID: 18446744073709551615, HasID: true, Data: []byte(`["x"]`)}},
		{`3/admin,456[]`, Packet{Type: PacketAck, Namespace: "/admin", ID: 456, HasID: true, Data: []byte(`[]`)}},
		{`3/admin,13["bar"]`, Packet{Type: PacketAck, Namespace: "/admin", ID: 13, HasID: true, Data: []byte(`["bar"]`)}},
		{`4{"message":"Not authorized"}`, Packet{Type: PacketConnectError, Namespace: "/", Data: []byte(`{"message":"Not authorized"}`)}},
		{`4/admin,"Invalid namespace"`, Packet{Type: PacketConnectError, Namespace: "/admin", Data: []byte(`"Invalid namespace"`)}},
		{`51-["hello",{"_placeholder":true,"num":0}]`, Packet{Type: PacketBinaryEvent, Namespace: "/", Attachments: 1, Data: []byte(`["hello",{"_placeholder":true,"num":0}]`)}},
		{`52-/admin,["baz",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`, Packet{Type: PacketBinaryEvent, Namespace: "/admin", Attachments: 2, Data: []byte(`["baz",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`)}},
		{`50-["x"]`, Packet{Type: PacketBinaryEvent, Namespace: "/", Data: []byte(`["x"]`)}},
		{`61-/admin,456[{"_placeholder":true,"num":0}]`, Packet{Type: PacketBinaryAck, Namespace: "/admin", ID: 456, HasID: true, Attachments: 1, Data: []byte(`[{"_placeholder":true,"num":0}]`)}},
		{`61-15["bar",{"_placeholder":true,"num":0}]`, Packet{Type: PacketBinaryAck, Namespace: "/", ID: 15, HasID: true, Attachments: 1, Data: []byte(`["bar",{"_placeholder":true,"num":0}]`)}},
		{`612-[]`, Packet{Type: PacketBinaryAck, Namespace: "/", Attachments: 12, Data: []byte(`[]`)}},
	}
	for _, tt := range tests {
		got, err := Decode([]byte(tt.in))
		if err != nil {
			t.Errorf("Decode(%q): unexpected error %v", tt.in, err)
			continue
		}
		if !packetEqual(got, tt.want) {
			t.Errorf("Decode(%q) =\n%+v, want\n%+v", tt.in, got, tt.want)
		}
	}
}

func TestDecodeInvalid(t *testing.T) {
	tests := []struct {
		in   string
		why  string // a fragment of the expected error message
		name string
	}{
		{``, "empty", "empty"},
		{`7`, "unknown packet type", "type out of range"},
		{`a`, "unknown packet type", "type not a digit"},
		{`2`, "without payload", "event without payload"},
		{`212`, "without payload", "event with id, without payload"},
		{`2{}`, "not an array", "event payload object"},
		{`2[]`, "empty array", "event payload empty"},
		{`2[ ]`, "empty array", "event payload empty with space"},
		{`2["connect"]`, "reserved", "reserved connect"},
		{`2["connect_error"]`, "reserved", "reserved connect_error"},
		{`2["disconnect",1]`, "reserved", "reserved disconnect"},
		{`2["disconnecting"]`, "reserved", "reserved disconnecting"},
		{`2["newListener"]`, "reserved", "reserved newListener"},
		{`2["removeListener"]`, "reserved", "reserved removeListener"},
		{`2["\u0063onnect"]`, "reserved", "reserved name spelled with an escape"},
		{`5-["disconnect"]`, "attachment count", "binary reserved (no count)"},
		{`51-["disconnect"]`, "reserved", "binary reserved"},
		{`2[null]`, "neither a string nor a number", "event name null"},
		{`2[{"a":1}]`, "neither a string nor a number", "event name object"},
		{`2[true]`, "neither a string nor a number", "event name bool"},
		{`0/admin,[]`, "not an object", "connect array"},
		{`0"x"`, "not an object", "connect string"},
		{`0null`, "not an object", "connect null"},
		{`1/a,{}`, "with payload", "disconnect with payload"},
		{`1{}`, "with payload", "disconnect with payload, main namespace"},
		{`3`, "without payload", "ack without payload"},
		{`3{}`, "not an array", "ack object"},
		{`4`, "without payload", "connect_error without payload"},
		{`4[]`, "neither a string nor an object", "connect_error array"},
		{`45`, "without payload", "connect_error number read as id"},
		{`5-[]`, "without attachment count", "binary without count"},
		{`5["x"]`, "without attachment count", "binary without count or dash"},
		{`51["x"]`, "not followed by '-'", "binary count without dash"},
		{`51`, "not followed by '-'", "binary count then end"},
		{`5a-["x"]`, "without attachment count", "binary non-digit count"},
		{`51-`, "without payload", "binary event without payload"},
		{`6999999999999999999999-[]`, "overflows", "attachment count overflow"},
		{`2/admin`, "without payload", "namespace without comma or payload"},
		{`2/admin,`, "without payload", "namespace without payload"},
		{`2abc`, "not an array", "garbage payload"},
		{`21a["x"]`, "not an array", "non-digit in id"},
		{`2["x"`, "valid JSON", "unterminated array"},
		{`2["x"]]`, "valid JSON", "trailing bracket"},
		{`2["x",]`, "valid JSON", "trailing comma"},
		{`0{"a":}`, "valid JSON", "bad object"},
		{`4"unterminated`, "valid JSON", "bad string"},
		{`218446744073709551616["x"]`, "overflows", "id overflow"},
		{`2-["x"]`, "not an array", "dash on non-binary type"},
		{`21-["x"]`, "not an array", "count on non-binary type"},
		{`2,["x"]`, "not an array", "comma without namespace"},
	}
	for _, tt := range tests {
		got, err := Decode([]byte(tt.in))
		if err == nil {
			t.Errorf("%s: Decode(%q) = %+v, want error", tt.name, tt.in, got)
			continue
		}
		if !errors.Is(err, ErrInvalidPacket) {
			t.Errorf("%s: Decode(%q) error %v does not wrap ErrInvalidPacket", tt.name, tt.in, err)
		}
		if !strings.Contains(err.Error(), tt.why) {
			t.Errorf("%s: Decode(%q) error %q, want it to mention %q", tt.name, tt.in, err, tt.why)
		}
	}
}

func TestDecodeAliases(t *testing.T) {
	in := []byte(`2/chat,12["a"]`)
	p, err := Decode(in)
	if err != nil {
		t.Fatal(err)
	}
	if &p.Data[0] != &in[9] {
		t.Error("Data does not alias the input")
	}
	if cap(p.Data) != len(p.Data) {
		t.Errorf("cap(Data) = %d, want %d", cap(p.Data), len(p.Data))
	}
	in[1] = 'X' // the namespace must be a copy
	if p.Namespace != "/chat" {
		t.Errorf("Namespace changed with the input: %q", p.Namespace)
	}
}

// packetEqual compares packets treating nil and empty Data as equal.
func packetEqual(a, b Packet) bool {
	return a.Type == b.Type && a.Namespace == b.Namespace && a.ID == b.ID && a.HasID == b.HasID &&
		a.Attachments == b.Attachments && bytes.Equal(a.Data, b.Data)
}
