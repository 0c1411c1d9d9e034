package socketio

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
)

// TestAllocs holds the codec to the allocation counts stated in benchmark_test.go (the inputs
// are the benchmarks'). A count that changes either way fails: more is a regression, fewer
// means that comment is out of date.
func TestAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	event, mainNS := []byte(benchEvent), []byte(`2["chat_message",{"text":"hello"}]`)
	p, err := Decode(event)
	if err != nil {
		t.Fatal(err)
	}
	if p.Type != PacketEvent || p.Namespace != "/chat" || !p.HasID || p.ID != 12 {
		t.Fatalf("Decode(%s) = %+v", event, p)
	}
	data := json.RawMessage(`["upload",{"name":"a.png","body":{"_placeholder":true,"num":0}}]`)
	att := [][]byte{make([]byte, 256)}
	dst := make([]byte, 0, 64)
	cases := []struct {
		name string
		want float64
		run  func() error
	}{
		{"Decode/event_ns_id", 1, func() error { _, err := Decode(event); return err }},
		{"Decode/event_main_ns", 0, func() error { _, err := Decode(mainNS); return err }},
		{"AppendPacket/event_ns_id", 0, func() error {
			dst = AppendPacket(dst[:0], p)
			if !bytes.Equal(dst, event) {
				return fmt.Errorf("AppendPacket = %q, want %q", dst, event)
			}
			return nil
		}},
		{"Event", 2, func() error {
			name, args, err := p.Event()
			if err == nil && (name != "chat_message" || len(args) != 1) {
				err = fmt.Errorf("Event() = %q, %q", name, args)
			}
			return err
		}},
		{"ReplacePlaceholders", 2, func() error { _, err := ReplacePlaceholders(data, att); return err }},
		{"AppendPlaceholder", 0, func() error {
			dst = AppendPlaceholder(dst[:0], 3)
			if want := `{"_placeholder":true,"num":3}`; string(dst) != want {
				return fmt.Errorf("AppendPlaceholder = %q, want %q", dst, want)
			}
			return nil
		}},
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
