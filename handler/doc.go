// Package handler is the transport layer: Engine.IO v4 over HTTP long-polling as one
// http.Handler ([Engine]), the sweeper that ends sessions whose client vanished, and HTTP
// middleware (CORS, with the WebSocket Origin check, in one [OriginPolicy]).
//
// Every request is self-contained: it loads what it needs from the [session.Store], runs the
// [App] (Socket.IO, or a raw Engine.IO application), commits the recorded effects and forgets.
// Any process sharing the store can serve any request of any session, so no load balancer
// stickiness is needed, and a held long-poll is woken by a commit made in another process.
//
// # Example
//
//	eng, err := handler.New(handler.Config{Store: store, App: router})
//	cors := handler.OriginPolicy{Allow: []string{"https://app.example"}}.CORS()
//	mux.Handle("/socket.io/", cors(eng))
//	go eng.RunSweeper(ctx, time.Second)
//
// # Concurrency
//
// An [Engine] is safe for concurrent use and holds no per-session state.
package handler
