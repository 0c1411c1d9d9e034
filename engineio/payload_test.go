package engineio

import (
	"errors"
	"testing"
)

func TestDecodePayload(t *testing.T) {
	msg := func(s string) Packet { return Packet{Type: PacketMessage, Data: []byte(s)} }
	tests := []struct {
		in   string
		want []Packet
	}{
		{"4hello", []Packet{msg("hello")}},
		{"4test1\x1e4test2\x1e4test3", []Packet{msg("test1"), msg("test2"), msg("test3")}},
		{"4hello\x1ebAQIDBA==", []Packet{msg("hello"), {Type: PacketMessage, Data: []byte{1, 2, 3, 4}, Binary: true}}},
		{"4hello\x1e2\x1e4world", []Packet{msg("hello"), {Type: PacketPing}, msg("world")}},
		{"2", []Packet{{Type: PacketPing}}},
		{"3probe", []Packet{{Type: PacketPong, Data: []byte("probe")}}},
		{"6", []Packet{{Type: PacketNoop}}},
		{"1", []Packet{{Type: PacketClose}}},
		{"b", []Packet{{Type: PacketMessage, Binary: true}}},
		{"b\x1ebAQ==\x1e4x\x1ebAgM=", []Packet{
			{Type: PacketMessage, Binary: true},
			{Type: PacketMessage, Data: []byte{1}, Binary: true},
			msg("x"),
			{Type: PacketMessage, Data: []byte{2, 3}, Binary: true},
		}},
		{`42/chat,["chat_message",{"text":"hello"}]`, []Packet{msg(`2/chat,["chat_message",{"text":"hello"}]`)}},
	}
	for _, tt := range tests {
		got, err := DecodePayload([]byte(tt.in))
		if err != nil {
			t.Errorf("DecodePayload(%q): unexpected error %v", tt.in, err)
			continue
		}
		if !packetsEqual(got, tt.want) {
			t.Errorf("DecodePayload(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestDecodePayloadInvalid(t *testing.T) {
	tests := []struct {
		in         string
		wantPacket bool // the error must also wrap ErrInvalidPacket
	}{
		{"", false},
		{"\x1e", false},
		{"4a\x1e", false},
		{"\x1e4a", false},
		{"4a\x1e\x1e4b", false},
		{"abc", true},
		{"9", true},
		{"4a\x1e9", true},
		{"bxyz!", true},
		{"4a\x1ebAQIDBA", true},
		{"bAQ==\x1eb!!!!", true},
	}
	for _, tt := range tests {
		got, err := DecodePayload([]byte(tt.in))
		if !errors.Is(err, ErrInvalidPayload) {
			t.Errorf("DecodePayload(%q) error = %v, want ErrInvalidPayload", tt.in, err)
		}
		if tt.wantPacket && !errors.Is(err, ErrInvalidPacket) {
			t.Errorf("DecodePayload(%q) error = %v, want it to wrap ErrInvalidPacket too", tt.in, err)
		}
		if got != nil {
			t.Errorf("DecodePayload(%q) returned packets %+v alongside an error", tt.in, got)
		}
	}
}

func TestDecodePayloadIsolation(t *testing.T) {
	// Appending to one packet's Data must not overwrite its neighbours,
	// neither in the aliased body nor in the shared binary buffer.
	body := []byte("4ab\x1e4cd\x1ebAQI=\x1ebAwQ=")
	ps, err := DecodePayload(body)
	if err != nil {
		t.Fatal(err)
	}
	for i := range ps {
		if cap(ps[i].Data) != len(ps[i].Data) {
			t.Errorf("packet %d: cap(Data) = %d, want %d", i, cap(ps[i].Data), len(ps[i].Data))
		}
	}
	_ = append(ps[0].Data, 'X')
	_ = append(ps[2].Data, 'X')
	if string(ps[1].Data) != "cd" || string(ps[3].Data) != "\x03\x04" {
		t.Errorf("neighbour packets changed: %q %q", ps[1].Data, ps[3].Data)
	}
}

func TestAppendPayload(t *testing.T) {
	ps := []Packet{
		{Type: PacketMessage, Data: []byte("hello")},
		{Type: PacketPing},
		{Type: PacketMessage, Data: []byte{1, 2, 3, 4}, Binary: true},
	}
	if got, want := string(AppendPayload(nil, ps)), "4hello\x1e2\x1ebAQIDBA=="; got != want {
		t.Errorf("AppendPayload = %q, want %q", got, want)
	}
	if got := AppendPayload([]byte("x"), nil); string(got) != "x" {
		t.Errorf("AppendPayload(x, nil) = %q, want %q", got, "x")
	}
}

func TestPayloadRoundTrip(t *testing.T) {
	payloads := [][]Packet{
		{{Type: PacketMessage, Data: []byte("a")}},
		{{Type: PacketOpen, Data: []byte(`{"sid":"s"}`)}, {Type: PacketMessage, Data: []byte("0")}},
		{{Type: PacketNoop}, {Type: PacketMessage, Binary: true}, {Type: PacketMessage, Data: []byte{0x1e, 0}, Binary: true}},
		{{Type: PacketPing}, {Type: PacketPong}, {Type: PacketClose}, {Type: PacketUpgrade}},
	}
	for _, want := range payloads {
		enc := AppendPayload(nil, want)
		got, err := DecodePayload(enc)
		if err != nil {
			t.Errorf("DecodePayload(%q) error: %v", enc, err)
			continue
		}
		if !packetsEqual(got, want) {
			t.Errorf("round trip of %+v = %+v", want, got)
		}
	}
}
