package handler

import (
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/serverless-socketio/server/session"
)

// Engine.IO error codes (engine.io server, Server.errors), sent as {"code":N,"message":"…"}.
const (
	codeUnknownTransport   = 0
	codeUnknownSID         = 1
	codeBadHandshakeMethod = 2
	codeBadRequest         = 3
	codeForbidden          = 4
	codeUnsupportedVersion = 5
)

var errorMessages = [...]string{
	codeUnknownTransport:   "Transport unknown",
	codeUnknownSID:         "Session ID unknown",
	codeBadHandshakeMethod: "Bad handshake method",
	codeBadRequest:         "Bad request",
	codeForbidden:          "Forbidden",
	codeUnsupportedVersion: "Unsupported protocol version",
}

// Why the handler refuses a request; each maps to an Engine.IO answer in [answers].
var (
	errUnknownTransport   = errors.New("handler: unknown transport")
	errBadHandshakeMethod = errors.New("handler: handshake that is not a GET")
	errUnsupportedVersion = errors.New("handler: unsupported Engine.IO version")
	errBadRequest         = errors.New("handler: bad request")
	errWrongTransport     = errors.New("handler: request over another transport than the session's")
	errOverlap            = errors.New("handler: a GET while another is held")
	errTooLarge           = errors.New("handler: body over maxPayload")
	errSlowBody           = errors.New("handler: body slower than the read timeout")
	errForbidden          = errors.New("handler: origin not allowed")
)

// answers is the one table from errors to Engine.IO answers: the first entry an error matches
// (errors.Is) gives the HTTP status and the Engine.IO code. An error matching none is a store
// failure: 503, "Store unavailable".
var answers = []struct {
	err    error
	status int
	code   int
}{
	{errUnknownTransport, http.StatusBadRequest, codeUnknownTransport},
	{session.ErrNotFound, http.StatusBadRequest, codeUnknownSID},
	{errBadHandshakeMethod, http.StatusBadRequest, codeBadHandshakeMethod},
	{errBadRequest, http.StatusBadRequest, codeBadRequest},
	{errWrongTransport, http.StatusBadRequest, codeBadRequest},
	{errOverlap, http.StatusBadRequest, codeBadRequest},
	{errTooLarge, http.StatusRequestEntityTooLarge, codeBadRequest},
	{errSlowBody, http.StatusRequestTimeout, codeBadRequest},
	{errForbidden, http.StatusForbidden, codeForbidden},
	{errUnsupportedVersion, http.StatusBadRequest, codeUnsupportedVersion},
}

// storeUnavailable is the body of the answer to a store failure.
const storeUnavailable = `{"code":3,"message":"Store unavailable"}`

// answer returns the HTTP status and the Engine.IO error body for err; ok is false for a store
// failure (503).
func answer(err error) (status int, body string, ok bool) {
	for _, a := range answers {
		if errors.Is(err, a.err) {
			return a.status, `{"code":` + strconv.Itoa(a.code) + `,"message":"` + errorMessages[a.code] + `"}`, true
		}
	}
	return http.StatusServiceUnavailable, storeUnavailable, false
}

// RequestError refuses a WebSocket $connect with an Engine.IO error.
type RequestError struct {
	Status  int
	Code    int
	Message string
	// AcceptThenClose asks the gateway to complete the upgrade and close the connection at once,
	// instead of answering the upgrade request with Status: what Engine.IO does with a second
	// WebSocket for a session that is upgrading or upgraded.
	AcceptThenClose bool
}

func (e *RequestError) Error() string { return e.Message }

// Body returns the Engine.IO error body {"code":N,"message":"…"}.
func (e *RequestError) Body() []byte {
	return []byte(`{"code":` + strconv.Itoa(e.Code) + `,"message":"` + e.Message + `"}`)
}

// requestError turns a refusal into the *RequestError of a WebSocket $connect, by [answers];
// a store failure stays as it is.
func requestError(err error) error {
	for _, a := range answers {
		if errors.Is(err, a.err) {
			return &RequestError{Status: a.status, Code: a.code, Message: errorMessages[a.code]}
		}
	}
	return err
}

func writeError(w http.ResponseWriter, err error) {
	status, body, _ := answer(err)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}
