package dynamo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/serverless-socketio/server/session"
)

// Read reads the session item and its queue with one strongly consistent Query (the session
// item sorts first, its lease items next), and returns up to max payloads in key order. It
// writes nothing: an idle held poll's read costs one read unit. A split payload whose parts the
// Query's page cut off is completed by another Query.
func (s *Store) Read(ctx context.Context, sid string, max int) (*session.Queued, error) {
	q, _, err := s.read(ctx, sid, max, "")
	return q, err
}

// read is Read; it also returns the item of lease l (nil if the session has none, or l is "").
func (s *Store) read(ctx context.Context, sid string, max int, l session.Lease) (*session.Queued, map[string]types.AttributeValue, error) {
	if max <= 0 {
		max = 1024
	}
	items, more, err := s.queryQueue(ctx, sid, nil, int32(min(max, 1<<20)+1+len(leaseNames)))
	if err != nil {
		return nil, nil, err
	}
	now := s.nowMS()
	if len(items) == 0 || skOf(items[0]) != sessionSK {
		return nil, nil, session.ErrNotFound
	}
	it, err := decodeSession(items[0], s.opt.Shards)
	if err != nil {
		return nil, nil, fmt.Errorf("dynamo store: session: %w", err)
	}
	if !live(it.expires, now) {
		return nil, nil, session.ErrNotFound
	}
	if it.cl != "" {
		return nil, nil, &session.ClosedError{Reason: session.Reason(it.cl), OwesNoop: it.ow}
	}
	var leaseItem map[string]types.AttributeValue
	q := &session.Queued{Session: it.session(sid), More: more != nil}
	for r := range it.memberships() {
		q.Rooms = append(q.Rooms, session.RoomRef{Namespace: r.nsp, Room: r.room})
	}
	items = items[1:]
	for i := 0; i < len(items); i++ {
		item := items[i]
		sk := skOf(item)
		if l != "" && sk == leaseSK(l) {
			leaseItem = item
		}
		if !strings.HasPrefix(sk, queuePrefix) || !live(itemExpires(item), now) || item[attrTail] != nil {
			continue // a tail whose head was taken is skipped (see queued)
		}
		if parts := int(numOf(item, attrParts)); parts > 1 {
			if i+parts > len(items) && more != nil {
				// The page ended inside the payload: read the rest of its parts.
				rest, next, err := s.queryQueue(ctx, sid, more, int32(i+parts-len(items)))
				if err != nil {
					return nil, nil, err
				}
				items, more = append(items, rest...), next
				q.More = more != nil
			}
			en, ok := joinParts(items[i:min(i+parts, len(items))], parts)
			if !ok {
				continue // parts missing: they expired
			}
			if len(q.Entries) == max {
				q.More = true
				return q, leaseItem, nil
			}
			q.Entries = append(q.Entries, en)
			i += parts - 1
			continue
		}
		payloads := payloadsOf(item)
		at := queueTime(sk)
		ref := sk + refSep + strconv.Itoa(len(payloads))
		for i, p := range payloads {
			if len(q.Entries) == max {
				q.More = true
				return q, leaseItem, nil
			}
			q.Entries = append(q.Entries, session.Entry{ID: session.ID{Time: at, Seq: int64(i)}, Payload: p, Ref: ref})
		}
	}
	return q, leaseItem, nil
}

// queryQueue reads a session's items from start (nil: the first) with one strongly consistent
// Query of up to limit items; it returns where the next page starts (nil: none).
func (s *Store) queryQueue(ctx context.Context, sid string, start map[string]types.AttributeValue, limit int32) ([]map[string]types.AttributeValue, map[string]types.AttributeValue, error) {
	out, err := s.db.Query(ctx, &dynamodb.QueryInput{
		TableName: s.table(), ConsistentRead: aws.Bool(true),
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(sessionPK(sid))},
		ExclusiveStartKey:         start,
		Limit:                     aws.Int32(limit),
		ReturnConsumedCapacity:    s.returnCapacity(),
	})
	if err != nil {
		return nil, nil, unavailable(err)
	}
	s.trackOne("Query", out.ConsumedCapacity)
	if len(out.LastEvaluatedKey) == 0 {
		return out.Items, nil, nil
	}
	return out.Items, out.LastEvaluatedKey, nil
}

