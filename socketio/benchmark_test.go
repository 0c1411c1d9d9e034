package socketio

import (
	"encoding/json"
	"testing"
)

// Allocation counts measured with go1.26 on linux/amd64 (the destination
// buffer of the Append benchmarks is reused, as a server would):
//
//	BenchmarkDecode/event_ns_id          1 alloc  (the "/chat" namespace string)
//	BenchmarkDecode/event_main_ns        0 allocs
//	BenchmarkAppendPacket/event_ns_id    0 allocs
//	BenchmarkEvent                       2 allocs (the name string, the args slice)
//	BenchmarkReplacePlaceholders         2 allocs (the span list, the result)
//	BenchmarkAppendPlaceholder           0 allocs

const benchEvent = `2/chat,12["chat_message",{"text":"hello"}]`

func BenchmarkDecode(b *testing.B) {
	for _, bc := range []struct{ name, in string }{
		{"event_ns_id", benchEvent},
		{"event_main_ns", `2["chat_message",{"text":"hello"}]`},
	} {
		in := []byte(bc.in)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(in)))
			for b.Loop() {
				if _, err := Decode(in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkAppendPacket(b *testing.B) {
	p, err := Decode([]byte(benchEvent))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("event_ns_id", func(b *testing.B) {
		b.ReportAllocs()
		dst := make([]byte, 0, 64)
		for b.Loop() {
			dst = AppendPacket(dst[:0], p)
		}
	})
}

func BenchmarkEvent(b *testing.B) {
	p, err := Decode([]byte(benchEvent))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := p.Event(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReplacePlaceholders(b *testing.B) {
	data := json.RawMessage(`["upload",{"name":"a.png","body":{"_placeholder":true,"num":0}}]`)
	att := [][]byte{make([]byte, 256)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ReplacePlaceholders(data, att); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendPlaceholder(b *testing.B) {
	b.ReportAllocs()
	dst := make([]byte, 0, 64)
	for b.Loop() {
		dst = AppendPlaceholder(dst[:0], 3)
	}
}
