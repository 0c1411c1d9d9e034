// Package logattr builds the log attributes that carry what a client sent or what identifies a
// session, so that no log line holds a session's secret or a client's bulk:
//
//   - an Engine.IO session id is a bearer secret (whoever has it can read the session's packets):
//     it is logged as a short hash of itself ([Session]), at every level;
//   - any other value that came from a client (a namespace, an event name, an Origin, an error
//     that quotes input) is cut to [MaxLen] bytes of valid UTF-8 ([Client], [Err]);
//   - query strings are never logged (a token may travel in one).
//
// The functions are pure and safe for concurrent use.
package logattr

import (
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxLen bounds a client-supplied value in a log line, in bytes.
const MaxLen = 64

// Session returns the "session" attribute of the session sid: the first 12 hex digits of the
// SHA-256 of the id, enough to follow one session through the logs and useless to reach it. The
// hash of a known sid is `printf %s "$sid" | sha256sum | cut -c1-12`. An empty sid gives an
// empty attribute, which slog leaves out.
func Session(sid string) slog.Attr {
	if sid == "" {
		return slog.Attr{}
	}
	return slog.String("session", SessionTag(sid))
}

// SessionTag is the value of [Session]; "" for an empty sid.
func SessionTag(sid string) string {
	if sid == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(sid))
	return hex.EncodeToString(sum[:6])
}

// Client returns an attribute for a value that came from a client, cut by [Clip].
func Client(key, value string) slog.Attr { return slog.String(key, Clip(value)) }

// Err returns the "err" attribute of an error whose text may quote client input, cut to 4 ×
// [MaxLen] bytes.
func Err(err error) slog.Attr {
	if err == nil {
		return slog.String("err", "")
	}
	return slog.String("err", clip(err.Error(), 4*MaxLen))
}

// Clip returns s if it is valid UTF-8 of at most [MaxLen] bytes; otherwise its first bytes, with
// invalid sequences replaced by U+FFFD and the original length noted: "abc…(10240 bytes)".
func Clip(s string) string { return clip(s, MaxLen) }

func clip(s string, max int) string {
	if len(s) <= max && utf8.ValidString(s) {
		return s
	}
	n := len(s)
	if n > max {
		s = s[:max]
		// Back off from a rune cut in half (at most 3 bytes) rather than show it as U+FFFD.
		for i := 0; i < utf8.UTFMax-1; i++ {
			if r, size := utf8.DecodeLastRuneInString(s); r != utf8.RuneError || size != 1 {
				break
			}
			s = s[:len(s)-1]
		}
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	if n > max {
		s += "…(" + strconv.Itoa(n) + " bytes)"
	}
	return s
}
