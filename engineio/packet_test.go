package engineio

import (
	"bytes"
	"errors"
	"testing"
)

func TestPacketTypeString(t *testing.T) {
	want := []string{"open", "close", "ping", "pong", "message", "upgrade", "noop"}
	for i, w := range want {
		pt := PacketType(i)
		if got := pt.String(); got != w {
			t.Errorf("PacketType(%d).String() = %q, want %q", i, got, w)
		}
		if !pt.Valid() {
			t.Errorf("PacketType(%d).Valid() = false, want true", i)
		}
	}
	for _, pt := range []PacketType{7, 9, 42, 255} {
		if pt.Valid() {
			t.Errorf("PacketType(%d).Valid() = true, want false", pt)
		}
	}
	if got, want := PacketType(7).String(), "PacketType(7)"; got != want {
		t.Errorf("PacketType(7).String() = %q, want %q", got, want)
	}
}

func TestDecodePacket(t *testing.T) {
	tests := []struct {
		in   string
		want Packet
	}{
		{"0{\"sid\":\"abc\"}", Packet{Type: PacketOpen, Data: []byte(`{"sid":"abc"}`)}},
		{"1", Packet{Type: PacketClose}},
		{"2", Packet{Type: PacketPing}},
		{"2probe", Packet{Type: PacketPing, Data: []byte("probe")}},
		{"3probe", Packet{Type: PacketPong, Data: []byte("probe")}},
		{"4hello", Packet{Type: PacketMessage, Data: []byte("hello")}},
		{"4", Packet{Type: PacketMessage}},
		{"4héllo ✓", Packet{Type: PacketMessage, Data: []byte("héllo ✓")}},
		{"5", Packet{Type: PacketUpgrade}},
		{"6", Packet{Type: PacketNoop}},
		{"bAQIDBA==", Packet{Type: PacketMessage, Data: []byte{1, 2, 3, 4}, Binary: true}},
		{"b", Packet{Type: PacketMessage, Binary: true}},
	}
	for _, tt := range tests {
		got, err := DecodePacket([]byte(tt.in))
		if err != nil {
			t.Errorf("DecodePacket(%q): unexpected error %v", tt.in, err)
			continue
		}
		if !packetEqual(got, tt.want) {
			t.Errorf("DecodePacket(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestDecodePacketInvalid(t *testing.T) {
	for _, in := range []string{"", "abc", "9", "7", "/", "\x1e", "bxyz!", "bAQIDBA", "bAQ=x"} {
		_, err := DecodePacket([]byte(in))
		if !errors.Is(err, ErrInvalidPacket) {
			t.Errorf("DecodePacket(%q) error = %v, want ErrInvalidPacket", in, err)
		}
	}
}

func TestDecodePacketAliases(t *testing.T) {
	in := []byte("4hello")
	p, err := DecodePacket(in)
	if err != nil {
		t.Fatal(err)
	}
	if &p.Data[0] != &in[1] {
		t.Error("text Data does not alias the input")
	}
	if cap(p.Data) != len(p.Data) {
		t.Errorf("cap(Data) = %d, want %d (capacity-limited)", cap(p.Data), len(p.Data))
	}
}

func TestAppendPacket(t *testing.T) {
	tests := []struct {
		p    Packet
		want string
	}{
		{Packet{Type: PacketOpen, Data: []byte(`{"sid":"x"}`)}, `0{"sid":"x"}`},
		{Packet{Type: PacketClose}, "1"},
		{Packet{Type: PacketPing}, "2"},
		{Packet{Type: PacketPong, Data: []byte("probe")}, "3probe"},
		{Packet{Type: PacketMessage, Data: []byte("hello")}, "4hello"},
		{Packet{Type: PacketUpgrade}, "5"},
		{Packet{Type: PacketNoop}, "6"},
		{Packet{Type: PacketMessage, Data: []byte{1, 2, 3, 4}, Binary: true}, "bAQIDBA=="},
		{Packet{Type: PacketMessage, Binary: true}, "b"},
	}
	for _, tt := range tests {
		got := AppendPacket([]byte("prefix:"), tt.p)
		if string(got) != "prefix:"+tt.want {
			t.Errorf("AppendPacket(%+v) = %q, want %q", tt.p, got, "prefix:"+tt.want)
		}
	}
}

func TestPacketRoundTrip(t *testing.T) {
	packets := []Packet{
		{Type: PacketOpen, Data: []byte(`{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`)},
		{Type: PacketClose},
		{Type: PacketPing, Data: []byte("probe")},
		{Type: PacketPong},
		{Type: PacketMessage, Data: []byte(`2["hello",1]`)},
		{Type: PacketUpgrade},
		{Type: PacketNoop},
		{Type: PacketMessage, Data: []byte{0, 0xff, 0x1e, 'b', '4'}, Binary: true},
		{Type: PacketMessage, Data: bytes.Repeat([]byte{0xab}, 1000), Binary: true},
	}
	for _, want := range packets {
		enc := AppendPacket(nil, want)
		got, err := DecodePacket(enc)
		if err != nil {
			t.Errorf("DecodePacket(AppendPacket(%+v)) error: %v", want, err)
			continue
		}
		if !packetEqual(got, want) {
			t.Errorf("round trip of %+v = %+v", want, got)
		}
	}
}

// packetEqual compares packets treating nil and empty Data as equal, since
// the encoding cannot tell them apart.
func packetEqual(a, b Packet) bool {
	return a.Type == b.Type && a.Binary == b.Binary && bytes.Equal(a.Data, b.Data)
}

func packetsEqual(a, b []Packet) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !packetEqual(a[i], b[i]) {
			return false
		}
	}
	return true
}
