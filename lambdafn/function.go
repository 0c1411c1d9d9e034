package lambdafn

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	goredis "github.com/redis/go-redis/v9"

	"github.com/serverless-socketio/server/apigw"
	"github.com/serverless-socketio/server/handler"
	"github.com/serverless-socketio/server/internal/logattr"
	"github.com/serverless-socketio/server/session"
	"github.com/serverless-socketio/server/store/dynamo"
	"github.com/serverless-socketio/server/store/redis"
)

// Function is the Lambda function: one Engine behind every kind of event.
type Function struct {
	cfg     Config
	log     *slog.Logger
	engine  *handler.Engine
	http    http.Handler
	sender  *apigw.Sender // nil without a Management API endpoint
	invoker *invoker
	closers []func()
}

// openEvent is what $connect sends to the function itself.
type openEvent struct {
	Sio          string `json:"sio"`
	ConnectionID string `json:"connectionId"`
}

// New builds the function: the store client, the Management API client and the engine for app.
// It is called once per sandbox (Lambda's init phase).
func New(ctx context.Context, cfg Config, app handler.App, log *slog.Logger) (*Function, error) {
	f := &Function{cfg: cfg, log: log}
	creds := aws.CredentialsProviderFunc(envCredentials)
	var store session.Store
	switch cfg.Store {
	case "redis":
		opt, err := goredis.ParseURL(cfg.RedisURL)
		if err != nil {
			return nil, fmt.Errorf("lambdafn: %s: %w", EnvRedisURL, err)
		}
		rdb := goredis.NewClient(opt)
		rs := redis.New(rdb, redis.Options{SessionTTL: max(2*time.Minute, 2*(max(cfg.PingInterval, cfg.WSPingInterval)+cfg.PingTimeout))})
		f.closers = append(f.closers, func() { rs.Close(); rdb.Close() })
		store = rs
	case "dynamodb":
		ds, err := dynamo.New(dynamo.NewClient(cfg.Region, cfg.DynamoEndpoint, creds), dynamo.Options{
			Table: cfg.DynamoTable, SessionTTL: max(2*time.Minute, 2*(max(cfg.PingInterval, cfg.WSPingInterval)+cfg.PingTimeout)),
		})
		if err != nil {
			return nil, fmt.Errorf("lambdafn: %w", err)
		}
		store = ds
	default:
		return nil, fmt.Errorf("lambdafn: store %q is not available", cfg.Store)
	}
	var sender handler.Sender
	if cfg.APIGWEndpoint != "" {
		f.sender = apigw.NewSender(apigatewaymanagementapi.New(apigatewaymanagementapi.Options{
			Region: cfg.Region, Credentials: creds, BaseEndpoint: aws.String(apigw.Endpoint(cfg.APIGWEndpoint, "", "")),
		}))
		sender = f.sender
	}
	eng, err := handler.New(handler.Config{
		Store: store, App: app, Sender: sender, Logger: log,
		PingInterval: cfg.PingInterval, PingTimeout: cfg.PingTimeout, WSPingInterval: cfg.WSPingInterval,
		MaxPayload: cfg.MaxPayload, PollHold: cfg.PollHold, ConnectTimeout: cfg.ConnectTimeout,
		PollBackoff: cfg.PollBackoff,
		// API Gateway cannot share a domain between the HTTP and the WebSocket API, so polling
		// clients are never offered an upgrade.
		Upgrades: []string{},
	})
	if err != nil {
		return nil, err
	}
	f.engine = eng
	f.http = cfg.Origins.CORS()(eng)
	f.invoker = newInvoker(cfg, creds)
	return f, nil
}

// Close releases the clients.
func (f *Function) Close() {
	for _, c := range f.closers {
		c()
	}
}

// eventProbe holds the fields that tell the kinds of event apart.
type eventProbe struct {
	Version        string `json:"version"`
	Sio            string `json:"sio"`
	Source         string `json:"source"`
	RequestContext struct {
		EventType    string          `json:"eventType"`
		RouteKey     string          `json:"routeKey"`
		ConnectionID string          `json:"connectionId"`
		HTTP         json.RawMessage `json:"http"`
	} `json:"requestContext"`
}

// Handle serves one invocation, whatever its kind (see the package documentation).
func (f *Function) Handle(ctx context.Context, raw json.RawMessage) (any, error) {
	var p eventProbe
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, fmt.Errorf("lambdafn: event is not JSON: %w", err)
	}
	switch {
	case p.Sio == "open":
		var ev openEvent
		if err := json.Unmarshal(raw, &ev); err != nil {
			return nil, err
		}
		return nil, f.open(ctx, ev.ConnectionID)
	case p.Sio == "sweep" || p.Source == "aws.events":
		return f.sweep(ctx)
	case p.RequestContext.ConnectionID != "":
		var ev events.APIGatewayWebsocketProxyRequest
		if err := json.Unmarshal(raw, &ev); err != nil {
			return nil, err
		}
		return f.websocket(ctx, &ev), nil
	case len(p.RequestContext.HTTP) > 0:
		var ev events.APIGatewayV2HTTPRequest
		if err := json.Unmarshal(raw, &ev); err != nil {
			return nil, err
		}
		return ServeHTTPEvent(ctx, f.http, &ev)
	}
	return nil, errors.New("lambdafn: unknown event (want an HTTP API 2.0, WebSocket route, open or schedule event)")
}

