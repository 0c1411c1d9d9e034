package lambdafn_test

import (
	"strings"
	"testing"
	"time"

	"github.com/serverless-socketio/server/lambdafn"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestFromEnv(t *testing.T) {
	c, err := lambdafn.FromEnv(env(map[string]string{
		"SIO_STORE": "redis", "SIO_REDIS_URL": "redis://r:6379/0", "SIO_PING_INTERVAL": "10s",
		"SIO_CORS_ORIGINS": "https://a.example, https://b.example", "SIO_MAX_PAYLOAD": "5000",
		"AWS_LAMBDA_FUNCTION_NAME": "fn", "AWS_REGION": "eu-west-1",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Store != "redis" || c.RedisURL != "redis://r:6379/0" || c.PingInterval != 10*time.Second ||
		c.PingTimeout != 20*time.Second || c.WSPingInterval != 60*time.Second || c.PollHold != 25*time.Second ||
		c.MaxPayload != 5000 || len(c.Origins.Allow) != 2 || c.Origins.Allow[1] != "https://b.example" || c.Origins.AnyWebSocket ||
		c.FunctionName != "fn" || c.Region != "eu-west-1" {
		t.Fatalf("config %+v", c)
	}
}

func TestFromEnvErrors(t *testing.T) {
	cases := []struct {
		name string
		env  map[string]string
		want []string // every fragment must appear in the error
	}{
		{"no store", map[string]string{}, []string{"SIO_STORE is not set"}},
		{"unknown store", map[string]string{"SIO_STORE": "mongo"}, []string{`SIO_STORE="mongo"`}},
		{"redis without URL", map[string]string{"SIO_STORE": "redis"}, []string{"SIO_REDIS_URL"}},
		{"dynamodb without table", map[string]string{"SIO_STORE": "dynamodb"}, []string{"SIO_STORE=dynamodb needs SIO_DYNAMODB_TABLE"}},
		{"bad poll backoff", map[string]string{"SIO_STORE": "dynamodb", "SIO_DYNAMODB_TABLE": "t", "SIO_POLL_BACKOFF": "0s"}, []string{`SIO_POLL_BACKOFF="0s"`}},
		{"bad duration and hold", map[string]string{"SIO_STORE": "redis", "SIO_REDIS_URL": "redis://x", "SIO_PING_INTERVAL": "soon", "SIO_POLL_HOLD": "40s"},
			[]string{`SIO_PING_INTERVAL="soon"`, "SIO_POLL_HOLD=40s"}},
		{"bad payload", map[string]string{"SIO_STORE": "redis", "SIO_REDIS_URL": "redis://x", "SIO_MAX_PAYLOAD": "-1"}, []string{`SIO_MAX_PAYLOAD="-1"`}},
		{"bad bool", map[string]string{"SIO_STORE": "redis", "SIO_REDIS_URL": "redis://x", "SIO_WS_ANY_ORIGIN": "yes"}, []string{`SIO_WS_ANY_ORIGIN="yes": want true or false`}},
	}
	for _, tc := range cases {
		_, err := lambdafn.FromEnv(env(tc.env))
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q lacks %q", tc.name, err, w)
			}
		}
	}
}
