package dynamo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/serverless-socketio/server/session"
)

// cast is one broadcast, fanned out to the other sessions after the commit.
type cast struct {
	nsp           string
	rooms, except []string
	payload       []byte
}

// plan is what one commit writes, computed from the session item it read.
type plan struct {
	old, next *sessionItem
	at        int64    // the order time of the packets this commit queues
	self      [][]byte // payloads for the session itself, in order
	casts     []cast
	writes    []types.TransactWriteItem // besides the session item, atomic with it
	after     []types.WriteRequest      // what did not fit in the transaction
	flushSelf bool
	out       *outbox // the casts, written to the outbox in the transaction (nil: none)
}

// Commit reads the session item, applies the batch to it in memory, and writes it back
// conditionally on its version, atomically with this session's own items (queued packets for
// itself, memberships, connection index) in one TransactWriteItems (a PutItem when only the
// session item changes). A lost race reads again and retries. Then each broadcast is fanned
// out: a strongly consistent Query per target room for its members, and one queued item per
// recipient, written by parallel BatchWriteItems.
func (s *Store) Commit(ctx context.Context, sid string, b *session.Batch) (*session.Committed, error) {
	return s.commit(ctx, sid, nil, b)
}

// CommitState is Commit building on the session item st was loaded from, when this store loaded
// it: a POST or a $default then reads the session once, not twice. If the item changed since, the
// conditional write fails and the commit reads it again.
func (s *Store) CommitState(ctx context.Context, st *session.State, b *session.Batch) (*session.Committed, error) {
	loaded, _ := st.Revision.(*sessionItem)
	return s.commit(ctx, st.ID, loaded, b)
}

func (s *Store) commit(ctx context.Context, sid string, loaded *sessionItem, b *session.Batch) (*session.Committed, error) {
	if b.Len() == 0 {
		return &session.Committed{}, nil
	}
	var pushed []string // the WebSocket recipients of an earlier commit's broadcast this one finished
	for attempt := 1; ; attempt++ {
		old := loaded
		loaded = nil
		if old == nil {
			var err error
			if old, err = s.getSession(ctx, sid); err != nil {
				return nil, err
			}
		}
		if old == nil {
			return nil, session.ErrNotFound
		}
		if old.ob != 0 {
			// A broadcast of an earlier commit is not fanned out yet: finish it first, so that
			// its members get this session's packets in order.
			flush, err := s.finishOutbox(ctx, sid, old)
			pushed = append(pushed, flush...)
			busy := errors.Is(err, errDrainBusy)
			switch {
			case err != nil && !busy:
				return nil, err
			case attempt >= maxAttempts:
				return nil, unavailable(fmt.Errorf("the broadcast of commit %d is still pending: %w", old.ob, errDrainBusy))
			case err == nil:
				continue // the session item changed: read it again
			case casting(b) && old.cl == "":
				if err := backoff(ctx, attempt); err != nil {
					return nil, unavailable(err)
				}
				continue
			}
			// Another request is fanning it out, and this commit neither broadcasts nor closes.
		}
		now := s.nowMS()
		if old.cl != "" {
			return nil, session.ErrNotFound
		}
		if !live(old.expires, now) {
			if b.Has(session.OpClose) {
				// Its TTL passed before a sweeper closed it: close it now, so that it leaves the
				// sweeper index and its rooms, and report it unknown.
				var x session.Batch
				x.Close(session.ReasonPingTimeout, false)
				if p, err := s.plan(sid, old, &x, now); err == nil {
					if err := s.apply(ctx, sid, p); err == nil {
						s.writeAll(ctx, p.after)
					}
				}
			}
			return nil, session.ErrNotFound
		}
		if !required(old, b) {
			return nil, session.ErrAlive
		}
		p, err := s.plan(sid, old, b, now)
		if err != nil {
			return nil, err
		}
		if err := s.apply(ctx, sid, p); err != nil {
			if retry, err := again(ctx, attempt, err); !retry {
				return nil, err
			}
			continue
		}
		if err := s.writeAll(ctx, p.after); err != nil {
			return nil, err
		}
		return &session.Committed{Flush: append(pushed, s.fanout(ctx, sid, p)...)}, nil
	}
}