// joinParts joins a split payload from its head and tails (items, the head first); it reports
// false if any part is missing. The entry's Ref names every part, the head first, so that
// taking it deletes the head before the tails.
func joinParts(items []map[string]types.AttributeValue, parts int) (session.Entry, bool) {
	if len(items) < parts {
		return session.Entry{}, false
	}
	head := skOf(items[0])
	refs := []string{head + refSep + "1"}
	var payload []byte
	for k, it := range items[:parts] {
		pl := payloadsOf(it)
		if len(pl) != 1 || (k > 0 && (it[attrTail] == nil || skOf(it) != nextPart(head, k))) {
			return session.Entry{}, false
		}
		if k > 0 {
			refs = append(refs, skOf(it))
		}
		payload = append(payload, pl[0]...)
	}
	return session.Entry{ID: session.ID{Time: queueTime(head)}, Payload: payload, Ref: strings.Join(refs, tailSep)}, true
}

// nextPart is the sort key k parts after a queued item's.
func nextPart(sk string, k int) string {
	i := strings.LastIndexByte(sk, '#')
	part, _ := strconv.Atoi(sk[i+1:])
	return fmt.Sprintf("%s%03d", sk[:i+1], part+k)
}

// refSep joins a queued item's sort key and its payload count in an entry's Ref; tailSep joins
// the sort keys of a split payload's tails after it.
const (
	refSep  = "|"
	tailSep = "+"
)

// Ack takes what was written out of the queue, records the ping and releases the lease: each a
// plain conditional write (1 write unit), in that order. A queued item taken whole is deleted,
// one taken in part loses its first payloads, each on condition that it is as read; the ping is
// an update of the session item on condition that its pong is still the one the ping was for;
// the release is the lease item's delete on condition that the token holds it. A failed
// condition means there is nothing to do (the session closed or ponged meanwhile, the lease was
// no longer the token's). Not one transaction (2 write units an item): a failure part-way leaves
// the rest undone, as a failure of a transaction would leave all of it, and a lease not released
// expires on its own.
func (s *Store) Ack(ctx context.Context, sid string, a session.Ack) error {
	writes, err := s.takes(sid, a.Entries)
	if err != nil {
		return err
	}
	if !a.PingFor.IsZero() {
		writes = append(writes, s.pingWrite(sid, a.PingFor))
	}
	if a.Release != "" {
		writes = append(writes, s.releaseWrite(sid, a.Release, a.Token))
	}
	for _, w := range writes {
		if err := s.writeOne(ctx, w); err != nil && !conflict(err) {
			return err
		}
	}
	return nil
}

// takes returns the writes that take entries, a prefix of each item they come from, out of the
// queue.
func (s *Store) takes(sid string, entries []session.Entry) ([]types.TransactWriteItem, error) {
	var writes []types.TransactWriteItem
	taken := map[string]int{}
	var order []string
	for _, en := range entries {
		if en.Ref == "" {
			continue // not from this store's queue: nothing to take
		}
		if _, seen := taken[en.Ref]; !seen {
			order = append(order, en.Ref)
		}
		taken[en.Ref] = max(taken[en.Ref], int(en.ID.Seq)+1)
	}
	for _, full := range order {
		ref, tails, _ := strings.Cut(full, tailSep)
		sk, count, ok := strings.Cut(ref, refSep)
		n, err := strconv.Atoi(count)
		if !ok || err != nil || !strings.HasPrefix(sk, queuePrefix) {
			return nil, fmt.Errorf("dynamo store: an entry that is not this store's (ref %q)", ref)
		}
		cond := map[string]types.AttributeValue{":n": num(int64(n))}
		if k := taken[full]; k >= n {
			writes = append(writes, types.TransactWriteItem{Delete: &types.Delete{
				TableName: s.table(), Key: key(sessionPK(sid), sk),
				ConditionExpression: aws.String("n = :n"), ExpressionAttributeValues: cond,
			}})
		} else {
			remove := make([]string, k)
			for i := range remove {
				remove[i] = "p[" + strconv.Itoa(i) + "]"
			}
			cond[":rest"] = num(int64(n - k))
			writes = append(writes, types.TransactWriteItem{Update: &types.Update{
				TableName: s.table(), Key: key(sessionPK(sid), sk),
				UpdateExpression:    aws.String("SET n = :rest REMOVE " + strings.Join(remove, ", ")),
				ConditionExpression: aws.String("n = :n"), ExpressionAttributeValues: cond,
			}})
		}
		for tail := range strings.SplitSeq(tails, tailSep) {
			if tail != "" {
				writes = append(writes, types.TransactWriteItem{Delete: &types.Delete{TableName: s.table(), Key: key(sessionPK(sid), tail)}})
			}
		}
	}
	return writes, nil
}

