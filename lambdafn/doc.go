// Package lambdafn runs the server as one AWS Lambda function: it dispatches each invocation by
// the shape of its event to the same handler.Engine that cmd/local serves.
//
//   - HTTP API payload 2.0 (and function URLs): long-polling, through an adapter that turns the
//     event into an http.Request for the Engine and the response back (HTTPHandler);
//   - API Gateway WebSocket routes $connect, $default, $disconnect: the Engine's WS* methods,
//     with frames posted through the Management API (package apigw);
//   - {"sio":"open","connectionId":…}: sent by $connect to the function itself (an asynchronous
//     invocation), since API Gateway cannot send before $connect has returned;
//   - the EventBridge schedule (or {"sio":"sweep"}): the sweeper, in passes through its minute.
//
// Configuration comes from the environment (see [EnvNames] and [FromEnv]); clients are created
// once, at init.
//
// # Concurrency
//
// A Function is safe for concurrent use (Lambda calls it once at a time per sandbox).
package lambdafn
