package dynamo

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/serverless-socketio/server/session"
)

// Fetch reads the session item and its queue with one strongly consistent Query (the session
// item sorts first), takes up to req.Max payloads in order, and writes only what changed: the
// taken items are deleted (a partly taken one rewritten), each conditionally on being unchanged,
// and the session item, conditionally on its version, when the hold, lease or ping changed. An
// idle fetch of a poll that already holds the session writes nothing: it costs one read.
func (s *Store) Fetch(ctx context.Context, sid string, req session.FetchRequest) (*session.Fetched, error) {
	if req.Pin {
		return nil, errNoPin
	}
	limit := req.Max
	if limit <= 0 {
		limit = 1024
	}
	transport := req.Transport
	if transport == "" {
		transport = "polling"
	}
	for attempt := 1; ; attempt++ {
		f, err := s.fetchOnce(ctx, sid, req, limit, transport)
		if errors.Is(err, errRecheck) && attempt < maxAttempts {
			continue
		}
		if errors.Is(err, errRecheck) {
			return f, nil
		}
		if err != nil {
			if retry, err := again(ctx, attempt, err); !retry {
				return nil, err
			}
			continue
		}
		return f, nil
	}
}

// errRecheck reports that a flush released its lease and then found packets queued: the fetch
// starts over, taking the lease again.
// errNoPin refuses a pump's fetch: a pump waits for wake-ups, which this store cannot push.
var errNoPin = errors.New("dynamo store: FetchRequest.Pin needs a store that pushes wake-ups (session.Notifier)")

var errRecheck = errors.New("dynamo store: packets arrived while the lease was released")

func (s *Store) fetchOnce(ctx context.Context, sid string, req session.FetchRequest, limit int, transport string) (*session.Fetched, error) {
	out, err := s.db.Query(ctx, &dynamodb.QueryInput{
		TableName: s.table(), ConsistentRead: aws.Bool(true),
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(sessionPK(sid))},
		Limit:                     aws.Int32(int32(min(limit, 1<<20) + 2)),
		ReturnConsumedCapacity:    s.returnCapacity(),
	})
	if err != nil {
		return nil, unavailable(err)
	}
	s.trackOne("Query", out.ConsumedCapacity)
	now := s.nowMS()
	if len(out.Items) == 0 || skOf(out.Items[0]) != sessionSK {
		return nil, session.ErrNotFound
	}
	it, err := decodeSession(out.Items[0], s.opt.Shards)
	if err != nil {
		return nil, fmt.Errorf("dynamo store: session: %w", err)
	}
	if !live(it.expires, now) {
		return nil, session.ErrNotFound
	}
	if it.cl != "" {
		// The noop owed for a close the client asked for goes to the first polling fetch.
		if it.ow && transport == "polling" {
			next := *it
			next.v, next.ow = it.v+1, false
			if err := s.putSession(ctx, sid, it, &next); err != nil {
				return nil, err
			}
			return nil, &session.ClosedError{Reason: it.cl, Answer: true}
		}
		return nil, &session.ClosedError{Reason: it.cl}
	}
	if it.expired(now) {
		return &session.Fetched{Session: it.session(sid), Expired: true}, nil
	}
	if transport != it.tr {
		return nil, session.ErrTransport
	}
	queue := out.Items[1:]
	var lease leaseItem
	if len(queue) > 0 && skOf(queue[0]) == leaseSK {
		lease = decodeLease(queue[0])
		queue = queue[1:]
	}
	if req.Poll != "" && it.poll != "" && it.poll != req.Poll && it.pollx > now {
		return nil, session.ErrBusy
	}
	if req.Lease && req.Poll != "" && lease.tok != "" && lease.tok != req.Poll && lease.x > now {
		return nil, session.ErrBusy
	}
	next := it.clone()
	next.v = it.v + 1
	changed := false
	if it.pr != "" && transport == "polling" {
		// Take nothing: what is queued goes out over the WebSocket once the upgrade completes.
		if req.Poll != "" && it.poll == req.Poll {
			next.poll, next.pollx = "", 0
			if err := s.putSession(ctx, sid, it, next); err != nil {
				return nil, err
			}
		}
		return &session.Fetched{Session: next.session(sid), Upgrading: true}, nil
	}

	f := &session.Fetched{More: len(out.LastEvaluatedKey) > 0}
	var writes []types.TransactWriteItem
	for _, q := range queue {
		if !live(itemExpires(q), now) {
			continue
		}
		payloads := payloadsOf(q)
		left := limit - len(f.Payloads)
		if left == 0 {
			f.More = true
			break
		}
		cond := &types.AttributeValueMemberN{Value: fmt.Sprint(len(payloads))}
		if len(payloads) <= left {
			f.Payloads = append(f.Payloads, payloads...)
			writes = append(writes, types.TransactWriteItem{Delete: &types.Delete{
				TableName: s.table(), Key: key(sessionPK(sid), skOf(q)),
				ConditionExpression:       aws.String("n = :n"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":n": cond},
			}})
			continue
		}
		f.Payloads = append(f.Payloads, payloads[:left]...)
		rest := make(map[string]types.AttributeValue, len(q))
		for k, v := range q {
			rest[k] = v
		}
		list := make([]types.AttributeValue, 0, len(payloads)-left)
		for _, pl := range payloads[left:] {
			list = append(list, bin(pl))
		}
		rest["p"] = &types.AttributeValueMemberL{Value: list}
		rest["n"] = num(int64(len(list)))
		writes = append(writes, types.TransactWriteItem{Put: &types.Put{
			TableName: s.table(), Item: rest,
			ConditionExpression:       aws.String("n = :n"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":n": cond},
		}})
		f.More = true
		break
	}
	f.Pinged = req.Ping && !it.ps && now >= it.pong+it.pi
	if f.Pinged {
		next.ps = true
		changed = true
	}
	if req.Lease {
		return s.flushTake(ctx, sid, req, it, next, changed, lease, writes, f, now)
	}
	// A held GET keeps its hold while it has nothing.
	keep := len(f.Payloads) == 0 && !f.Pinged
	if req.Poll != "" {
		hold := req.Hold.Milliseconds()
		switch {
		case keep && hold > 0:
			// Renew only when half the hold is gone: an idle held poll then writes nothing.
			if it.poll != req.Poll || it.pollx < now+hold/2 {
				next.poll, next.pollx = req.Poll, now+hold
				changed = true
			}
		case it.poll == req.Poll:
			next.poll, next.pollx = "", 0
			changed = true
		}
	}
	if !changed {
		next = it
	}
	f.Session = next.session(sid)
	switch {
	case changed && len(writes) == 0:
		err = s.putSession(ctx, sid, it, next)
	case changed:
		next.expires = s.ttl(now, s.opt.SessionTTL)
		err = s.transact(ctx, append([]types.TransactWriteItem{{Put: s.sessionPut(sid, it, next)}}, writes...))
	case len(writes) == 1:
		err = s.writeOne(ctx, writes[0])
	case len(writes) > 1:
		err = s.transact(ctx, writes)
	}
	if err != nil {
		return nil, err
	}
	return f, nil
}