// pingWrite records the ping as written, and takes the session off the ping index, while its
// pong is still pingFor; it bumps the version, so that a commit that read the item before
// reads it again.
func (s *Store) pingWrite(sid string, pingFor time.Time) types.TransactWriteItem {
	return types.TransactWriteItem{Update: &types.Update{
		TableName: s.table(), Key: key(sessionPK(sid), sessionSK),
		UpdateExpression:         aws.String("SET ps = :t, v = v + :one, #due = " + attrDeadline + " REMOVE " + attrPingDue),
		ConditionExpression:      aws.String("pong = :p AND attribute_not_exists(cl)"),
		ExpressionAttributeNames: map[string]string{"#due": attrDue},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":t": boolean(true), ":one": num(1), ":p": num(pingFor.UnixMilli()),
		},
	}}
}

// Lease items: "tok" the holder, "x" the expiry (unix ms), "expires" (TTL).
var leaseNames = []session.Lease{session.LeaseNoop, session.LeasePoll, session.LeaseWrite}

func leaseSK(l session.Lease) string { return "l#" + string(l) }

// releaseWrite ends the lease's hold (x = 0) on condition that token holds it; the item stays,
// naming its last holder, until its TTL.
func (s *Store) releaseWrite(sid string, l session.Lease, token string) types.TransactWriteItem {
	return types.TransactWriteItem{Update: &types.Update{
		TableName: s.table(), Key: key(sessionPK(sid), leaseSK(l)),
		UpdateExpression:          aws.String("SET x = :zero"),
		ConditionExpression:       aws.String("tok = :t"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":t": str(token), ":zero": num(0)},
	}}
}

// Acquire takes or renews the lease with one conditional PutItem (1 write unit), which returns
// the item it replaced, and with it the last holder.
func (s *Store) Acquire(ctx context.Context, sid string, lease session.Lease, token string, ttl time.Duration) (string, error) {
	prev, err := s.putLease(ctx, sid, lease, token, ttl, "attribute_not_exists(tok) OR tok = :t OR x <= :now",
		map[string]types.AttributeValue{":t": str(token), ":now": num(s.nowMS())})
	if conflict(err) {
		return "", session.ErrBusy
	}
	if err != nil {
		return "", unavailable(err)
	}
	return prev, nil
}

// putLease writes the lease's item for token until ttl from now, on condition cond, and returns
// the token of the item it replaced.
func (s *Store) putLease(ctx context.Context, sid string, lease session.Lease, token string, ttl time.Duration, cond string, values map[string]types.AttributeValue) (string, error) {
	x := s.nowMS() + ttl.Milliseconds()
	in := &dynamodb.PutItemInput{
		TableName: s.table(),
		Item: map[string]types.AttributeValue{
			attrPK: str(sessionPK(sid)), attrSK: str(leaseSK(lease)),
			"tok": str(token), "x": num(x), attrExpires: num(x/1000 + 60),
		},
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeValues: values,
		ReturnValues:              types.ReturnValueAllOld,
		ReturnConsumedCapacity:    s.returnCapacity(),
	}
	out, err := s.db.PutItem(ctx, in)
	if err != nil {
		return "", err
	}
	s.trackOne("PutItem", out.ConsumedCapacity)
	return strOf(out.Attributes, "tok"), nil
}

