// Package dynamo is the DynamoDB [session.Store]: one table, no process state, no push.
//
// # Table
//
// One table, on-demand billing, string keys pk (partition) and sk (sort), TTL on the number
// attribute "expires" (Unix seconds), and one global secondary index, "due". [CreateTable] makes
// it; template.yaml declares the same.
//
//	item kind         pk                        sk                       attributes
//	session           s#<sid>                   !                        v (version), pi, pt, pong, ps, cd, tr, cn, pr,
//	                                                                     pb, clk, mx, ns (sockets), expires,
//	                                                                     dp, due, dl, pd (sweeper index: the hints)
//	namespace socket  (a map entry of the session item: ns[<nsp>] = {id, r: rooms, d: data})
//	lease             s#<sid>                   l#<name>                 tok (holder), x (expiry ms), expires
//	queued packets    s#<sid>                   q#<ms:13>#<sender>#<part> p (list of payloads), n (their count), expires,
//	                                                                     sp or st (a split payload's head or tail)
//	room membership   r#<len(nsp)>:<nsp>:<room> <sid>                    ws (WebSocket member), expires
//	connection index  c#<connectionId>          !                        sid, expires
//	closed session    s#<sid>                   !                        v, cl (reason), ow (noop owed), expires
//	outbox            o#<sid>                   <ms:13>#<item>           c (list of casts: n, r, x, p = namespace,
//	                                                                     rooms, except, payload), sp or p, st (a split
//	                                                                     cast); the first also tok, x, pg (lease,
//	                                                                     progress); expires
//
// The session item sorts before its leases and its queue ("!" < "l#" < "q#"), so one strongly
// consistent Query reads them all: a read, and each re-read of an idle held poll, is one
// request. A lease (the held GET's, a WebSocket writer's, a closed session's noop) is an item of
// its own, taken and released with plain conditional writes (1 write unit each). Sockets live
// inside the session item (a session has a handful), so loading a session is one GetItem. A
// room's members are one partition, read with one Query (a 10,000-member room is about 1 MB:
// one page per MB). Room partition keys longer than 1 KB are hashed.
//
// The index "due" (partition dp = "d#<n>", one of [Options.Shards] shards by a hash of the
// sid; sort due = the earlier of the sweeper's hints; projected dl, the deadline hint, and pd,
// the ping hint) replaces Redis's sorted sets: [Store.Due] queries each shard for due <= now.
// Only live session items carry dp, so closed ones leave it.
//
// Every item has "expires". DynamoDB's TTL deletes late (up to days), so every read ignores
// items past it: a session is alive until its deadline and exists until expires.
//
// # Delivery: fan-out on write
//
// Unlike the Redis store (room logs read by every member), a packet is written to each
// recipient's own queue, in its session partition. A broadcast reads the target rooms' members
// (and the excepted rooms'), then writes one item per recipient with BatchWriteItem, 25 per
// request, [Options.Parallel] requests at a time. All packets one commit queues for one
// recipient share one item, in order (a commit that broadcasts 20 times to a member writes it one
// item). A reader reads items in key order without changing them, and once it wrote them, its
// Ack deletes what it took (a partly taken item loses its first payloads), each write conditional
// on the item being unchanged.
//
// Why not fan-out on read, as on Redis: DynamoDB has no atomic read across partitions except
// TransactGetItems (2 read units per item), and no store-wide sequence except a single counter
// item (one partition, about 1,000 writes per second). A member reading K room logs with a
// consistent cut would pay 2(K+1) read units on every re-read of an idle held poll instead of
// 1, and idle re-reads are most of a polling client's cost: the break-even is around 3,000
// deliveries per client per hour (see the README's store section for the measurements). A
// broadcast to N members costs N write units to queue and N to take; its latency is a few
// parallel BatchWriteItem rounds (measured by BenchmarkBroadcastDynamoDBLocal).
//
// # Ordering and atomicity
//
// A commit reads the session item, applies the batch in memory, and writes the item back
// conditionally on its version ("v"), in one TransactWriteItems with what belongs to the session
// itself (its own queued packets, its membership and connection-index items); when only the
// session item changes it is a conditional PutItem. A lost race reads again and retries. A
// commit that broadcasts also writes its broadcasts to the session's outbox (partition
// o#<sid>) in the transaction, and marks the session item ("ob"); the fan-out to other sessions
// then drains the outbox. Once the transaction landed the commit has happened: a fan-out that
// fails, or whose process dies, is finished by the session's next commit (before its own) or by
// the sweeper, which the mark brings 10 s later (see outbox.go).
//
// Queued items are keyed by the sender's order time: max(now, the last one it used + 1 ms),
// kept in the session item ("clk"), so a sender's packets sort in the order it committed them
// even when its requests run on servers whose clocks disagree. A recipient reads its queue in
// key order and a sender's next commit starts after its previous one's fan-out ended, so every
// recipient sees every sender's packets in order, once. Packets from different senders are
// ordered by arrival, not by a global sequence.
//
// # Limits
//
// A queued payload is at most [MaxPacket] (1 MiB). One larger than an item holds (400 KB) is
// split: its first item (the head, with "sp", the count of its parts) sorts right before its
// other parts (the tails, with "st"). A fan-out writes every tail before any head, so a reader
// that finds a head finds its tails (a Query page that ends inside them is continued); taking it
// deletes the head first, so tails left by a failed take are skipped, never delivered twice. A commit's own writes must fit one transaction (100 items): membership changes
// beyond that are written right after it. It is no [session.Subscriber]: a held poll re-reads
// its queue on the handler's backoff (PollBackoff, 1 s by default), about one read unit per
// backoff while idle.
package dynamo