// required reports whether the item meets the batch's conditions (session.Batch.Require).
func required(it *sessionItem, b *session.Batch) bool {
	for _, op := range b.Ops {
		if op.Kind == session.OpRequire && !it.clock().Equal(op.Clock) {
			return false
		}
	}
	return true
}

// plan applies the batch to a copy of the session item, and lists what the commit writes
// besides it.
func (s *Store) plan(sid string, old *sessionItem, b *session.Batch, now int64) (*plan, error) {
	p := &plan{old: old, next: old.clone(), at: max(now, old.clk+1)}
	p.next.v = old.v + 1
	ops, err := p.apply(b)
	if err != nil {
		return nil, err
	}
	var writes, members []types.TransactWriteItem
	if ops.closeReason != "" {
		writes, members = s.closeWrites(sid, p, ops, now)
	} else {
		writes, members = s.liveWrites(sid, p, ops, now)
	}
	if len(p.casts) > 0 {
		p.out = &outbox{at: p.at, token: newToken(), casts: p.casts}
		for _, it := range s.outboxItems(sid, p.out, now) {
			writes = append(writes, types.TransactWriteItem{Put: &types.Put{TableName: s.table(), Item: it}})
		}
		p.next.ob = p.at // a tombstone too: a broadcast of its OnClose is still fanned out
	}
	return p, p.fit(writes, members)
}

// planOps is what applying a batch found besides the next session item.
type planOps struct {
	closeReason session.Reason
	owesNoop    bool
	rewrite     bool            // every membership and connection-index item is written again
	conns       map[string]bool // connection-index items to write (true) or delete (false)
}

// apply applies the batch's operations to p.next, in order, up to a close.
func (p *plan) apply(b *session.Batch) (*planOps, error) {
	ops := &planOps{conns: map[string]bool{}}
	next := p.next
	usedClock := false
	for _, op := range b.Ops {
		if ops.closeReason != "" {
			break
		}
		switch op.Kind {
		case session.OpSend, session.OpBroadcast:
			if len(op.Payload) > MaxPacket {
				return nil, tooLarge(len(op.Payload))
			}
			usedClock = true
			p.queue(op)
		case session.OpProbe:
			if op.Socket == "" {
				if next.pr != "" {
					ops.conns[next.pr] = false
				}
				next.pr = ""
			} else {
				next.pr = op.Socket
				ops.conns[op.Socket] = true
			}
		case session.OpUpgrade:
			if next.pr != "" && next.tr != "websocket" {
				next.tr, next.cn, next.pr = string(session.WebSocket), next.pr, ""
				ops.rewrite, p.flushSelf = true, true
			}
		case session.OpClose:
			ops.closeReason, ops.owesNoop = op.Reason, op.OwesNoop
		default:
			if err := next.applyState(op); err != nil {
				return nil, err
			}
		}
	}
	if usedClock {
		next.clk = p.at
	}
	return ops, nil
}

// queue adds a Send or a Broadcast to what the plan queues.
func (p *plan) queue(op session.Op) {
	if op.Kind == session.OpSend {
		p.self = append(p.self, op.Payload)
		return
	}
	p.casts = append(p.casts, cast{nsp: op.Namespace, rooms: op.Rooms, except: op.Except, payload: op.Payload})
	if inAny(p.next, op.Namespace, op.Rooms) && !inAny(p.next, op.Namespace, op.Except) {
		p.self = append(p.self, op.Payload)
	}
}

