package lambdafn_test

import (
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/serverless-socketio/server/consumers/chat"
	"github.com/serverless-socketio/server/handler"
	"github.com/serverless-socketio/server/internal/siotest"
	"github.com/serverless-socketio/server/lambdafn"
	"github.com/serverless-socketio/server/sio"
)

func httpEvent(method, query, body string, b64 bool) *events.APIGatewayV2HTTPRequest {
	ev := &events.APIGatewayV2HTTPRequest{
		Version: "2.0", RawPath: "/socket.io/", RawQueryString: query, Body: body, IsBase64Encoded: b64,
		Headers: map[string]string{"content-type": "text/plain;charset=UTF-8", "origin": "https://app.example"},
		Cookies: []string{"a=1", "b=2"},
	}
	ev.RequestContext.HTTP.Method = method
	ev.RequestContext.HTTP.SourceIP = "203.0.113.9"
	ev.RequestContext.DomainName = "api.example"
	return ev
}

// TestServeHTTPEvent checks the adapter field by field with a handler that echoes what it saw.
func TestServeHTTPEvent(t *testing.T) {
	var seen *http.Request
	var body []byte
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = r
		body, _ = io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Add("Set-Cookie", "io=1")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte("héllo"))
	})
	res, err := lambdafn.ServeHTTPEvent(context.Background(), h, httpEvent("POST", "EIO=4&transport=polling&sid=x", base64.StdEncoding.EncodeToString([]byte{0, 1, 2}), true))
	if err != nil {
		t.Fatal(err)
	}
	if seen.Method != "POST" || seen.URL.Path != "/socket.io/" || seen.URL.Query().Get("sid") != "x" ||
		seen.Header.Get("Origin") != "https://app.example" || seen.Header.Get("Cookie") != "a=1; b=2" ||
		seen.RemoteAddr != "203.0.113.9" || seen.Host != "api.example" || string(body) != "\x00\x01\x02" {
		t.Fatalf("request %s %s %v host %q remote %q body %q", seen.Method, seen.URL, seen.Header, seen.Host, seen.RemoteAddr, body)
	}
	if res.StatusCode != 201 || res.Body != "héllo" || res.IsBase64Encoded || res.Headers["Content-Type"] != "text/plain" ||
		len(res.Cookies) != 1 || res.Cookies[0] != "io=1" {
		t.Fatalf("response %+v", res)
	}
	bin := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte{0xff, 0xfe}) })
	res, _ = lambdafn.ServeHTTPEvent(context.Background(), bin, httpEvent("GET", "", "", false))
	if !res.IsBase64Encoded || res.Body != base64.StdEncoding.EncodeToString([]byte{0xff, 0xfe}) {
		t.Fatalf("binary response %+v", res)
	}
	res, _ = lambdafn.ServeHTTPEvent(context.Background(), bin, httpEvent("POST", "", "!!", true))
	if res.StatusCode != 400 {
		t.Fatalf("undecodable base64 body: %+v", res)
	}
}

// TestPollingThroughAdapter runs the chat over the adapter, and checks that a GET held on a
// context with a deadline (Lambda's) answers a noop before it instead of being cut off.
func TestPollingThroughAdapter(t *testing.T) {
	r := sio.NewRouter(nil)
	if err := r.Register(chat.Consumer{}); err != nil {
		t.Fatal(err)
	}
	srv := siotest.Start(t, r, handler.Config{PollHold: 20 * time.Second})
	do := func(ctx context.Context, method, query, body string) events.APIGatewayV2HTTPResponse {
		t.Helper()
		res, err := lambdafn.ServeHTTPEvent(ctx, srv.Engine, httpEvent(method, query, body, false))
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	ctx := context.Background()
	open := do(ctx, "GET", "EIO=4&transport=polling", "")
	if open.StatusCode != 200 || open.Body[0] != '0' {
		t.Fatalf("handshake %+v", open)
	}
	sid := open.Body[9:31]
	q := "EIO=4&transport=polling&sid=" + sid
	if res := do(ctx, "POST", q, "40/chat,"); res.Body != "ok" {
		t.Fatalf("POST %+v", res)
	}
	if res := do(ctx, "GET", q, ""); res.StatusCode != 200 || res.Body[:8] != "40/chat," {
		t.Fatalf("GET %+v", res)
	}
	short, cancel := context.WithTimeout(ctx, 2500*time.Millisecond)
	defer cancel()
	if res := do(short, "GET", q, ""); res.StatusCode != 200 || res.Body != "6" {
		t.Fatalf("GET held on a 2.5 s deadline: %+v, want a noop before the deadline", res)
	}
	if res := do(ctx, "POST", q, "3"); res.Body != "ok" {
		t.Fatalf("session gone after the deadline-bounded GET: %+v", res)
	}
}
