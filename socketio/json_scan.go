package socketio

import (
	"encoding/json"
	"unicode/utf8"
)

// This file holds a minimal JSON tokenizer used to look inside payloads
// without unmarshalling them: the hot path only needs to find the bounds of
// array elements and object members. Every function is bounds-checked and
// returns ok=false (never panics) on malformed input, but only guarantees
// exact results on input that json.Valid accepts; callers validate first.

// isSpace reports whether c is JSON insignificant whitespace (RFC 8259 §2).
func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// isDigit reports whether c is an ASCII decimal digit.
func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// skipSpace returns the index of the first non-whitespace byte at or after i.
func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// skipString expects b[i] == '"' and returns the index just past the closing
// quote, and whether the string contains escape sequences.
func skipString(b []byte, i int) (end int, escaped, ok bool) {
	if i >= len(b) || b[i] != '"' {
		return i, false, false
	}
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			escaped = true
			i++ // the escaped byte cannot end the string
		case '"':
			return i + 1, escaped, true
		}
	}
	return i, escaped, false
}

// skipValue returns the index just past the JSON value starting at b[i]
// (which must not be whitespace). Containers are skipped by depth counting,
// which is exact for valid JSON.
func skipValue(b []byte, i int) (end int, ok bool) {
	if i >= len(b) {
		return i, false
	}
	switch b[i] {
	case '"':
		end, _, ok = skipString(b, i)
		return end, ok
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				var ok bool
				if i, _, ok = skipString(b, i); !ok {
					return i, false
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1, true
				}
			}
			i++
		}
		return i, false
	case '}', ']', ',', ':':
		return i, false
	}
	// A literal: number, true, false or null.
	start := i
	for i < len(b) {
		switch c := b[i]; c {
		case ',', ']', '}', ':', '"', '[', '{':
			return i, i > start
		default:
			if isSpace(c) {
				return i, i > start
			}
		}
		i++
	}
	return i, i > start
}

// unquote returns the Go string for the JSON string literal s (quotes
// included), exactly as encoding/json would decode it. The common case,
// plain UTF-8 without escapes, is a direct conversion; escaped strings and
// invalid UTF-8 (which encoding/json, like JSON.parse on a UTF-8 decoded
// body, turns into U+FFFD) are rare enough to go through encoding/json.
func unquote(s []byte, escaped bool) (string, bool) {
	if len(s) < 2 {
		return "", false
	}
	if inner := s[1 : len(s)-1]; !escaped && utf8.Valid(inner) {
		return string(inner), true
	}
	var out string
	if err := json.Unmarshal(s, &out); err != nil {
		return "", false
	}
	return out, true
}

// stringEquals reports whether the JSON string literal s (quotes included)
// denotes name, without allocating unless s contains escapes.
func stringEquals(s []byte, escaped bool, name string) bool {
	if !escaped {
		return len(s) == len(name)+2 && string(s[1:len(s)-1]) == name
	}
	u, ok := unquote(s, true)
	return ok && u == name
}