// applyState applies an operation that changes only the session item itself.
func (it *sessionItem) applyState(op session.Op) error {
	switch op.Kind {
	case session.OpConnect:
		it.sockets[op.Namespace] = &socketItem{id: op.Socket, rooms: []string{op.Socket}}
		it.cd = 0
	case session.OpDisconnect:
		delete(it.sockets, op.Namespace)
	case session.OpJoin:
		if so := it.sockets[op.Namespace]; so != nil {
			if i, found := slices.BinarySearch(so.rooms, op.Room); !found {
				so.rooms = slices.Insert(so.rooms, i, op.Room)
			}
		}
	case session.OpLeave:
		if so := it.sockets[op.Namespace]; so != nil {
			if i, found := slices.BinarySearch(so.rooms, op.Room); found {
				so.rooms = slices.Delete(so.rooms, i, i+1)
			}
		}
	case session.OpSetData:
		if so := it.sockets[op.Namespace]; so != nil {
			so.data = slices.Clone([]byte(op.Data))
			if so.data == nil {
				so.data = []byte{}
			}
		}
	case session.OpPong:
		it.pong, it.ps = max(it.pong, op.At.UnixMilli()), false
	case session.OpSchedule:
		it.schedule(op.Schedule)
	case session.OpRequire:
		// Checked before the plan.
	case session.OpSetPending:
		it.pb = nil
		if len(op.Data) > 0 {
			it.pb = slices.Clone([]byte(op.Data))
		}
	default:
		return fmt.Errorf("dynamo store: unknown operation %d", op.Kind)
	}
	return nil
}

// closeWrites turns the plan into a close: a tombstone replaces the item, its memberships and
// connection index go with it, and nothing more is queued for the session (what was queued is
// ignored).
func (s *Store) closeWrites(sid string, p *plan, ops *planOps, now int64) (writes, members []types.TransactWriteItem) {
	old := p.old
	p.next = &sessionItem{v: old.v + 1, cl: string(ops.closeReason), ow: ops.owesNoop,
		expires: s.ttl(now, s.opt.ClosedTTL), shards: s.opt.Shards}
	p.self, p.flushSelf = nil, false
	for r := range old.memberships() {
		members = append(members, s.deleteWrite(roomPK(r.nsp, r.room), sid))
	}
	for _, c := range []string{old.cn, old.pr} {
		if c != "" {
			writes = append(writes, s.deleteWrite(connPK(c), sessionSK))
		}
	}
	return writes, members
}

// liveWrites lists the writes of a session that stays open: the memberships and connection
// index that changed (all of them when rewritten, to extend their lifetime) and the packets it
// queues for itself.
func (s *Store) liveWrites(sid string, p *plan, ops *planOps, now int64) (writes, members []types.TransactWriteItem) {
	next := p.next
	next.expires = s.ttl(now, s.opt.SessionTTL)
	if next.mx-now < (s.opt.MemberTTL - 24*time.Hour).Milliseconds() {
		ops.rewrite = true
		next.mx = now + s.opt.MemberTTL.Milliseconds()
	}
	orig, final := p.old.memberships(), next.memberships()
	for r := range final {
		if ops.rewrite || !orig[r] {
			members = append(members, types.TransactWriteItem{Put: s.memberPut(r, sid, next)})
		}
	}
	for r := range orig {
		if !final[r] {
			members = append(members, s.deleteWrite(roomPK(r.nsp, r.room), sid))
		}
	}
	if ops.rewrite {
		for _, c := range []string{next.cn, next.pr} {
			if c != "" {
				ops.conns[c] = true
			}
		}
	}
	for c, put := range ops.conns {
		if put {
			writes = append(writes, types.TransactWriteItem{Put: s.connPut(c, sid, next.mx)})
		} else {
			writes = append(writes, s.deleteWrite(connPK(c), sessionSK))
		}
	}
	for _, q := range s.queueItems(sid, sid, p.at, p.self, now).all() {
		writes = append(writes, types.TransactWriteItem{Put: &types.Put{TableName: s.table(), Item: q}})
	}
	return writes, members
}

func (s *Store) deleteWrite(pk, sk string) types.TransactWriteItem {
	return types.TransactWriteItem{Delete: &types.Delete{TableName: s.table(), Key: key(pk, sk)}}
}