// flushTake completes a flush's fetch (req.Lease): the lease, in its own item, is taken (or
// renewed when half of it is gone) while the fetch takes something and released by the fetch
// that takes nothing. Outside a ping, each write is a plain conditional one: the lease first, so
// that a lost race takes nothing; then the taken queue items. With a ping, the session item
// changes too, and everything goes in one transaction, so that a ping is never recorded as sent
// without the packets before it taken.
func (s *Store) flushTake(ctx context.Context, sid string, req session.FetchRequest, it, next *sessionItem, changed bool, lease leaseItem, writes []types.TransactWriteItem, f *session.Fetched, now int64) (*session.Fetched, error) {
	keep := len(f.Payloads) > 0 || f.Pinged
	ours := req.Poll != "" && lease.tok == req.Poll && lease.x > now
	hold := req.Hold.Milliseconds()
	var take, release *types.TransactWriteItem
	switch {
	case req.Poll == "":
	case keep && hold > 0 && (!ours || lease.x < now+hold/2):
		take = &types.TransactWriteItem{Put: s.leasePut(sid, req.Poll, lease, now, now+hold)}
	case !keep && lease.tok == req.Poll:
		release = &types.TransactWriteItem{Delete: &types.Delete{
			TableName: s.table(), Key: key(sessionPK(sid), leaseSK),
			ConditionExpression:       aws.String("tok = :t"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":t": str(req.Poll)},
		}}
	}
	if !changed {
		next = it
	}
	f.Session = next.session(sid)
	if changed {
		// The ping: one transaction with the session item, the lease and the taken items.
		all := []types.TransactWriteItem{{Put: s.sessionPut(sid, it, next)}}
		for _, w := range []*types.TransactWriteItem{take, release} {
			if w != nil {
				all = append(all, *w)
			}
		}
		next.expires = s.ttl(now, s.opt.SessionTTL)
		if err := s.transact(ctx, append(all, writes...)); err != nil {
			return nil, err
		}
	} else {
		if take != nil {
			if err := s.writeOne(ctx, *take); err != nil {
				return nil, err
			}
		}
		for _, w := range writes {
			if err := s.writeOne(ctx, w); err != nil {
				return nil, err
			}
		}
		if release != nil {
			if err := s.writeOne(ctx, *release); err != nil && !conflict(err) {
				return nil, err
			}
		}
	}
	if release != nil {
		// The lease is released. A commit that queued a packet after this fetch's read saw the
		// lease taken and left the push to its holder: look once more, and take it if so. (A
		// commit after this read sees the lease free and pushes itself.)
		if queued, err := s.queued(ctx, sid); err != nil {
			return nil, err
		} else if queued {
			return f, errRecheck
		}
	}
	return f, nil
}

