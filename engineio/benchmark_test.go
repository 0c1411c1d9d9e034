package engineio

import (
	"bytes"
	"testing"
)

// Allocation counts measured with go1.26 on linux/amd64 (the destination
// buffer of the Append benchmarks is reused, as a server would):
//
//	BenchmarkDecodePayload/x1          1 alloc  (the []Packet)
//	BenchmarkDecodePayload/x10+binary  2 allocs (the []Packet, the shared binary buffer)
//	BenchmarkAppendPayload/x1          0 allocs
//	BenchmarkAppendPayload/x10+binary  0 allocs
//	BenchmarkDecodePacket/text         0 allocs
//	BenchmarkAppendPacket/text         0 allocs

const benchMessage = `42/chat,["chat_message",{"text":"hello"}]`

func benchPayloads() (x1, x10 []byte) {
	x1 = []byte(benchMessage)
	parts := make([][]byte, 0, 11)
	for range 10 {
		parts = append(parts, []byte(benchMessage))
	}
	parts = append(parts, AppendPacket(nil, Packet{Type: PacketMessage, Data: bytes.Repeat([]byte{0xca, 0xfe}, 64), Binary: true}))
	x10 = bytes.Join(parts, []byte{RecordSeparator})
	return x1, x10
}

func BenchmarkDecodePayload(b *testing.B) {
	x1, x10 := benchPayloads()
	for _, bc := range []struct {
		name string
		body []byte
	}{{"x1", x1}, {"x10+binary", x10}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.body)))
			for b.Loop() {
				if _, err := DecodePayload(bc.body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkAppendPayload(b *testing.B) {
	x1, x10 := benchPayloads()
	for _, bc := range []struct {
		name string
		body []byte
	}{{"x1", x1}, {"x10+binary", x10}} {
		ps, err := DecodePayload(bc.body)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.body)))
			dst := make([]byte, 0, 2*len(bc.body))
			for b.Loop() {
				dst = AppendPayload(dst[:0], ps)
			}
		})
	}
}

func BenchmarkDecodePacket(b *testing.B) {
	in := []byte(benchMessage)
	b.Run("text", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := DecodePacket(in); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkAppendPacket(b *testing.B) {
	p := Packet{Type: PacketMessage, Data: []byte(benchMessage[1:])}
	b.Run("text", func(b *testing.B) {
		b.ReportAllocs()
		dst := make([]byte, 0, 64)
		for b.Loop() {
			dst = AppendPacket(dst[:0], p)
		}
	})
}