// fit puts the writes in the commit's transaction, which holds 100 items with the session item:
// memberships beyond that are written right after it.
func (p *plan) fit(writes, members []types.TransactWriteItem) error {
	room := 99 - len(writes)
	if room < 0 {
		return fmt.Errorf("dynamo store: a commit of %d items exceeds a transaction", len(writes)+1)
	}
	if len(members) > room {
		for _, w := range members[room:] {
			if w.Put != nil {
				p.after = append(p.after, types.WriteRequest{PutRequest: &types.PutRequest{Item: w.Put.Item}})
			} else {
				p.after = append(p.after, types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: w.Delete.Key}})
			}
		}
		members = members[:room]
	}
	p.writes = append(writes, members...)
	return nil
}

func tooLarge(n int) error {
	return fmt.Errorf("dynamo store: a %d-byte packet exceeds the %d bytes a DynamoDB item can queue", n, MaxPacket)
}

func inAny(it *sessionItem, nsp string, rooms []string) bool {
	return slices.ContainsFunc(rooms, func(r string) bool { return it.inRoom(nsp, r) })
}

func (s *Store) memberPut(r roomRef, sid string, it *sessionItem) *types.Put {
	item := key(roomPK(r.nsp, r.room), sid)
	item["ws"] = boolean(it.tr == "websocket")
	item[attrExpires] = num(it.mx / 1000)
	return &types.Put{TableName: s.table(), Item: item}
}

// queued are the items that queue payloads for one recipient. A payload larger than an item
// holds is split: its first part (the head) names how many parts it has, and its other parts
// (the tails, sorted right after it) must be written before it, so that a reader who finds a
// head finds all of it.
type queued struct {
	tails, heads []map[string]types.AttributeValue
}

// all lists the items in the order they may be written.
func (q queued) all() []map[string]types.AttributeValue { return append(q.tails, q.heads...) }

// queueItems packs payloads for one recipient into queued items (one unless they exceed what
// an item holds), keyed by the sender's order time so that the recipient reads them in order.
func (s *Store) queueItems(recipient, origin string, at int64, payloads [][]byte, now int64) queued {
	var q queued
	part := 0
	item := func(list ...[]byte) map[string]types.AttributeValue {
		values := make([]types.AttributeValue, len(list))
		for i, pl := range list {
			values[i] = bin(pl)
		}
		it := key(sessionPK(recipient), queueSK(at, origin, part))
		it["p"] = &types.AttributeValueMemberL{Value: values}
		it["n"] = num(int64(len(list)))
		it[attrExpires] = num(s.ttl(now, s.opt.SessionTTL))
		part++
		return it
	}
	for len(payloads) > 0 {
		if len(payloads[0]) > maxItemPayload {
			pieces := split(payloads[0], maxItemPayload)
			head := item(pieces[0])
			head[attrParts] = num(int64(len(pieces)))
			q.heads = append(q.heads, head)
			for _, pc := range pieces[1:] {
				tail := item(pc)
				tail[attrTail] = boolean(true)
				q.tails = append(q.tails, tail)
			}
			payloads = payloads[1:]
			continue
		}
		n, size := 0, 0
		for n < len(payloads) && len(payloads[n]) <= maxItemPayload && (n == 0 || size+len(payloads[n]) <= maxItemPayload) {
			size += len(payloads[n])
			n++
		}
		q.heads = append(q.heads, item(payloads[:n]...))
		payloads = payloads[n:]
	}
	return q
}

// split cuts b into pieces of at most n bytes.
func split(b []byte, n int) [][]byte {
	var out [][]byte
	for len(b) > n {
		out = append(out, b[:n])
		b = b[n:]
	}
	return append(out, b)
}

// apply writes the session item conditionally on the version read, with p.writes. A lost race
// is returned as is (see conflict), any other failure as ErrUnavailable.
func (s *Store) apply(ctx context.Context, sid string, p *plan) error {
	put := s.sessionPut(sid, p.old, p.next)
	if len(p.writes) == 0 {
		return s.writeOne(ctx, types.TransactWriteItem{Put: put})
	}
	return s.transact(ctx, append([]types.TransactWriteItem{{Put: put}}, p.writes...))
}

