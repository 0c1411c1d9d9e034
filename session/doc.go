// Package session defines what one request of the stateless server loads, records and commits:
// the Engine.IO session with its Socket.IO namespace sockets ([State]), the effects a request
// produced ([Batch]), and the [Store] contract that the memory, Redis and DynamoDB stores
// implement.
//
// A store is storage, not policy. It commits a batch atomically (append packets to logs, change
// memberships and session fields), reads what is queued after a session's cursor without side
// effects ([Store.Read]), advances the cursor when told ([Store.Ack]), leases ([Store.Acquire]:
// a token and a TTL, from which the long-poll's hold, the WebSocket writer and the noop a closed
// session owes are built), and lists what the sweeper's hints say is due ([Store.Due]). When a
// GET holds, when a ping is due, when a session is dead: all of that is decided in package
// handler, once, in Go, and the decisions reach the store as plain values (a pong's time, the
// hints of a [Schedule], the [Clock] a close is conditional on).
//
// Nothing here keeps state between requests. A POST calls [Store.Load], runs the application's
// hooks against the loaded [State] while they record effects into a [Batch], and hands the batch
// to [Store.Commit]. A GET takes [LeasePoll], reads, writes its answer, and only then
// acknowledges what it wrote, letting the lease go in the same step.
//
// # Delivery guarantees
//
// Whatever the backend: a broadcast reaches every socket that is in one of its rooms (and in none
// of its exceptions) when it commits, once even if the socket is in several of the rooms; each
// recipient receives each sender's packets in the order the sender committed them; a socket that
// leaves a room (or disconnects) still receives what was sent there before; nothing a commit
// acknowledged is lost, and nothing leaves a queue before a reader wrote it to the client.
//
// Redis and the memory store: fan-out on read. A packet for one session (a CONNECT answer, an
// ack, [Batch.Send]) is appended to that session's own log; a packet for a room
// ([Batch.Broadcast]) once to the room's log, whatever the room's size, and each member reads it
// from there. Every entry carries an [ID] from one store-wide sequence, so a reader merging its
// session log and its rooms' logs sees every sender's packets in commit order, and an entry
// written to several rooms (same ID) is delivered once. Both are a [Subscriber]: a commit also
// publishes its entries, with their IDs, and a process hands them to its readers from memory;
// the logs stay the truth, read to fill a gap.
//
// DynamoDB: fan-out on write, to a queue per session, because DynamoDB has neither a cheap
// store-wide sequence nor an atomic read across partitions; its package documentation gives the
// measurements behind that choice.
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
//	_, err = store.Commit(ctx, sid, &b)
package session
