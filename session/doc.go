// Package session defines what one request of the stateless server loads, records and commits:
// the Engine.IO session with its Socket.IO namespace sockets ([State]), the effects a request
// produced ([Batch]), and the small [Store] contract that Redis and DynamoDB implement.
//
// Nothing here keeps state between requests. A request calls [Store.Load] (or [Store.Fetch] for
// a long-poll GET), runs the application's hooks against the loaded [State] while they record
// effects into a [Batch], and hands the batch to [Store.Commit], which applies it atomically.
//
// # Delivery model: fan-out on read
//
// A packet for one session (a CONNECT answer, an ack, [Batch.Send]) is appended to that
// session's own log. A packet for a room ([Batch.Broadcast]) is appended once to the room's log,
// whatever the room's size, and each member reads it from there on its next fetch. Every entry
// carries an ID from one store-wide monotonic sequence, so a reader merging its session log and
// its rooms' logs sees every sender's packets in the order they were committed, and an entry
// written to several rooms (same ID) is delivered once. A socket reads a room's entries newer
// than both its cursor and the moment it joined; a room it left stays readable up to the moment
// it left, so nothing emitted while it was a member is lost.
//
// Why not a queue per member: a broadcast to a 10,000-member room would be 10,000 writes (on
// DynamoDB, 10,000 write units per message) and one long script blocking Redis; with room logs it
// is one write, and the readers, who poll anyway, do the work. The price is that a fetch reads one
// log per room the session is in, and that logs are kept for a retention window (longer than any
// live session can go without reading) instead of being deleted on read.
//
// # Concurrency
//
// A [State] and a [Batch] belong to one request and are not safe for concurrent use. Stores are
// safe for concurrent use; every [Store.Commit] is atomic and applies its operations in order.
//
// # Example
//
//	st, err := store.Load(ctx, sid)
//	if err != nil { ... } // errors.Is(err, session.ErrNotFound) -> Engine.IO "Session ID unknown"
//	var b session.Batch
//	b.Join("/chat", "lobby")
//	b.Broadcast("/chat", []string{"lobby"}, nil, packet)
//	err = store.Commit(ctx, sid, &b)
package session