// fanout drains the plan's outbox: it delivers the broadcasts to the other members of their
// rooms, off the caller's cancellation (a sender that hangs up does not cut other members' fan-out
// short), and returns the WebSocket sessions to push to. A fan-out that fails is left to the
// session's next commit or the sweeper: the commit has happened.
func (s *Store) fanout(ctx context.Context, sid string, p *plan) []string {
	var flush []string
	if p.flushSelf || (len(p.self) > 0 && p.next.tr == string(session.WebSocket)) {
		flush = append(flush, sid)
	}
	if p.out == nil {
		return flush
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), drainLease)
	defer cancel()
	cast, err := s.drain(ctx, sid, p.out)
	if err != nil {
		s.releaseDrain(ctx, sid, p.out)
		return flush
	}
	_ = s.clearOutbox(ctx, sid, p.out, p.next)
	return append(flush, cast...)
}

func puts(items []map[string]types.AttributeValue) []types.WriteRequest {
	reqs := make([]types.WriteRequest, len(items))
	for i, it := range items {
		reqs[i] = types.WriteRequest{PutRequest: &types.PutRequest{Item: it}}
	}
	return reqs
}

// readMembers fills members with each room's member sessions (true for WebSocket ones), one
// strongly consistent Query per room, in parallel.
func (s *Store) readMembers(ctx context.Context, members map[roomRef]map[string]bool) error {
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
	)
	sem := make(chan struct{}, s.opt.Parallel)
	now := s.nowMS()
	rooms := make([]roomRef, 0, len(members))
	for r := range members {
		rooms = append(rooms, r)
	}
	for _, r := range rooms {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			set := make(map[string]bool)
			var start map[string]types.AttributeValue
			for {
				out, err := s.db.Query(ctx, &dynamodb.QueryInput{
					TableName: s.table(), ConsistentRead: aws.Bool(true),
					KeyConditionExpression:    aws.String("pk = :pk"),
					ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(roomPK(r.nsp, r.room))},
					ExclusiveStartKey:         start,
					ReturnConsumedCapacity:    s.returnCapacity(),
				})
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = unavailable(err)
					}
					mu.Unlock()
					return
				}
				s.trackOne("Query", out.ConsumedCapacity)
				for _, item := range out.Items {
					m, _ := item[attrSK].(*types.AttributeValueMemberS)
					if m == nil || !live(itemExpires(item), now) {
						continue
					}
					w, _ := item["ws"].(*types.AttributeValueMemberBOOL)
					set[m.Value] = w != nil && w.Value
				}
				if len(out.LastEvaluatedKey) == 0 {
					break
				}
				start = out.LastEvaluatedKey
			}
			mu.Lock()
			members[r] = set
			mu.Unlock()
		}()
	}
	wg.Wait()
	return firstErr
}

// writeAll writes requests with BatchWriteItem, 25 per call, Parallel calls at a time,
// retrying what DynamoDB leaves unprocessed.
func (s *Store) writeAll(ctx context.Context, reqs []types.WriteRequest) error {
	if len(reqs) == 0 {
		return nil
	}
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
	)
	sem := make(chan struct{}, s.opt.Parallel)
	for start := 0; start < len(reqs); start += 25 {
		chunk := reqs[start:min(start+25, len(reqs))]
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := s.batchWrite(ctx, chunk); err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return firstErr
}

func (s *Store) batchWrite(ctx context.Context, chunk []types.WriteRequest) error {
	for attempt := 1; ; attempt++ {
		out, err := s.db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{
			RequestItems:           map[string][]types.WriteRequest{s.opt.Table: chunk},
			ReturnConsumedCapacity: s.returnCapacity(),
		})
		if err != nil {
			return unavailable(err)
		}
		s.track("BatchWriteItem", out.ConsumedCapacity...)
		chunk = out.UnprocessedItems[s.opt.Table]
		if len(chunk) == 0 {
			return nil
		}
		if attempt >= maxAttempts {
			return unavailable(fmt.Errorf("%d writes left unprocessed after %d attempts", len(chunk), attempt))
		}
		if err := backoff(ctx, attempt+2); err != nil {
			return unavailable(err)
		}
	}
}
