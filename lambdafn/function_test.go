package lambdafn_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/aws/aws-lambda-go/events"

	"github.com/serverless-socketio/server/consumers/chat"
	"github.com/serverless-socketio/server/lambdafn"
	"github.com/serverless-socketio/server/sio"
)

// recorder imitates both AWS endpoints the function calls (no real ones can run here): the
// Management API (POST /@connections/{id}) and the Lambda Invoke API (async invocations).
type recorder struct {
	mu      sync.Mutex
	frames  map[string][]string
	invokes []string
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if id, ok := strings.CutPrefix(r.URL.Path, "/@connections/"); ok {
		if r.Method == http.MethodPost {
			rec.frames[id] = append(rec.frames[id], string(b))
		}
		return
	}
	if strings.HasSuffix(r.URL.Path, "/invocations") && r.Header.Get("X-Amz-Invocation-Type") == "Event" &&
		strings.Contains(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256") {
		rec.invokes = append(rec.invokes, string(b))
		w.WriteHeader(http.StatusAccepted)
		return
	}
	http.NotFound(w, r)
}

func (rec *recorder) take(conn string) []string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	f := rec.frames[conn]
	rec.frames[conn] = nil
	return f
}

func newFunction(t *testing.T) (*lambdafn.Function, *recorder) {
	t.Helper()
	return newFunctionEnv(t, nil)
}

// newFunctionEnv is newFunction with more environment variables.
func newFunctionEnv(t *testing.T, extra map[string]string) (*lambdafn.Function, *recorder) {
	t.Helper()
	mr := miniredis.RunT(t)
	rec := &recorder{frames: map[string][]string{}}
	aws := httptest.NewServer(rec)
	t.Cleanup(aws.Close)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKID")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	vars := map[string]string{
		"SIO_STORE": "redis", "SIO_REDIS_URL": "redis://" + mr.Addr() + "/0",
		"SIO_APIGW_MANAGEMENT_ENDPOINT": aws.URL, "SIO_LAMBDA_ENDPOINT": aws.URL,
		"AWS_LAMBDA_FUNCTION_NAME": "sio", "AWS_REGION": "us-east-1",
	}
	maps.Copy(vars, extra)
	cfg, err := lambdafn.FromEnv(env(vars))
	if err != nil {
		t.Fatal(err)
	}
	r := sio.NewRouter(nil)
	if err := r.Register(chat.Consumer{}); err != nil {
		t.Fatal(err)
	}
	fn, err := lambdafn.New(context.Background(), cfg, r, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fn.Close)
	return fn, rec
}

func wsEvent(route, conn, body string, query map[string]string) json.RawMessage {
	ev := events.APIGatewayWebsocketProxyRequest{Body: body, QueryStringParameters: query}
	ev.RequestContext.RouteKey = route
	ev.RequestContext.ConnectionID = conn
	ev.RequestContext.EventType = map[string]string{"$connect": "CONNECT", "$disconnect": "DISCONNECT"}[route]
	if ev.RequestContext.EventType == "" {
		ev.RequestContext.EventType = "MESSAGE"
	}
	b, _ := json.Marshal(ev)
	return b
}

func invoke(t *testing.T, fn *lambdafn.Function, ev json.RawMessage) any {
	t.Helper()
	res, err := fn.Handle(context.Background(), ev)
	if err != nil {
		t.Fatalf("Handle(%s): %v", ev, err)
	}
	return res
}

