package main

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// TestConfigRefusesBadValues: a malformed environment variable is refused at start, naming it,
// as the Lambda function refuses it (they share envflag); so is a -client-js that names no file.
func TestConfigRefusesBadValues(t *testing.T) {
	js := filepath.Join(t.TempDir(), "socket.io.min.js")
	if err := os.WriteFile(js, []byte("// client"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		env  map[string]string
		args []string
		want string // "" means accepted
	}{
		{"defaults", nil, nil, ""},
		{"ping interval", map[string]string{"SIO_PING_INTERVAL": "abc"}, nil, `SIO_PING_INTERVAL="abc": want a positive Go duration`},
		{"max payload", map[string]string{"SIO_MAX_PAYLOAD": "lots"}, nil, `SIO_MAX_PAYLOAD="lots": want a positive number of bytes`},
		{"conformance", map[string]string{"SIO_CONFORMANCE": "yes"}, nil, `SIO_CONFORMANCE="yes": want true or false`},
		{"idle timeout", map[string]string{"SIO_IDLE_TIMEOUT": "-5s"}, nil, `SIO_IDLE_TIMEOUT="-5s"`},
		{"ws any origin", map[string]string{"SIO_WS_ANY_ORIGIN": "sure"}, nil, `SIO_WS_ANY_ORIGIN="sure"`},
		{"flag", nil, []string{"-read-timeout", "soon"}, `-read-timeout: want a positive Go duration`},
		{"poll hold", nil, []string{"-poll-hold", "40s"}, "-poll-hold 40s exceeds 28s"},
		{"client js missing", nil, []string{"-client-js", js + ".nope"}, "-client-js " + js + ".nope: not a readable file"},
		{"client js directory", map[string]string{"SIO_CLIENT_JS": t.TempDir()}, nil, "not a readable file"},
		{"client js", map[string]string{"SIO_CLIENT_JS": js}, nil, ""},
	}
	for _, tc := range cases {
		_, _, err := parseConfig(tc.args, env(tc.env))
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: refused: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: error %v, want one with %q", tc.name, err, tc.want)
		}
	}
}

// TestHelp: -h lists every flag with its environment variable and exits 0; a bad value exits 2
// with a message naming it.
func TestHelp(t *testing.T) {
	var out, errOut strings.Builder
	if code := realMain([]string{"-h"}, env(nil), &out, &errOut); code != 0 {
		t.Fatalf("-h exited %d (stderr %q)", code, errOut.String())
	}
	for _, want := range []string{"-addr string", "env SIO_ADDR; default 127.0.0.1:8080", "-ping-interval duration",
		"env SIO_PING_INTERVAL", "env SIO_CORS_ORIGINS", "-ws-any-origin\n", "env SIO_IDLE_TIMEOUT; default 30s",
		"env SIO_READ_TIMEOUT; default 30s", "env SIO_CLIENT_JS"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("-h output lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	errOut.Reset()
	if code := realMain(nil, env(map[string]string{"SIO_PING_INTERVAL": "abc"}), &out, &errOut); code != 2 {
		t.Fatalf("a bad SIO_PING_INTERVAL exited %d", code)
	}
	if !strings.Contains(errOut.String(), `SIO_PING_INTERVAL="abc"`) {
		t.Errorf("stderr %q does not name the variable", errOut.String())
	}
}

// startLocal serves cmd/local on the embedded store, on a loopback port, until the test ends.
func startLocal(t *testing.T, args ...string) string {
	t.Helper()
	cfg, _, err := parseConfig(args, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, ln, cfg, slog.New(slog.DiscardHandler)) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return ln.Addr().String()
}

// rawConn is a client connection that writes bytes as given and reads responses.
type rawConn struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, c: c, r: bufio.NewReader(c)}
}

func (rc *rawConn) write(s string) {
	rc.t.Helper()
	if _, err := io.WriteString(rc.c, s); err != nil {
		rc.t.Fatal(err)
	}
}

