package handler_test

import (
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/serverless-socketio/server/consumers/chat"
	"github.com/serverless-socketio/server/handler"
	"github.com/serverless-socketio/server/internal/logattr"
	"github.com/serverless-socketio/server/internal/siotest"
	"github.com/serverless-socketio/server/sio"
)

// maxLogLine bounds a log line: the message, a few attributes, a clipped error.
const maxLogLine = 600

// TestLogsHoldNoSecrets drives the server, at DEBUG, with what a hostile client sends: a token
// in the query string, a 10 KB sid, a 10 KB namespace and event name, a 10 KB Origin. No line
// holds a query string, a live sid (only its tag) or a client's bulk.
func TestLogsHoldNoSecrets(t *testing.T) {
	var logs lockedBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	r := sio.NewRouter(log)
	if err := r.Register(chat.Consumer{}); err != nil {
		t.Fatal(err)
	}
	srv := siotest.StartWS(t, r, handler.Config{Logger: log, PollHold: 100 * time.Millisecond}, siotest.WSOptions{})
	const token = "token=SECRET-TOKEN"
	bulk := strings.Repeat("Z", 10240)

	siotest.Do(t, "GET", srv.URL+"?EIO=4&transport=polling&sid="+bulk+"&"+token, "")
	siotest.Do(t, "GET", srv.URL+"?EIO=3&transport=polling&"+token, "")
	srv.DialRefused(t, "EIO=3&transport=websocket&"+token)
	srv.DialRefusedHeader(t, "EIO=4&transport=websocket&"+token, http.Header{"Origin": {"https://" + bulk + ".example"}})

	live := srv.Open(t)
	live.Connect("/chat")
	live.Post(`42/chat,["` + bulk + `",1]`)                       // no handler: a DEBUG line
	siotest.Do(t, "POST", live.URL+"&"+token, "40/"+bulk+"\x1f,") // protocol error: closes
	dead := srv.Open(t)
	siotest.Do(t, "POST", dead.URL, "abc"+bulk) // undecodable payload: closes

	all := logs.String()
	for _, want := range []string{"request refused", "websocket refused", "protocol error", "undecodable payload",
		"no handler for event", logattr.SessionTag(live.SID), logattr.SessionTag(dead.SID)} {
		if !strings.Contains(all, want) {
			t.Errorf("no log line has %q; the test no longer covers it:\n%s", want, all)
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		switch {
		case len(line) > maxLogLine:
			t.Errorf("a %d-byte log line: %.200s…", len(line), line)
		case strings.Contains(line, "SECRET"), strings.Contains(line, "query="):
			t.Errorf("a query string in the log: %s", line)
		case strings.Contains(line, live.SID), strings.Contains(line, dead.SID):
			t.Errorf("a live sid in the log: %s", line)
		}
	}
}