// leaseItem is a decoded flush lease; the zero value is no lease.
type leaseItem struct {
	tok string
	x   int64
}

func decodeLease(m map[string]types.AttributeValue) leaseItem {
	var l leaseItem
	if v, ok := m["tok"].(*types.AttributeValueMemberS); ok {
		l.tok = v.Value
	}
	if v, ok := m["x"].(*types.AttributeValueMemberN); ok {
		l.x, _ = strconv.ParseInt(v.Value, 10, 64)
	}
	return l
}

// leasePut takes or renews the lease for token until x, on condition that it is still as read:
// absent, or held by the same token with the same expiry (a lost race is retried from the read).
func (s *Store) leasePut(sid, token string, read leaseItem, now, x int64) *types.Put {
	put := &types.Put{
		TableName: s.table(),
		Item: map[string]types.AttributeValue{
			attrPK: str(sessionPK(sid)), attrSK: str(leaseSK),
			"tok": str(token), "x": num(x), "expires": num(s.ttl(x, 0) + 1),
		},
	}
	if read.tok == "" {
		put.ConditionExpression = aws.String("attribute_not_exists(tok)")
	} else {
		put.ConditionExpression = aws.String("tok = :t AND x = :x")
		put.ExpressionAttributeValues = map[string]types.AttributeValue{":t": str(read.tok), ":x": num(read.x)}
	}
	return put
}

// queued reports whether any live packet is queued for the session (one Query of the queue's
// first items).
func (s *Store) queued(ctx context.Context, sid string) (bool, error) {
	out, err := s.db.Query(ctx, &dynamodb.QueryInput{
		TableName: s.table(), ConsistentRead: aws.Bool(true),
		KeyConditionExpression:    aws.String("pk = :pk AND begins_with(sk, :q)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(sessionPK(sid)), ":q": str("q#")},
		ProjectionExpression:      aws.String("sk, expires"),
		Limit:                     aws.Int32(16),
		ReturnConsumedCapacity:    s.returnCapacity(),
	})
	if err != nil {
		return false, unavailable(err)
	}
	s.trackOne("Query", out.ConsumedCapacity)
	now := s.nowMS()
	for _, q := range out.Items {
		if live(itemExpires(q), now) {
			return true, nil
		}
	}
	return false, nil
}

func skOf(m map[string]types.AttributeValue) string {
	if v, ok := m[attrSK].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func payloadsOf(m map[string]types.AttributeValue) [][]byte {
	l, _ := m["p"].(*types.AttributeValueMemberL)
	if l == nil {
		return nil
	}
	out := make([][]byte, 0, len(l.Value))
	for _, v := range l.Value {
		if b, ok := v.(*types.AttributeValueMemberB); ok {
			out = append(out, b.Value)
		}
	}
	return out
}

func (s *Store) sessionPut(sid string, old, next *sessionItem) *types.Put {
	return &types.Put{
		TableName: s.table(), Item: next.encode(sid),
		ConditionExpression:       aws.String("v = :v"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":v": num(old.v)},
	}
}

// putSession writes next over old, conditionally on old's version (a lost race is returned as
// is, for the caller to retry).
func (s *Store) putSession(ctx context.Context, sid string, old, next *sessionItem) error {
	if next.cl == "" {
		next.expires = s.ttl(s.nowMS(), s.opt.SessionTTL)
	}
	return s.writeOne(ctx, types.TransactWriteItem{Put: s.sessionPut(sid, old, next)})
}

// writeOne performs one conditional write outside a transaction (half the cost of one inside).
func (s *Store) writeOne(ctx context.Context, w types.TransactWriteItem) error {
	var err error
	switch {
	case w.Put != nil:
		var out *dynamodb.PutItemOutput
		out, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
			TableName: w.Put.TableName, Item: w.Put.Item, ConditionExpression: w.Put.ConditionExpression,
			ExpressionAttributeValues: w.Put.ExpressionAttributeValues, ReturnConsumedCapacity: s.returnCapacity(),
		})
		if err == nil {
			s.trackOne("PutItem", out.ConsumedCapacity)
		}
	case w.Delete != nil:
		var out *dynamodb.DeleteItemOutput
		out, err = s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
			TableName: w.Delete.TableName, Key: w.Delete.Key, ConditionExpression: w.Delete.ConditionExpression,
			ExpressionAttributeValues: w.Delete.ExpressionAttributeValues, ReturnConsumedCapacity: s.returnCapacity(),
		})
		if err == nil {
			s.trackOne("DeleteItem", out.ConsumedCapacity)
		}
	}
	if err != nil && !conflict(err) {
		return unavailable(err)
	}
	return err
}
