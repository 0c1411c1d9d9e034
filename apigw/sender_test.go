package apigw_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"

	"github.com/serverless-socketio/server/apigw"
	"github.com/serverless-socketio/server/handler"
)

// managementAPI imitates the API Gateway Management API on loopback (no real one can run here):
// POST /@connections/{id} records the frame, DELETE removes the connection, an unknown
// connection answers 410 GoneException as AWS does.
type managementAPI struct {
	mu     sync.Mutex
	conns  map[string][]string
	posted []string
	closed []string
}

func (m *managementAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id, ok := strings.CutPrefix(r.URL.Path, "/prod/@connections/")
	if !ok {
		http.NotFound(w, r)
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, live := m.conns[id]; !live {
		w.Header().Set("x-amzn-ErrorType", "GoneException")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusGone)
		_, _ = io.WriteString(w, `{"message":null}`)
		return
	}
	switch r.Method {
	case http.MethodPost:
		b, _ := io.ReadAll(r.Body)
		m.conns[id] = append(m.conns[id], string(b))
		m.posted = append(m.posted, id+" "+string(b))
	case http.MethodDelete:
		delete(m.conns, id)
		m.closed = append(m.closed, id)
	}
	w.WriteHeader(http.StatusOK)
}

func newSender(t *testing.T, m *managementAPI) *apigw.Sender {
	srv := httptest.NewServer(m)
	t.Cleanup(srv.Close)
	client := apigatewaymanagementapi.New(apigatewaymanagementapi.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(apigw.Endpoint(srv.URL+"/prod/", "ignored.example", "ignored")),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKID", SecretAccessKey: "secret"}, nil
		}),
	})
	return apigw.NewSender(client)
}

func TestSender(t *testing.T) {
	m := &managementAPI{conns: map[string][]string{"c1": nil}}
	s := newSender(t, m)
	ctx := context.Background()
	if err := s.Send(ctx, "c1", []byte(`42["x",1]`), false); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if err := s.Send(ctx, "nope", []byte("2"), false); !errors.Is(err, handler.ErrGone) {
		t.Fatalf("Send to an unknown connection: %v, want ErrGone", err)
	}
	if err := s.Send(ctx, "c1", []byte{1, 2, 3}, true); !errors.Is(err, handler.ErrFrameRefused) {
		t.Fatalf("binary Send: %v, want ErrFrameRefused", err)
	}
	if err := s.Send(ctx, "c1", make([]byte, apigw.MaxFrame+1), false); !errors.Is(err, handler.ErrFrameRefused) {
		t.Fatalf("oversized Send: %v, want ErrFrameRefused", err)
	}
	if err := s.Close(ctx, "c1"); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(ctx, "c1"); !errors.Is(err, handler.ErrGone) {
		t.Fatalf("second Close: %v, want ErrGone", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.closed) != 1 || m.closed[0] != "c1" {
		t.Fatalf("closed %q", m.closed)
	}
	if len(m.posted) != 1 || m.posted[0] != `c1 42["x",1]` {
		t.Fatalf("posted %q; want exactly the one valid frame", m.posted)
	}
}

func TestEndpoint(t *testing.T) {
	cases := []struct{ override, domain, stage, want string }{
		{"", "abc.execute-api.eu-west-1.amazonaws.com", "prod", "https://abc.execute-api.eu-west-1.amazonaws.com/prod"},
		{"http://127.0.0.1:4566/", "x", "y", "http://127.0.0.1:4566"},
	}
	for _, c := range cases {
		if got := apigw.Endpoint(c.override, c.domain, c.stage); got != c.want {
			t.Errorf("Endpoint(%q, %q, %q) = %q, want %q", c.override, c.domain, c.stage, got, c.want)
		}
	}
}