// AcquireRead reads first, then takes the lease on condition that its item is still as the
// read saw it, released or never taken: nobody took it, so nobody acknowledged, in between. A
// GET that finds packets costs the same Query and PutItem as Acquire and Read; one for a session
// that does not exist only the Query, and takes no lease. A read that saw the lease held or
// expired unreleased (its holder may still acknowledge), or a lease taken since, leaves the
// reading to the caller after a plain Acquire.
func (s *Store) AcquireRead(ctx context.Context, sid string, lease session.Lease, token string, ttl time.Duration, max int) (string, bool, *session.Queued, error, error) {
	q, item, qerr := s.read(ctx, sid, max, lease)
	var closed *session.ClosedError
	if errors.Is(qerr, session.ErrNotFound) && !errors.As(qerr, &closed) {
		return "", true, nil, qerr, nil
	}
	if qerr == nil && (item == nil || numOf(item, "x") == 0) {
		last := strOf(item, "tok")
		cond, values := "attribute_not_exists(tok)", map[string]types.AttributeValue(nil)
		if item != nil {
			cond, values = "tok = :last AND x = :zero", map[string]types.AttributeValue{":last": str(last), ":zero": num(0)}
		}
		switch _, err := s.putLease(ctx, sid, lease, token, ttl, cond, values); {
		case err == nil:
			return last, true, q, nil, nil
		case !conflict(err):
			return "", false, nil, nil, unavailable(err)
		}
	}
	prev, err := s.Acquire(ctx, sid, lease, token, ttl)
	return prev, false, nil, nil, err
}

// Release ends the lease's hold on condition that token holds it (1 write unit).
func (s *Store) Release(ctx context.Context, sid string, lease session.Lease, token string) error {
	if err := s.writeOne(ctx, s.releaseWrite(sid, lease, token)); err != nil && !conflict(err) {
		return err
	}
	return nil
}

// queuePrefix starts the sort key of every queued item.
const queuePrefix = "q#"

// queueTime is the order time in a queued item's sort key (see queueSK).
func queueTime(sk string) int64 {
	at, _ := strconv.ParseInt(strings.SplitN(strings.TrimPrefix(sk, queuePrefix), "#", 2)[0], 10, 64)
	return at
}

func skOf(m map[string]types.AttributeValue) string { return strOf(m, attrSK) }

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
	return slices.Clip(out)
}

func (s *Store) sessionPut(sid string, old, next *sessionItem) *types.Put {
	return &types.Put{
		TableName: s.table(), Item: next.encode(sid),
		ConditionExpression:       aws.String("v = :v"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":v": num(old.v)},
	}
}

// writeOne performs one conditional write outside a transaction (half the cost of one inside).
func (s *Store) writeOne(ctx context.Context, w types.TransactWriteItem) error {
	var err error
	var cc *types.ConsumedCapacity
	op := ""
	switch {
	case w.Put != nil:
		op = "PutItem"
		var out *dynamodb.PutItemOutput
		out, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
			TableName: w.Put.TableName, Item: w.Put.Item, ConditionExpression: w.Put.ConditionExpression,
			ExpressionAttributeValues: w.Put.ExpressionAttributeValues, ReturnConsumedCapacity: s.returnCapacity(),
		})
		if out != nil {
			cc = out.ConsumedCapacity
		}
	case w.Delete != nil:
		op = "DeleteItem"
		var out *dynamodb.DeleteItemOutput
		out, err = s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
			TableName: w.Delete.TableName, Key: w.Delete.Key, ConditionExpression: w.Delete.ConditionExpression,
			ExpressionAttributeValues: w.Delete.ExpressionAttributeValues, ReturnConsumedCapacity: s.returnCapacity(),
		})
		if out != nil {
			cc = out.ConsumedCapacity
		}
	case w.Update != nil:
		op = "UpdateItem"
		var out *dynamodb.UpdateItemOutput
		out, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: w.Update.TableName, Key: w.Update.Key, UpdateExpression: w.Update.UpdateExpression,
			ConditionExpression: w.Update.ConditionExpression, ExpressionAttributeNames: w.Update.ExpressionAttributeNames,
			ExpressionAttributeValues: w.Update.ExpressionAttributeValues, ReturnConsumedCapacity: s.returnCapacity(),
		})
		if out != nil {
			cc = out.ConsumedCapacity
		}
	}
	if err == nil {
		s.trackOne(op, cc)
	}
	if err != nil && !conflict(err) {
		return unavailable(err)
	}
	return err
}