func TestWebSocketRoutes(t *testing.T) {
	fn, rec := newFunction(t)
	ws := map[string]string{"EIO": "4", "transport": "websocket"}
	for _, conn := range []string{"A", "B"} {
		res := invoke(t, fn, wsEvent("$connect", conn, "", ws)).(events.APIGatewayProxyResponse)
		if res.StatusCode != 200 {
			t.Fatalf("$connect %s: %+v", conn, res)
		}
	}
	if len(rec.invokes) != 2 || !strings.Contains(rec.invokes[0], `"connectionId":"A"`) {
		t.Fatalf("async open invocations %q", rec.invokes)
	}
	for i, conn := range []string{"A", "B"} {
		invoke(t, fn, json.RawMessage(rec.invokes[i]))
		if f := rec.take(conn); len(f) != 1 || !strings.HasPrefix(f[0], `0{"sid":`) || !strings.Contains(f[0], `"pingInterval":60000`) {
			t.Fatalf("open packet for %s: %q", conn, f)
		}
		invoke(t, fn, wsEvent("$default", conn, "40/chat,", nil))
		if f := rec.take(conn); len(f) != 2 || !strings.HasPrefix(f[0], "40/chat,") || f[1] != `42/chat,["system_message",{"text":"Welcome!"}]` {
			t.Fatalf("connect answer for %s: %q", conn, f)
		}
	}
	invoke(t, fn, wsEvent("$default", "A", `42/chat,5["chat_message",{"text":"hi"}]`, nil))
	msg := `42/chat,["chat_message",{"text":"hi"}]`
	if f := rec.take("A"); len(f) != 2 || f[0] != msg || f[1] != `43/chat,5[{"status":"ok"}]` {
		t.Fatalf("sender frames %q", f)
	}
	if f := rec.take("B"); len(f) != 1 || f[0] != msg {
		t.Fatalf("member frames %q", f)
	}
	invoke(t, fn, wsEvent("$disconnect", "B", "", nil))
	invoke(t, fn, wsEvent("$default", "A", `42/chat,["chat_message",{"text":"again"}]`, nil))
	if f := rec.take("B"); len(f) != 0 {
		t.Fatalf("frames after $disconnect: %q", f)
	}
	res := invoke(t, fn, wsEvent("$connect", "C", "", map[string]string{"EIO": "3", "transport": "websocket"})).(events.APIGatewayProxyResponse)
	if res.StatusCode != 400 || !strings.Contains(res.Body, `"code":5`) {
		t.Fatalf("$connect with EIO=3: %+v", res)
	}
	if _, err := fn.Handle(context.Background(), json.RawMessage(`{"hello":"world"}`)); err == nil {
		t.Fatal("an unknown event was accepted")
	}
	if _, err := fn.Handle(context.Background(), json.RawMessage(`{`)); err == nil {
		t.Fatal("a malformed event was accepted")
	}
}

// TestWebSocketOrigin: $connect applies the Origin rule cmd/local's gateway applies, with the
// headers as API Gateway passes them (the client's spelling of their names).
func TestWebSocketOrigin(t *testing.T) {
	ws := map[string]string{"EIO": "4", "transport": "websocket"}
	connect := func(fn *lambdafn.Function, conn string, headers map[string]string) events.APIGatewayProxyResponse {
		var ev events.APIGatewayWebsocketProxyRequest
		if err := json.Unmarshal(wsEvent("$connect", conn, "", ws), &ev); err != nil {
			t.Fatal(err)
		}
		ev.Headers = headers
		b, _ := json.Marshal(ev)
		return invoke(t, fn, b).(events.APIGatewayProxyResponse)
	}
	const host = "abc123.execute-api.us-east-1.amazonaws.com"
	fn, rec := newFunctionEnv(t, map[string]string{"SIO_CORS_ORIGINS": "https://chat.example,*"})
	cases := []struct {
		headers map[string]string
		status  int
	}{
		{map[string]string{"Host": host}, 200},
		{map[string]string{"Host": host, "Origin": "https://chat.example"}, 200},
		{map[string]string{"host": host, "origin": "https://" + host}, 200},
		{map[string]string{"Host": host, "Origin": "https://evil.example"}, 403},
		{map[string]string{"host": host, "origin": "https://evil.example"}, 403},
		{map[string]string{"Host": host, "Origin": "null"}, 403},
	}
	for i, tc := range cases {
		before := len(rec.invokes)
		res := connect(fn, fmt.Sprintf("C%d", i), tc.headers)
		if res.StatusCode != tc.status {
			t.Errorf("$connect with %v: %d %q, want %d", tc.headers, res.StatusCode, res.Body, tc.status)
		}
		if opened := len(rec.invokes) > before; opened != (tc.status == 200) {
			t.Errorf("$connect with %v: open scheduled %v", tc.headers, opened)
		}
	}
	open, _ := newFunctionEnv(t, map[string]string{"SIO_WS_ANY_ORIGIN": "true"})
	if res := connect(open, "D", map[string]string{"Host": host, "Origin": "https://evil.example"}); res.StatusCode != 200 {
		t.Errorf("with SIO_WS_ANY_ORIGIN=true: %d %q", res.StatusCode, res.Body)
	}
}

func TestSweepEvent(t *testing.T) {
	fn, _ := newFunction(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3e9)
	defer cancel()
	res, err := fn.Handle(ctx, json.RawMessage(`{"version":"0","source":"aws.events","detail-type":"Scheduled Event"}`))
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := res.(lambdafn.SweepResult); !ok || r.Passes != 1 {
		t.Fatalf("sweep %+v: one pass fits a 3 s deadline with 10 s passes", res)
	}
}
