package socketio

import (
	"encoding/json"
	"testing"
)

func TestAppendPacket(t *testing.T) {
	tests := []struct {
		p    Packet
		want string
	}{
		{Packet{Type: PacketConnect, Namespace: "/"}, `0`},
		{Packet{Type: PacketConnect}, `0`},
		{Packet{Type: PacketConnect, Namespace: "/admin", Data: json.RawMessage(`{"sid":"oSO0OpakMV_3jnilAAAA"}`)}, `0/admin,{"sid":"oSO0OpakMV_3jnilAAAA"}`},
		{Packet{Type: PacketConnectError, Namespace: "/", Data: json.RawMessage(`{"message":"Not authorized"}`)}, `4{"message":"Not authorized"}`},
		{Packet{Type: PacketEvent, Namespace: "/", Data: json.RawMessage(`["foo"]`)}, `2["foo"]`},
		{Packet{Type: PacketEvent, Namespace: "/admin", Data: json.RawMessage(`["bar"]`)}, `2/admin,["bar"]`},
		{Packet{Type: PacketEvent, ID: 12, HasID: true, Data: json.RawMessage(`["foo"]`)}, `212["foo"]`},
		{Packet{Type: PacketEvent, ID: 0, HasID: true, Data: json.RawMessage(`["foo"]`)}, `20["foo"]`},
		{Packet{Type: PacketAck, Namespace: "/admin", ID: 13, HasID: true, Data: json.RawMessage(`["bar"]`)}, `3/admin,13["bar"]`},
		{Packet{Type: PacketBinaryEvent, Namespace: "/", Attachments: 1, Data: json.RawMessage(`["baz",{"_placeholder":true,"num":0}]`)}, `51-["baz",{"_placeholder":true,"num":0}]`},
		{Packet{Type: PacketBinaryEvent, Namespace: "/admin", Attachments: 2, Data: json.RawMessage(`["baz"]`)}, `52-/admin,["baz"]`},
		{Packet{Type: PacketBinaryAck, Namespace: "/", ID: 15, HasID: true, Attachments: 1, Data: json.RawMessage(`["bar"]`)}, `61-15["bar"]`},
		{Packet{Type: PacketBinaryAck, Namespace: "/admin", ID: 1, HasID: true, Attachments: 1, Data: json.RawMessage(`[{"_placeholder":true,"num":0}]`)}, `61-/admin,1[{"_placeholder":true,"num":0}]`},
		{Packet{Type: PacketDisconnect, Namespace: "/admin"}, `1/admin,`},
		{Packet{Type: PacketEvent, Attachments: 3, Data: json.RawMessage(`["x"]`)}, `2["x"]`}, // count ignored on non-binary types
	}
	for _, tt := range tests {
		got := AppendPacket([]byte("pre"), tt.p)
		if string(got) != "pre"+tt.want {
			t.Errorf("AppendPacket(%+v) = %q, want %q", tt.p, got, "pre"+tt.want)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	for _, in := range []string{
		`0`, `0/admin,`, `0/admin,{"token":"123"}`, `1`, `1/admin,`,
		`2["hello",1]`, `2/admin,456["project:delete",123]`, `3/admin,456[]`,
		`4{"message":"Not authorized"}`, `4"nope"`,
		`51-["hello",{"_placeholder":true,"num":0}]`, `61-/admin,456[{"_placeholder":true,"num":0}]`,
		`2/chat,12["chat_message",{"text":"hello","n":[1,2,{"d":null}]}]`,
		`2["ünïcödé ✓","\u0000\"\\"]`,
	} {
		p, err := Decode([]byte(in))
		if err != nil {
			t.Errorf("Decode(%q): %v", in, err)
			continue
		}
		if got := string(AppendPacket(nil, p)); got != in {
			t.Errorf("AppendPacket(Decode(%q)) = %q", in, got)
		}
	}
	// Non-canonical spellings decode to the same packet as their canonical form.
	for in, canon := range map[string]string{
		`0/admin`:      `0/admin,`,
		`2/,["x"]`:     `2["x"]`,
		`2007["x"]`:    `27["x"]`,
		`501-["x",1]`:  `51-["x",1]`,
		`0/admin,{ }`:  `0/admin,{ }`,
		`3/a,00[ 1 ] `: `3/a,0[ 1 ] `,
	} {
		p, err := Decode([]byte(in))
		if err != nil {
			t.Errorf("Decode(%q): %v", in, err)
			continue
		}
		if got := string(AppendPacket(nil, p)); got != canon {
			t.Errorf("AppendPacket(Decode(%q)) = %q, want %q", in, got, canon)
		}
	}
}

func TestAppendPlaceholder(t *testing.T) {
	for n, want := range map[int]string{
		0:  `{"_placeholder":true,"num":0}`,
		7:  `{"_placeholder":true,"num":7}`,
		42: `{"_placeholder":true,"num":42}`,
	} {
		if got := string(AppendPlaceholder([]byte("["), n)); got != "["+want {
			t.Errorf("AppendPlaceholder(%d) = %q, want %q", n, got, "["+want)
		}
	}
	// A packet built with AppendPlaceholder decodes and reconstructs.
	data := AppendPlaceholder([]byte(`["file",`), 0)
	data = append(data, ']')
	enc := AppendPacket(nil, Packet{Type: PacketBinaryEvent, Attachments: 1, Data: data})
	p, err := Decode(enc)
	if err != nil {
		t.Fatal(err)
	}
	out, err := ReplacePlaceholders(p.Data, [][]byte{{1, 2, 3, 4}})
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != `["file","AQIDBA=="]` {
		t.Errorf("ReplacePlaceholders = %s", out)
	}
}
