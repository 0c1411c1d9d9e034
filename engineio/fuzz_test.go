package engineio

import (
	"errors"
	"testing"
)

// FuzzDecodePayload checks that DecodePayload never panics, that every error
// wraps ErrInvalidPayload, and that a decoded payload survives
// AppendPayload -> DecodePayload unchanged.
func FuzzDecodePayload(f *testing.F) {
	for _, s := range []string{
		"4hello",
		"4test1\x1e4test2\x1e4test3",
		"4hello\x1ebAQIDBA==",
		"4hello\x1e2\x1e4world",
		"2", "2probe", "3probe", "6", "1", "5", "b",
		`0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`,
		`42/chat,["chat_message",{"text":"hello"}]` + "\x1e" + `451-["up",{"_placeholder":true,"num":0}]` + "\x1ebAAEC/w==",
		"bAQ==\x1eb\x1ebAAA=",
		"", "abc", "9", "4a\x1e", "\x1e4a", "bxyz!", "bAQ", "b\r\nAQ==",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		ps, err := DecodePayload(body)
		if err != nil {
			if !errors.Is(err, ErrInvalidPayload) {
				t.Fatalf("error %v does not wrap ErrInvalidPayload", err)
			}
			return
		}
		if len(ps) == 0 {
			t.Fatal("no packets and no error")
		}
		for i, p := range ps {
			if !p.Type.Valid() {
				t.Fatalf("packet %d has invalid type %d", i, p.Type)
			}
			if p.Binary && p.Type != PacketMessage {
				t.Fatalf("packet %d is binary with type %v", i, p.Type)
			}
		}
		enc := AppendPayload(nil, ps)
		again, err := DecodePayload(enc)
		if err != nil {
			t.Fatalf("re-encoded payload %q does not decode: %v", enc, err)
		}
		if !packetsEqual(ps, again) {
			t.Fatalf("round trip mismatch:\n first %+v\nsecond %+v", ps, again)
		}
	})
}
