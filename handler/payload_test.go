package handler

import (
	"testing"

	"github.com/serverless-socketio/server/engineio"
)

func TestStoredPayload(t *testing.T) {
	text := func(s string) engineio.Packet { return engineio.Packet{Type: engineio.PacketMessage, Data: []byte(s)} }
	bin := engineio.Packet{Type: engineio.PacketMessage, Data: []byte{1, 2, 3}, Binary: true}
	cases := []struct {
		name    string
		packets []engineio.Packet
		frames  []string // "t:" text or "b:" binary, as a WebSocket receives them
		polling string
	}{
		{"plain", []engineio.Packet{text("hi")}, []string{"t:4hi"}, "4hi"},
		{"text and binary", []engineio.Packet{text("x"), bin}, []string{"t:4x", "b:\x01\x02\x03"}, "4x\x1ebAQID"},
		{"separator in text", []engineio.Packet{text("a\x1ebAQID")}, []string{"t:4a\x1ebAQID"}, "4a\x1ebAQID"},
		{"escaped then binary", []engineio.Packet{text("\x1e"), bin}, []string{"t:4\x1e", "b:\x01\x02\x03"}, "4\x1e\x1ebAQID"},
		{"starts with x", []engineio.Packet{text("xyz"), text("a")}, []string{"t:4xyz", "t:4a"}, "4xyz\x1e4a"},
	}
	for _, tc := range cases {
		var stored []byte
		for _, p := range tc.packets {
			stored = AppendStoredPacket(stored, p)
		}
		var got []string
		storedParts(stored, func(data []byte, binary bool) {
			if binary {
				got = append(got, "b:"+string(data))
			} else {
				got = append(got, "t:"+string(data))
			}
		})
		if len(got) != len(tc.frames) {
			t.Fatalf("%s: frames %q, want %q", tc.name, got, tc.frames)
		}
		for i := range got {
			if got[i] != tc.frames[i] {
				t.Fatalf("%s: frames %q, want %q", tc.name, got, tc.frames)
			}
		}
		if p := string(appendPollingPayload(nil, stored)); p != tc.polling {
			t.Errorf("%s: polling %q, want %q", tc.name, p, tc.polling)
		}
	}
}
