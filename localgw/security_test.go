package localgw_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/serverless-socketio/server/handler"
	"github.com/serverless-socketio/server/internal/siotest"
)

// TestOriginCheck: a page on another site cannot open a WebSocket (it would carry the user's
// cookies): only pages of the server's own host, listed origins and clients that send no
// Origin may; a refusal is 403 with Engine.IO code 4, before any session exists.
func TestOriginCheck(t *testing.T) {
	srv := siotest.StartWS(t, handler.Echo{}, handler.Config{}, siotest.WSOptions{
		Miniredis: true, Origins: handler.OriginPolicy{Allow: []string{"https://app.example", "*"}},
	})
	u, err := url.Parse(srv.WSURL)
	if err != nil {
		t.Fatal(err)
	}
	keys := len(srv.Redis.Keys())
	for _, origin := range []string{"https://evil.example", "null", "http://" + u.Host + ".evil.example"} {
		status, body := srv.DialRefusedHeader(t, "EIO=4&transport=websocket", http.Header{"Origin": {origin}})
		if status != http.StatusForbidden || body != `{"code":4,"message":"Forbidden"}` {
			t.Errorf("from %s: %d %q, want 403 Forbidden", origin, status, body)
		}
	}
	if n := len(srv.Redis.Keys()); n != keys {
		t.Errorf("refused upgrades left %d keys (before: %d)", n, keys)
	}

	for _, origin := range []string{"", "http://" + u.Host, "https://app.example"} {
		h := http.Header{}
		if origin != "" {
			h.Set("Origin", origin)
		}
		c := srv.DialHeader(t, "EIO=4&transport=websocket", h)
		siotest.OpenSID(t, c.ReadText())
		c.Close()
	}

	open := siotest.StartWS(t, handler.Echo{}, handler.Config{}, siotest.WSOptions{Origins: handler.OriginPolicy{AnyWebSocket: true}})
	c := open.DialHeader(t, "EIO=4&transport=websocket", http.Header{"Origin": {"https://evil.example"}})
	siotest.OpenSID(t, c.ReadText())
}

// TestInvalidUTF8TextFrame: a text frame that is not UTF-8 fails the connection with 1007 (RFC
// 6455 §8.1, as Node's ws does) and ends the session; it is never relayed with U+FFFD in it.
func TestInvalidUTF8TextFrame(t *testing.T) {
	srv := siotest.StartWS(t, handler.Echo{}, handler.Config{}, siotest.WSOptions{})
	c, sid := srv.OpenWS(t)
	c.Send("4héllo €")
	expect(t, c, "4héllo €")
	for _, frame := range []string{"4\xff\xfe", "40/\xc3,", "4" + strings.Repeat("a", 100) + "\xe2\x82"} {
		c.Send(frame)
		frames, err := c.WaitClose()
		if len(frames) != 0 || websocket.CloseStatus(err) != websocket.StatusInvalidFramePayloadData {
			t.Fatalf("after %q: frames %q, end %v; want none and 1007", frame, frames, err)
		}
		siotest.Until(t, "session ended", func() bool { return gone(t, srv, sid) })
		c, sid = srv.OpenWS(t)
	}
}

// TestFrameWithUpgradeRequest: a client that sends its first frame in the same write as the
// upgrade request (before the 101) has it read: the bytes net/http had already buffered are
// handed over with the connection.
func TestFrameWithUpgradeRequest(t *testing.T) {
	srv := siotest.StartWS(t, handler.Echo{}, handler.Config{}, siotest.WSOptions{})
	u, err := url.Parse(srv.WSURL)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(siotest.Wait))
	payload := []byte("4hello")
	mask := []byte{1, 2, 3, 4}
	frame := append([]byte{0x81, 0x80 | byte(len(payload))}, mask...)
	for i, b := range payload {
		frame = append(frame, b^mask[i%4])
	}
	req := "GET " + u.Path + "?EIO=4&transport=websocket HTTP/1.1\r\nHost: " + u.Host +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
	if _, err := nc.Write(append([]byte(req), frame...)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v, %v", resp, err)
	}
	var frames []string
	for len(frames) < 2 {
		var head [2]byte
		if _, err := io.ReadFull(br, head[:]); err != nil {
			t.Fatalf("after %q: %v (the frame sent with the request was lost)", frames, err)
		}
		body := make([]byte, head[1]&0x7f)
		if _, err := io.ReadFull(br, body); err != nil {
			t.Fatal(err)
		}
		frames = append(frames, string(body))
	}
	if !strings.HasPrefix(frames[0], "0{") || frames[1] != "4hello" {
		t.Fatalf("frames %q, want the open packet and the echo of 4hello", frames)
	}
}
