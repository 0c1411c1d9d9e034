package lambdafn

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
)

// ServeHTTPEvent runs h for an HTTP API payload 2.0 event (what HTTP APIs and function URLs
// send) and returns its response: the one http.Handler of the polling transport serves Lambda
// through this adapter, and cmd/local directly.
func ServeHTTPEvent(ctx context.Context, h http.Handler, ev *events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	req, err := httpRequest(ctx, ev)
	if err != nil {
		return events.APIGatewayV2HTTPResponse{StatusCode: http.StatusBadRequest, Body: err.Error()}, nil
	}
	w := &responseWriter{header: http.Header{}}
	h.ServeHTTP(w, req)
	return w.response(), nil
}

func httpRequest(ctx context.Context, ev *events.APIGatewayV2HTTPRequest) (*http.Request, error) {
	body := []byte(ev.Body)
	if ev.IsBase64Encoded {
		var err error
		if body, err = base64.StdEncoding.DecodeString(ev.Body); err != nil {
			return nil, fmt.Errorf("lambdafn: body is not base64: %w", err)
		}
	}
	target := ev.RawPath
	if target == "" {
		target = "/"
	}
	if ev.RawQueryString != "" {
		target += "?" + ev.RawQueryString
	}
	method := ev.RequestContext.HTTP.Method
	if method == "" {
		method = http.MethodGet
	}
	req, err := http.NewRequestWithContext(ctx, method, target, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("lambdafn: request: %w", err)
	}
	for k, v := range ev.Headers {
		// API Gateway joins repeated headers with commas, which is what HTTP allows anyway.
		req.Header.Set(k, v)
	}
	if len(ev.Cookies) > 0 {
		req.Header.Set("Cookie", strings.Join(ev.Cookies, "; "))
	}
	req.ContentLength = int64(len(body))
	req.Host = ev.RequestContext.DomainName
	req.RemoteAddr = ev.RequestContext.HTTP.SourceIP
	req.RequestURI = target
	return req, nil
}

// responseWriter buffers a response for the event's reply.
type responseWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *responseWriter) Header() http.Header { return w.header }

func (w *responseWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.body.Write(b)
}

func (w *responseWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

func (w *responseWriter) response() events.APIGatewayV2HTTPResponse {
	r := events.APIGatewayV2HTTPResponse{StatusCode: w.status, Headers: map[string]string{}}
	if r.StatusCode == 0 {
		r.StatusCode = http.StatusOK
	}
	for k, v := range w.header {
		if http.CanonicalHeaderKey(k) == "Set-Cookie" {
			r.Cookies = append(r.Cookies, v...)
			continue
		}
		r.Headers[k] = strings.Join(v, ", ")
	}
	if body := w.body.Bytes(); utf8.Valid(body) {
		r.Body = string(body)
	} else {
		r.Body = base64.StdEncoding.EncodeToString(body)
		r.IsBase64Encoded = true
	}
	return r
}