// response reads one response; wait bounds the wait, as a guard against a hang.
func (rc *rawConn) response(wait time.Duration) (int, string) {
	rc.t.Helper()
	_ = rc.c.SetReadDeadline(time.Now().Add(wait))
	resp, err := http.ReadResponse(rc.r, nil)
	if err != nil {
		rc.t.Fatalf("no response within %s: %v", wait, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// closedWithin reports whether the server closes the connection within wait.
func (rc *rawConn) closedWithin(wait time.Duration) bool {
	_ = rc.c.SetReadDeadline(time.Now().Add(wait))
	_, err := rc.r.ReadByte()
	return err == io.EOF
}

// handshake opens a polling session and returns its sid.
func handshake(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/socket.io/?EIO=4&transport=polling")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	sid, _, ok := strings.Cut(strings.TrimPrefix(string(b), `0{"sid":"`), `"`)
	if resp.StatusCode != 200 || !ok {
		t.Fatalf("handshake: %d %q", resp.StatusCode, b)
	}
	return sid
}

func get(addr, sid string) string {
	return "GET /socket.io/?EIO=4&transport=polling&sid=" + sid + " HTTP/1.1\r\nHost: " + addr + "\r\n\r\n"
}

// TestIdleConnectionsClose: a keep-alive connection that made one request is closed once idle
// for -idle-timeout (it used to stay open, holding a goroutine, forever).
func TestIdleConnectionsClose(t *testing.T) {
	addr := startLocal(t, "-idle-timeout", "200ms")
	c := dialRaw(t, addr)
	c.write("GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: " + addr + "\r\n\r\n")
	if status, body := c.response(5 * time.Second); status != 200 || !strings.HasPrefix(body, "0{") {
		t.Fatalf("handshake: %d %q", status, body)
	}
	if !c.closedWithin(5 * time.Second) {
		t.Fatal("an idle keep-alive connection was still open 5 s after its last request (-idle-timeout 200ms)")
	}
}

// TestHeaderLimit: a request whose headers pass 16 KB gets 431, as from the Node server.
func TestHeaderLimit(t *testing.T) {
	addr := startLocal(t)
	for _, tc := range []struct {
		size   int
		status int
	}{{8 << 10, 200}, {17 << 10, 431}} {
		c := dialRaw(t, addr)
		c.write("GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: " + addr + "\r\nX-Big: " + strings.Repeat("a", tc.size) + "\r\n\r\n")
		if status, _ := c.response(5 * time.Second); status != tc.status {
			t.Errorf("a %d-byte header: %d, want %d", tc.size, status, tc.status)
		}
	}
}

// TestSlowBody: a POST whose body stalls is answered 408 after -read-timeout and its session
// closes, while a GET held longer than -read-timeout is not cut.
func TestSlowBody(t *testing.T) {
	addr := startLocal(t, "-read-timeout", "300ms", "-poll-hold", "1s")

	sid := handshake(t, addr)
	held := dialRaw(t, addr)
	held.write(get(addr, sid))
	if status, body := held.response(10 * time.Second); status != 200 || body != "6" {
		t.Fatalf("a GET held past -read-timeout: %d %q, want the noop", status, body)
	}
	held.write("POST /socket.io/?EIO=4&transport=polling&sid=" + sid + " HTTP/1.1\r\nHost: " + addr + "\r\nContent-Length: 1\r\n\r\n3")
	if status, body := held.response(5 * time.Second); status != 200 || body != "ok" {
		t.Fatalf("the session after a long hold: %d %q", status, body)
	}

	slow := dialRaw(t, addr)
	slow.write("POST /socket.io/?EIO=4&transport=polling&sid=" + sid + " HTTP/1.1\r\nHost: " + addr + "\r\nContent-Length: 100\r\n\r\n4hello")
	if status, body := slow.response(10 * time.Second); status != http.StatusRequestTimeout || body != `{"code":3,"message":"Bad request"}` {
		t.Fatalf("a stalled POST body: %d %q, want 408", status, body)
	}
	after := dialRaw(t, addr)
	after.write(get(addr, sid))
	if status, body := after.response(5 * time.Second); status != 400 || body != `{"code":1,"message":"Session ID unknown"}` {
		t.Fatalf("the session after a stalled POST: %d %q, want it closed", status, body)
	}
}
