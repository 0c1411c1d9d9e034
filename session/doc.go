// Package session defines what one request of the stateless server loads, records and commits:
// the Engine.IO session with its Socket.IO namespace sockets ([State]), the effects a request
// produced ([Batch]), and the small [Store] contract that Redis and DynamoDB implement.
//
// Nothing here keeps state between requests. A request calls [Store.Load] (or [Store.Fetch] for
// a long-poll GET), runs the application's hooks against the loaded [State] while they record
// effects into a [Batch], and hands the batch to [Store.Commit], which applies it atomically.
//
// # Delivery guarantees
//
// Whatever the backend: a broadcast reaches every socket that is in one of its rooms (and in none
// of its exceptions) when it commits, once even if the socket is in several of the rooms; each
// recipient receives each sender's packets in the order the sender committed them; a socket that
// leaves a room (or disconnects) still receives what was sent there before; nothing a commit
// acknowledged is lost. The two stores reach this differently.
//
// Redis (store/redis): fan-out on read. A packet for one session (a CONNECT answer, an ack,
// [Batch.Send]) is appended to that session's own log. A packet for a room ([Batch.Broadcast])
// is appended once to the room's log, whatever the room's size, and each member reads it from
// there on its next fetch. Every entry carries an ID from one store-wide monotonic sequence, so a
// reader merging its session log and its rooms' logs sees every sender's packets in commit order,
// and an entry written to several rooms (same ID) is delivered once. A socket reads a room's
// entries newer than both its cursor and the moment it joined; a room it left stays readable up to
// the moment it left. A broadcast to a 10,000-member room is one write; the price is that a fetch
// reads one log per room, inside one atomic script.
//
// DynamoDB (store/dynamo): fan-out on write, to a queue per session, because DynamoDB has neither
// a cheap store-wide sequence nor an atomic read across partitions; its package documentation
// gives the measurements behind that choice.
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
