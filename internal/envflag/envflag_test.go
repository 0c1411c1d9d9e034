package envflag_test

import (
	"errors"
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/serverless-socketio/server/internal/envflag"
)

type settings struct {
	interval time.Duration
	payload  int64
	conform  bool
	addr     string
	origins  []string
}

func newSet(env map[string]string, withFlags bool) (*envflag.Set, *settings) {
	var fs *flag.FlagSet
	if withFlags {
		fs = flag.NewFlagSet("test", flag.ContinueOnError)
	}
	s := envflag.New(fs, func(k string) string { return env[k] })
	v := &settings{}
	s.Duration(&v.interval, envflag.Name{Flag: "ping-interval", Env: "SIO_PING_INTERVAL"}, 25*time.Second, "heartbeat interval")
	s.Bytes(&v.payload, envflag.Name{Flag: "max-payload", Env: "SIO_MAX_PAYLOAD"}, 1_000_000, "largest POST body")
	s.Bool(&v.conform, envflag.Name{Flag: "conformance", Env: "SIO_CONFORMANCE"}, false, "the suites' setup")
	s.String(&v.addr, envflag.Name{Flag: "addr", Env: "SIO_ADDR"}, "127.0.0.1:8080", "listen address")
	s.List(&v.origins, envflag.Name{Flag: "cors", Env: "SIO_CORS_ORIGINS"}, "allowed origins")
	return s, v
}

func TestDefaultsEnvAndFlags(t *testing.T) {
	s, v := newSet(map[string]string{}, true)
	if err := s.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if v.interval != 25*time.Second || v.payload != 1_000_000 || v.conform || v.addr != "127.0.0.1:8080" || v.origins != nil {
		t.Fatalf("defaults: %+v", v)
	}
	env := map[string]string{
		"SIO_PING_INTERVAL": "10s", "SIO_MAX_PAYLOAD": "5000", "SIO_CONFORMANCE": "true",
		"SIO_ADDR": ":9", "SIO_CORS_ORIGINS": " https://a.example, ,https://b.example ",
	}
	s, v = newSet(env, true)
	if err := s.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if v.interval != 10*time.Second || v.payload != 5000 || !v.conform || v.addr != ":9" ||
		strings.Join(v.origins, "|") != "https://a.example|https://b.example" {
		t.Fatalf("from the environment: %+v", v)
	}
	s, v = newSet(env, true)
	if err := s.Parse([]string{"-ping-interval", "3s", "-conformance=false", "-max-payload", "7", "-cors", "*"}); err != nil {
		t.Fatal(err)
	}
	if v.interval != 3*time.Second || v.payload != 7 || v.conform || v.addr != ":9" || strings.Join(v.origins, "|") != "*" {
		t.Fatalf("flags over the environment: %+v", v)
	}
	s, v = newSet(nil, true)
	if err := s.Parse([]string{"-conformance"}); err != nil || !v.conform {
		t.Fatalf("-conformance alone: %v, %v", err, v.conform)
	}
}

// TestRefused: a malformed value is refused, naming its variable or flag, whether it came from
// the environment or from a flag; every bad variable is reported at once.
func TestRefused(t *testing.T) {
	cases := []struct {
		name string
		env  map[string]string
		args []string
		want []string
	}{
		{"duration", map[string]string{"SIO_PING_INTERVAL": "abc"}, nil, []string{`SIO_PING_INTERVAL="abc": want a positive Go duration`}},
		{"zero duration", map[string]string{"SIO_PING_INTERVAL": "0s"}, nil, []string{`SIO_PING_INTERVAL="0s"`}},
		{"bytes", map[string]string{"SIO_MAX_PAYLOAD": "lots"}, nil, []string{`SIO_MAX_PAYLOAD="lots": want a positive number of bytes`}},
		{"negative bytes", map[string]string{"SIO_MAX_PAYLOAD": "-1"}, nil, []string{`SIO_MAX_PAYLOAD="-1"`}},
		{"bool", map[string]string{"SIO_CONFORMANCE": "yes"}, nil, []string{`SIO_CONFORMANCE="yes": want true or false`}},
		{"all at once", map[string]string{"SIO_CONFORMANCE": "yes", "SIO_MAX_PAYLOAD": "lots"}, nil,
			[]string{`SIO_CONFORMANCE="yes"`, `SIO_MAX_PAYLOAD="lots"`}},
		{"bad env under a good flag", map[string]string{"SIO_PING_INTERVAL": "abc"}, []string{"-ping-interval", "1s"}, []string{`SIO_PING_INTERVAL="abc"`}},
		{"flag", nil, []string{"-ping-interval", "abc"}, []string{`-ping-interval: want a positive Go duration`}},
		{"bool flag", nil, []string{"-conformance=yes"}, []string{"-conformance"}},
		{"unknown flag", nil, []string{"-nope"}, []string{"-nope"}},
		{"long secret", map[string]string{"SIO_MAX_PAYLOAD": strings.Repeat("s", 500)}, nil, []string{`SIO_MAX_PAYLOAD="` + strings.Repeat("s", 40) + `…"`}},
	}
	for _, tc := range cases {
		s, _ := newSet(tc.env, true)
		err := s.Parse(tc.args)
		if err == nil {
			t.Errorf("%s: accepted", tc.name)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q lacks %q", tc.name, err, w)
			}
		}
		if len(err.Error()) > 200 {
			t.Errorf("%s: a %d-byte error", tc.name, len(err.Error()))
		}
	}
}

// TestEnvOnly: without a flag set (the Lambda function), the same parsers read the environment.
func TestEnvOnly(t *testing.T) {
	s, v := newSet(map[string]string{"SIO_PING_INTERVAL": "2s"}, false)
	if err := s.Parse([]string{"-ignored"}); err != nil || v.interval != 2*time.Second {
		t.Fatalf("%v, %v", err, v.interval)
	}
	s, _ = newSet(map[string]string{"SIO_PING_INTERVAL": "soon"}, false)
	s.Errorf("SIO_POLL_HOLD=%s: at most %s", "40s", "28s")
	err := s.Parse(nil)
	if err == nil || !strings.Contains(err.Error(), `SIO_PING_INTERVAL="soon"`) || !strings.Contains(err.Error(), "SIO_POLL_HOLD=40s") {
		t.Fatalf("error %v", err)
	}
}

func TestHelp(t *testing.T) {
	s, _ := newSet(nil, true)
	if err := s.Parse([]string{"-h"}); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v", err)
	}
	var b strings.Builder
	s.Usage(&b)
	for _, w := range []string{"-ping-interval duration", "env SIO_PING_INTERVAL; default 25s", "-conformance\n",
		"env SIO_CORS_ORIGINS; default none", "env SIO_ADDR; default 127.0.0.1:8080"} {
		if !strings.Contains(b.String(), w) {
			t.Errorf("usage lacks %q:\n%s", w, b.String())
		}
	}
}