// websocket serves a WebSocket route event; the answer to $connect accepts (200) or refuses
// the upgrade.
func (f *Function) websocket(ctx context.Context, ev *events.APIGatewayWebsocketProxyRequest) events.APIGatewayProxyResponse {
	conn := ev.RequestContext.ConnectionID
	ok := events.APIGatewayProxyResponse{StatusCode: http.StatusOK}
	if f.sender == nil {
		f.log.Error("websocket event, but no Management API endpoint is configured", "env", EnvAPIGWEndpoint)
		return events.APIGatewayProxyResponse{StatusCode: http.StatusInternalServerError}
	}
	switch ev.RequestContext.RouteKey {
	case "$connect":
		return f.connect(ctx, ev)
	case "$disconnect":
		if err := f.engine.WSDisconnect(ctx, conn); err != nil {
			f.log.Warn("$disconnect failed", "conn", conn, "err", err)
		}
		return ok
	default:
		frame, binary := []byte(ev.Body), false
		if ev.IsBase64Encoded {
			// API Gateway refuses binary frames itself; decode anyway rather than misread one.
			b, err := base64.StdEncoding.DecodeString(ev.Body)
			if err == nil {
				frame, binary = b, true
			}
		}
		if err := f.engine.WSMessage(ctx, conn, frame, binary); err != nil {
			f.log.Info("frame refused; closing the connection", "conn", conn, "err", err)
			if err := f.sender.Close(ctx, conn); err != nil && !errors.Is(err, handler.ErrGone) {
				f.log.Warn("closing the connection failed", "conn", conn, "err", err)
			}
		}
		return ok
	}
}

// connect serves $connect: the Origin check, the session (or the upgrade probe), and the
// asynchronous invocation that will send the open packet once the connection is established.
func (f *Function) connect(ctx context.Context, ev *events.APIGatewayWebsocketProxyRequest) events.APIGatewayProxyResponse {
	conn := ev.RequestContext.ConnectionID
	query := url.Values{}
	for k, v := range ev.QueryStringParameters {
		query.Set(k, v)
	}
	for k, vs := range ev.MultiValueQueryStringParameters {
		query[k] = vs
	}
	origin := header(ev.Headers, "Origin")
	err := f.cfg.Origins.CheckWebSocket(origin, header(ev.Headers, "Host"))
	if err == nil {
		err = f.engine.WSConnect(ctx, conn, query)
	}
	if err != nil {
		var re *handler.RequestError
		if errors.As(err, &re) {
			f.log.Info("websocket refused", "conn", conn, "error", re.Message, logattr.Client("origin", origin))
			return events.APIGatewayProxyResponse{StatusCode: re.Status, Body: string(re.Body())}
		}
		f.log.Error("$connect failed", "conn", conn, "err", err)
		return events.APIGatewayProxyResponse{StatusCode: http.StatusServiceUnavailable}
	}
	payload, _ := json.Marshal(openEvent{Sio: "open", ConnectionID: conn})
	if err := f.invoker.invokeAsync(ctx, payload); err != nil {
		f.log.Error("could not schedule the open packet", "conn", conn, "err", err)
		return events.APIGatewayProxyResponse{StatusCode: http.StatusServiceUnavailable}
	}
	return events.APIGatewayProxyResponse{StatusCode: http.StatusOK}
}

// header returns the value of an API Gateway event header; API Gateway keeps the client's
// spelling of the name.
func header(h map[string]string, name string) string {
	if v, ok := h[name]; ok {
		return v
	}
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// open sends the open packet of a session created by $connect, retrying while API Gateway
// still answers 410 (the connection is established only after $connect returned).
func (f *Function) open(ctx context.Context, conn string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return f.engine.WSOpenRetry(ctx, conn)
}

// SweepResult reports a sweeper invocation.
type SweepResult struct {
	Passes int `json:"passes"`
	Closed int `json:"closed"`
}

// sweep runs sweeper passes every SweepPass until the invocation's deadline is near: the
// schedule fires once a minute, and pings must go out more often than that.
func (f *Function) sweep(ctx context.Context) (SweepResult, error) {
	var res SweepResult
	for {
		n, err := f.engine.Sweep(ctx, 1000)
		res.Passes++
		res.Closed += n
		if err != nil {
			return res, err
		}
		dl, ok := ctx.Deadline()
		next := time.Now().Add(f.cfg.SweepPass)
		if !ok || next.Add(5*time.Second).After(dl) {
			return res, nil
		}
		select {
		case <-ctx.Done():
			return res, nil
		case <-time.After(time.Until(next)):
		}
	}
}
