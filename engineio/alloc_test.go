package engineio

import (
	"bytes"
	"fmt"
	"testing"
)

// TestAllocs holds the codec to the allocation counts stated in benchmark_test.go (decode and
// encode of the payloads a chat server handles most). A count that changes either way fails:
// more is a regression, fewer means that comment is out of date.
func TestAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	x1, x10 := benchPayloads()
	ps1, err := DecodePayload(x1)
	if err != nil {
		t.Fatal(err)
	}
	ps10, err := DecodePayload(x10)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps1) != 1 || len(ps10) != 11 || !ps10[10].Binary {
		t.Fatalf("benchmark payloads decode to %d and %d packets (last binary: %v), want 1 and 11 (binary)", len(ps1), len(ps10), ps10[len(ps10)-1].Binary)
	}
	text := Packet{Type: PacketMessage, Data: []byte(benchMessage[1:])}
	dst := make([]byte, 0, 2*len(x10))
	cases := []struct {
		name string
		want float64
		run  func() error
	}{
		{"DecodePayload/x1", 1, func() error { _, err := DecodePayload(x1); return err }},
		{"DecodePayload/x10+binary", 2, func() error { _, err := DecodePayload(x10); return err }},
		{"AppendPayload/x1", 0, func() error { dst = AppendPayload(dst[:0], ps1); return sameBytes(dst, x1) }},
		{"AppendPayload/x10+binary", 0, func() error { dst = AppendPayload(dst[:0], ps10); return sameBytes(dst, x10) }},
		{"DecodePacket/text", 0, func() error { _, err := DecodePacket(x1); return err }},
		{"AppendPacket/text", 0, func() error { dst = AppendPacket(dst[:0], text); return sameBytes(dst, x1) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// One checked run first: an allocation count of a failing call means nothing.
			if err := tc.run(); err != nil {
				t.Fatal(err)
			}
			var failed error
			got := testing.AllocsPerRun(100, func() {
				if err := tc.run(); err != nil && failed == nil {
					failed = err
				}
			})
			if failed != nil {
				t.Fatal(failed)
			}
			if got != tc.want {
				t.Errorf("%v allocs per run, want %v (as stated in benchmark_test.go; update it if this is an improvement)", got, tc.want)
			}
		})
	}
}

// sameBytes checks an encoder's output; it allocates only when they differ.
func sameBytes(got, want []byte) error {
	if !bytes.Equal(got, want) {
		return fmt.Errorf("encoded %q, want %q", got, want)
	}
	return nil
}
