package chat_test

import (
	"encoding/json"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/alicebob/miniredis/v2"
	goredis "github.com/redis/go-redis/v9"

	"github.com/serverless-socketio/server/consumers/chat"
	"github.com/serverless-socketio/server/handler"
	"github.com/serverless-socketio/server/sio"
	"github.com/serverless-socketio/server/store/redis"
)

// Two clients speak raw Engine.IO long-polling to the chat consumer, served on an in-memory
// Redis: both join /chat and are welcomed; Alice's chat_message reaches the whole lobby and is
// acknowledged to her.
func Example() {
	mr := miniredis.NewMiniRedis()
	if err := mr.Start(); err != nil {
		log.Fatal(err)
	}
	defer mr.Close()
	rdb := goredis.NewClient(&goredis.Options{Addr: mr.Addr()})
	defer rdb.Close()
	store := redis.New(rdb, redis.Options{})
	defer store.Close()

	router := sio.NewRouter(slog.New(slog.DiscardHandler))
	if err := router.Register(chat.Consumer{}); err != nil {
		log.Fatal(err)
	}
	engine, err := handler.New(handler.Config{Store: store, App: router, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		log.Fatal(err)
	}
	srv := httptest.NewServer(engine)
	defer srv.Close()

	alice := open(srv.URL + "/socket.io/")
	bob := open(srv.URL + "/socket.io/")

	alice.post("40/chat,") // CONNECT to /chat
	alice.print("alice")
	bob.post("40/chat,")
	bob.print("bob")

	alice.post(`42/chat,1["chat_message",{"text":"hello"}]`) // EVENT with ack id 1
	alice.print("alice")
	bob.print("bob")

	// Output:
	// alice: CONNECT /chat accepted
	// alice: 42/chat,["system_message",{"text":"Welcome!"}]
	// bob: CONNECT /chat accepted
	// bob: 42/chat,["system_message",{"text":"Welcome!"}]
	// alice: 42/chat,["chat_message",{"text":"hello"}]
	// alice: 43/chat,1[{"status":"ok"}]
	// bob: 42/chat,["chat_message",{"text":"hello"}]
}

// client is one Engine.IO long-polling session.
type client struct{ url string }

// open performs the handshake (Engine.IO v4: GET without sid; the answer is the open packet).
func open(base string) client {
	body := do(http.MethodGet, base+"?EIO=4&transport=polling", "")
	var hs struct {
		SID string `json:"sid"`
	}
	if !strings.HasPrefix(body, "0") || json.Unmarshal([]byte(body[1:]), &hs) != nil {
		log.Fatalf("handshake answered %q", body)
	}
	return client{url: base + "?EIO=4&transport=polling&sid=" + hs.SID}
}

func (c client) post(payload string) {
	if body := do(http.MethodPost, c.url, payload); body != "ok" {
		log.Fatalf("POST answered %q", body)
	}
}

// print polls once and prints each packet received; the CONNECT answer carries a random socket
// id, so it is printed as a fixed line.
func (c client) print(who string) {
	for _, p := range strings.Split(do(http.MethodGet, c.url, ""), "\x1e") {
		if strings.HasPrefix(p, `40/chat,{"sid":`) {
			p = "CONNECT /chat accepted"
		}
		fmt.Printf("%s: %s\n", who, p)
	}
}

func do(method, url, body string) string {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		log.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		log.Fatalf("%s: %d %q %v", method, resp.StatusCode, b, err)
	}
	return string(b)
}
