// Package apigw delivers frames to API Gateway WebSocket connections through the Management API
// (PostToConnection, DeleteConnection): the production [handler.Sender].
//
// API Gateway WebSocket carries text frames of at most 128 KB and refuses binary frames (it
// closes the connection with 1003 when a client sends one). Outbound, a binary frame or a frame
// over the limit is refused here with [handler.ErrFrameRefused] rather than sent to fail: the
// engine logs it and carries on with the session's next frames.
//
// # Example
//
//	client := apigatewaymanagementapi.NewFromConfig(awsCfg, func(o *apigatewaymanagementapi.Options) {
//		o.BaseEndpoint = aws.String(apigw.Endpoint(os.Getenv(apigw.EnvEndpoint), domain, stage))
//	})
//	sender := apigw.NewSender(client)
//
// # Concurrency
//
// A Sender is safe for concurrent use if its Client is (the SDK's is).
package apigw

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi/types"

	"github.com/serverless-socketio/server/handler"
)

// MaxFrame is API Gateway WebSocket's largest frame (its message payload limit, 128 KB).
const MaxFrame = 128 * 1024

// EnvEndpoint is the environment variable that overrides the Management API endpoint (tests,
// LocalStack); see [Endpoint].
const EnvEndpoint = "SIO_APIGW_MANAGEMENT_ENDPOINT"

// Client is the part of the Management API client the sender uses.
type Client interface {
	PostToConnection(ctx context.Context, in *apigatewaymanagementapi.PostToConnectionInput, opts ...func(*apigatewaymanagementapi.Options)) (*apigatewaymanagementapi.PostToConnectionOutput, error)
	DeleteConnection(ctx context.Context, in *apigatewaymanagementapi.DeleteConnectionInput, opts ...func(*apigatewaymanagementapi.Options)) (*apigatewaymanagementapi.DeleteConnectionOutput, error)
}

// Sender is a [handler.Sender] on the Management API.
type Sender struct {
	client Client
}

var _ handler.Sender = (*Sender)(nil)

// NewSender returns a sender using client.
func NewSender(client Client) *Sender { return &Sender{client: client} }

// Send posts one frame (one PostToConnection). A GoneException (410: the client left, or the
// connection is not established yet) is handler.ErrGone; a binary frame or one over MaxFrame is
// handler.ErrFrameRefused, without a call.
func (s *Sender) Send(ctx context.Context, conn string, frame []byte, binary bool) error {
	if binary {
		return fmt.Errorf("apigw: binary frame for %s: %w", conn, handler.ErrFrameRefused)
	}
	if len(frame) > MaxFrame {
		return fmt.Errorf("apigw: %d-byte frame for %s exceeds %d: %w", len(frame), conn, MaxFrame, handler.ErrFrameRefused)
	}
	_, err := s.client.PostToConnection(ctx, &apigatewaymanagementapi.PostToConnectionInput{ConnectionId: &conn, Data: frame})
	return translate(err)
}

// Close deletes the connection (one DeleteConnection); a connection already gone is
// handler.ErrGone.
func (s *Sender) Close(ctx context.Context, conn string) error {
	_, err := s.client.DeleteConnection(ctx, &apigatewaymanagementapi.DeleteConnectionInput{ConnectionId: &conn})
	return translate(err)
}

func translate(err error) error {
	var gone *types.GoneException
	var tooLarge *types.PayloadTooLargeException
	switch {
	case err == nil:
		return nil
	case errors.As(err, &gone):
		return fmt.Errorf("apigw: %w: %w", handler.ErrGone, err)
	case errors.As(err, &tooLarge):
		return fmt.Errorf("apigw: %w: %w", handler.ErrFrameRefused, err)
	}
	return fmt.Errorf("apigw: %w", err)
}

// Endpoint returns the Management API endpoint of a WebSocket API: override when it is set
// (SIO_APIGW_MANAGEMENT_ENDPOINT: tests, LocalStack), otherwise https://<domain>/<stage> from
// the domainName and stage of the route event's request context.
func Endpoint(override, domain, stage string) string {
	if override != "" {
		return strings.TrimSuffix(override, "/")
	}
	return "https://" + domain + "/" + stage
}
