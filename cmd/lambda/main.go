// Command lambda is the AWS Lambda function (runtime provided.al2023): one bootstrap binary that
// serves long-polling (HTTP API payload 2.0 or a function URL), the API Gateway WebSocket routes,
// its own asynchronous "open" invocations and the sweeper schedule, with the chat consumer on
// /chat. Build it with -tags lambda.norpc; configuration is in the environment (see
// lambdafn.EnvNames and the README's deploy guide). A missing or invalid setting fails the init
// with a message naming the variable.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/serverless-socketio/server/consumers/chat"
	"github.com/serverless-socketio/server/lambdafn"
	"github.com/serverless-socketio/server/sio"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	cfg, err := lambdafn.FromEnv(os.Getenv)
	if err != nil {
		fail(log, err)
	}
	router := sio.NewRouter(log)
	if err := router.Register(chat.Consumer{}); err != nil {
		fail(log, err)
	}
	// Init runs outside any invocation: the clients it creates live as long as the sandbox.
	fn, err := lambdafn.New(context.Background(), cfg, router, log)
	if err != nil {
		fail(log, err)
	}
	defer fn.Close()
	lambda.Start(fn.Handle)
}

func fail(log *slog.Logger, err error) {
	log.Error("init failed", "err", err)
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}
