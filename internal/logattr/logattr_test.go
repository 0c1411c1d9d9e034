package logattr_test

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/serverless-socketio/server/internal/logattr"
)

func TestClip(t *testing.T) {
	long := strings.Repeat("a", 10240)
	cases := []struct{ in, want string }{
		{"/chat", "/chat"},
		{"", ""},
		{strings.Repeat("x", logattr.MaxLen), strings.Repeat("x", logattr.MaxLen)},
		{long, strings.Repeat("a", logattr.MaxLen) + "…(10240 bytes)"},
		{"/\xff\xfe", "/\uFFFD"},
		// A 3-byte rune cut after its first byte is dropped, not shown as U+FFFD.
		{strings.Repeat("a", logattr.MaxLen-1) + "€€", strings.Repeat("a", logattr.MaxLen-1) + "…(69 bytes)"},
	}
	for _, tc := range cases {
		got := logattr.Clip(tc.in)
		if got != tc.want {
			t.Errorf("Clip(%.20q…): %q, want %q", tc.in, got, tc.want)
		}
		if !utf8.ValidString(got) {
			t.Errorf("Clip(%.20q…) is not UTF-8", tc.in)
		}
	}
	if a := logattr.Err(errors.New(long)); len(a.Value.String()) > 4*logattr.MaxLen+20 {
		t.Errorf("Err kept %d bytes", len(a.Value.String()))
	}
}

func TestSession(t *testing.T) {
	sid := "Zm9vYmFyYmF6cXV4cXV1eA"
	tag := logattr.SessionTag(sid)
	// printf %s Zm9vYmFyYmF6cXV4cXV1eA | sha256sum | cut -c1-12
	if tag != "66795f80a026" {
		t.Fatalf("tag %q", tag)
	}
	if strings.Contains(tag, sid) || logattr.SessionTag(sid+"x") == tag || logattr.SessionTag(sid) != tag {
		t.Fatalf("tag %q does not identify %q", tag, sid)
	}
	if a := logattr.Session(sid); a.Key != "session" || a.Value.String() != tag {
		t.Fatalf("attr %v", a)
	}
}
