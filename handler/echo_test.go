package handler_test

import (
	"net/http"
	"testing"

	"github.com/serverless-socketio/server/handler"
	"github.com/serverless-socketio/server/internal/siotest"
)

// TestEchoOverPolling mirrors the Engine.IO v4 suite's three "message > HTTP long-polling" echo
// tests: one plain-text packet, several, and plain text with binary (base64 over polling).
func TestEchoOverPolling(t *testing.T) {
	cases := []struct{ name, payload string }{
		{"one plain text packet", "4hello"},
		{"several plain text packets", "4test1\x1e4test2\x1e4test3"},
		{"plain text and binary packets", "4hello\x1ebAQIDBA=="},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := siotest.Start(t, handler.Echo{}, handler.Config{})
			c := srv.Open(t)
			c.Post(tc.payload)
			if status, body := siotest.Do(t, http.MethodGet, c.URL, ""); status != http.StatusOK || body != tc.payload {
				t.Fatalf("GET: %d %q, want 200 %q", status, body, tc.payload)
			}
		})
	}
}
