package dynamo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/serverless-socketio/server/session"
)

// The outbox. A commit that broadcasts writes its broadcasts (casts) into the session's outbox
// inside its transaction, and marks the session item with the commit's order time ("ob"); then
// the fan-out drains the outbox and clears the mark. Once the transaction landed the commit has
// happened: a fan-out that fails, or whose process dies, is finished by the session's next
// commit, or by the sweeper (the mark moves the session's "due" hint to drainLease after it),
// whichever comes first. The drainer holds a lease in the outbox's first item ("tok", "x"), and
// a fan-out larger than one round records there the last recipient it finished ("pg"), in sid
// order, so a drain taken over resumes after it: a recipient gets a broadcast once, except the
// members of a round that was in flight when its process died (at most 25 × Parallel), who may
// get it twice.

// drainLease is how long a drainer holds an outbox before another may take it over.
const drainLease = 10 * time.Second

// errDrainBusy: another drainer holds the outbox.
var errDrainBusy = errors.New("dynamo store: another request is finishing this session's broadcast")

// outbox is one commit's casts, as a drainer holds them.
type outbox struct {
	at       int64  // the commit's order time
	token    string // the drainer's
	progress string // recipients up to this sid (in sid order) have the casts
	casts    []cast
	keys     []string // the sort keys of its items
}

func outboxPK(sid string) string { return "o#" + sid }

// outboxSK orders an outbox's items: by the commit, then item.
func outboxSK(at int64, item int) string { return fmt.Sprintf("%013d#%03d", at, item) }

// outboxItems encodes the casts as items of the session's outbox ("c": a list of casts, each
// a map of n, r, x, p: namespace, rooms, except, payload), as many casts an item as it holds; a
// cast larger than an item holds is split into a head (its cast with the first piece of the
// payload, and "sp", the count of parts) and tails ("p", "st"), as in queueItems. The first item
// carries the drain lease.
func (s *Store) outboxItems(sid string, o *outbox, now int64) []map[string]types.AttributeValue {
	var items []map[string]types.AttributeValue
	var list []types.AttributeValue
	size := 0
	o.keys = nil
	add := func(it map[string]types.AttributeValue) {
		sk := outboxSK(o.at, len(items))
		for k, v := range key(outboxPK(sid), sk) {
			it[k] = v
		}
		it[attrExpires] = num(s.ttl(now, s.opt.SessionTTL))
		items, o.keys = append(items, it), append(o.keys, sk)
	}
	flush := func() {
		if len(list) > 0 {
			add(map[string]types.AttributeValue{"c": &types.AttributeValueMemberL{Value: list}})
			list, size = nil, 0
		}
	}
	for _, c := range o.casts {
		n := castSize(c)
		if n > maxItemPayload {
			flush()
			pieces := split(c.payload, maxItemPayload)
			add(map[string]types.AttributeValue{"c": &types.AttributeValueMemberL{Value: []types.AttributeValue{castValue(c, pieces[0])}},
				attrParts: num(int64(len(pieces)))})
			for _, pc := range pieces[1:] {
				add(map[string]types.AttributeValue{"p": bin(pc), attrTail: boolean(true)})
			}
			continue
		}
		if size+n > maxItemPayload {
			flush()
		}
		list, size = append(list, castValue(c, c.payload)), size+n
	}
	flush()
	items[0]["tok"], items[0]["x"] = str(o.token), num(now+drainLease.Milliseconds())
	return items
}

// castSize bounds the bytes a cast takes in an item.
func castSize(c cast) int {
	n := len(c.payload) + len(c.nsp) + 16
	for _, r := range slices.Concat(c.rooms, c.except) {
		n += len(r) + 4
	}
	return n
}

func castValue(c cast, payload []byte) types.AttributeValue {
	m := map[string]types.AttributeValue{"n": str(c.nsp), "r": strList(c.rooms), "p": bin(payload)}
	if len(c.except) > 0 {
		m["x"] = strList(c.except)
	}
	return &types.AttributeValueMemberM{Value: m}
}

// decodeOutbox reads an outbox back from its items, in key order.
func decodeOutbox(at int64, items []map[string]types.AttributeValue) (*outbox, error) {
	o := &outbox{at: at}
	for i := 0; i < len(items); {
		head := items[i]
		l, _ := head["c"].(*types.AttributeValueMemberL)
		if l == nil {
			return nil, fmt.Errorf("dynamo store: outbox %d: item %q holds no casts", at, skOf(head))
		}
		parts := max(int(numOf(head, attrParts)), 1)
		if i+parts > len(items) || (parts > 1 && len(l.Value) != 1) {
			return nil, fmt.Errorf("dynamo store: outbox %d: item %q has %d parts of %d", at, skOf(head), parts, len(items)-i)
		}
		for _, v := range l.Value {
			m, _ := v.(*types.AttributeValueMemberM)
			if m == nil {
				return nil, fmt.Errorf("dynamo store: outbox %d: item %q holds a cast that is no map", at, skOf(head))
			}
			b, _ := m.Value["p"].(*types.AttributeValueMemberB)
			c := cast{nsp: strOf(m.Value, "n"), rooms: strsOf(m.Value, "r"), except: strsOf(m.Value, "x")}
			if b != nil {
				c.payload = slices.Clone(b.Value)
			}
			o.casts = append(o.casts, c)
		}
		for _, it := range items[i+1 : i+parts] {
			b, _ := it["p"].(*types.AttributeValueMemberB)
			if b == nil || it[attrTail] == nil {
				return nil, fmt.Errorf("dynamo store: outbox %d: item %q is no part of %q", at, skOf(it), skOf(head))
			}
			last := &o.casts[len(o.casts)-1]
			last.payload = append(last.payload, b.Value...)
		}
		for _, it := range items[i : i+parts] {
			o.keys = append(o.keys, skOf(it))
		}
		i += parts
	}
	return o, nil
}

// drain delivers the outbox's casts to the members of their rooms (but the sender), in rounds
// of 25 × Parallel recipients in sid order after o.progress, recording the progress after each
// round but the last; it returns the WebSocket recipients to push to.
func (s *Store) drain(ctx context.Context, sid string, o *outbox) ([]string, error) {
	deliveries, ws, err := s.deliveries(ctx, sid, o.casts)
	if err != nil {
		return nil, err
	}
	recipients := make([]string, 0, len(deliveries))
	for m := range deliveries {
		if m > o.progress {
			recipients = append(recipients, m)
		}
	}
	slices.Sort(recipients)
	round := 25 * s.opt.Parallel
	now := s.nowMS()
	var flush []string
	for start := 0; start < len(recipients); start += round {
		batch := recipients[start:min(start+round, len(recipients))]
		var tails, heads []types.WriteRequest
		for _, m := range batch {
			q := s.queueItems(m, sid, o.at, deliveries[m], now)
			tails, heads = append(tails, puts(q.tails)...), append(heads, puts(q.heads)...)
			if ws[m] {
				flush = append(flush, m)
			}
		}
		if err := s.writeAll(ctx, tails); err != nil {
			return nil, err
		}
		if err := s.writeAll(ctx, heads); err != nil {
			return nil, err
		}
		if start+round < len(recipients) {
			if err := s.recordProgress(ctx, sid, o, batch[len(batch)-1]); err != nil {
				return nil, err
			}
		}
	}
	return flush, nil
}

// deliveries reads the members of every room the casts name (as target or exception) and
// returns each recipient's payloads, in cast order, and which recipients are on WebSocket.
func (s *Store) deliveries(ctx context.Context, sid string, casts []cast) (map[string][][]byte, map[string]bool, error) {
	members := make(map[roomRef]map[string]bool)
	for _, c := range casts {
		for _, r := range slices.Concat(c.rooms, c.except) {
			members[roomRef{c.nsp, r}] = nil
		}
	}
	if err := s.readMembers(ctx, members); err != nil {
		return nil, nil, err
	}
	deliveries := make(map[string][][]byte)
	ws := make(map[string]bool)
	for _, c := range casts {
		excluded := make(map[string]bool)
		for _, r := range c.except {
			for m := range members[roomRef{c.nsp, r}] {
				excluded[m] = true
			}
		}
		sent := make(map[string]bool)
		for _, r := range c.rooms {
			for m, isWS := range members[roomRef{c.nsp, r}] {
				if m == sid || excluded[m] || sent[m] {
					continue
				}
				sent[m] = true
				deliveries[m] = append(deliveries[m], c.payload)
				ws[m] = isWS
			}
		}
	}
	return deliveries, ws, nil
}

// headKey is the key of an outbox's first item, which holds its lease and progress.
func headKey(sid string, o *outbox) map[string]types.AttributeValue {
	return key(outboxPK(sid), o.keys[0])
}

// recordProgress records that the recipients up to last have the casts, and renews the lease,
// while the drainer still holds it.
func (s *Store) recordProgress(ctx context.Context, sid string, o *outbox, last string) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: s.table(), Key: headKey(sid, o),
		UpdateExpression:    aws.String("SET pg = :pg, x = :x"),
		ConditionExpression: aws.String("tok = :tok"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pg": str(last), ":x": num(s.nowMS() + drainLease.Milliseconds()), ":tok": str(o.token),
		},
		ReturnConsumedCapacity: s.returnCapacity(),
	})
	if err != nil {
		return unavailable(err)
	}
	o.progress = last
	return nil
}

// releaseDrain lets the outbox go at once after a failed drain, so that the next commit or the
// sweeper need not wait for the lease to expire. A failure leaves the lease to expire.
func (s *Store) releaseDrain(ctx context.Context, sid string, o *outbox) {
	_, _ = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: s.table(), Key: headKey(sid, o),
		UpdateExpression:          aws.String("SET x = :zero"),
		ConditionExpression:       aws.String("tok = :tok"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":zero": num(0), ":tok": str(o.token)},
	})
}

// clearOutbox records that the outbox is drained: the session item loses its mark (read again
// and retried if it changed meanwhile), then the outbox's items are deleted (a failure leaves
// them to their TTL: nothing reads an outbox the session no longer marks).
func (s *Store) clearOutbox(ctx context.Context, sid string, o *outbox, it *sessionItem) error {
	for attempt := 1; ; attempt++ {
		if it == nil || it.ob != o.at {
			break // cleared already, or the session closed
		}
		next := it.clone()
		next.ob, next.v = 0, it.v+1
		err := s.writeOne(ctx, types.TransactWriteItem{Put: s.sessionPut(sid, it, next)})
		if err == nil {
			break
		}
		if retry, err := again(ctx, attempt, err); !retry {
			return err
		}
		if it, err = s.getSession(ctx, sid); err != nil {
			return err
		}
	}
	reqs := make([]types.WriteRequest, len(o.keys))
	for i, sk := range o.keys {
		reqs[i] = types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: key(outboxPK(sid), sk)}}
	}
	_ = s.writeAll(ctx, reqs)
	return nil
}

// finishOutbox finishes the drain of the outbox the session item marks, taking it over from a
// drainer that failed or whose lease expired: errDrainBusy while another drainer holds it. It
// returns the WebSocket recipients to push to.
func (s *Store) finishOutbox(ctx context.Context, sid string, it *sessionItem) ([]string, error) {
	o, err := s.takeOutbox(ctx, sid, it.ob)
	if err != nil {
		return nil, err
	}
	var flush []string
	if o != nil {
		if flush, err = s.drain(ctx, sid, o); err != nil {
			s.releaseDrain(ctx, sid, o)
			return nil, err
		}
	} else {
		o = &outbox{at: it.ob} // drained, but the mark was not cleared
	}
	return flush, s.clearOutbox(ctx, sid, o, it)
}

// takeOutbox reads the outbox of the commit at and takes its lease; nil if it has no items.
func (s *Store) takeOutbox(ctx context.Context, sid string, at int64) (*outbox, error) {
	var items []map[string]types.AttributeValue
	var start map[string]types.AttributeValue
	for {
		out, err := s.db.Query(ctx, &dynamodb.QueryInput{
			TableName: s.table(), ConsistentRead: aws.Bool(true),
			KeyConditionExpression: aws.String("pk = :pk AND begins_with(sk, :at)"),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":pk": str(outboxPK(sid)), ":at": str(fmt.Sprintf("%013d#", at)),
			},
			ExclusiveStartKey: start, ReturnConsumedCapacity: s.returnCapacity(),
		})
		if err != nil {
			return nil, unavailable(err)
		}
		s.trackOne("Query", out.ConsumedCapacity)
		items = append(items, out.Items...)
		if start = out.LastEvaluatedKey; len(start) == 0 {
			break
		}
	}
	if len(items) == 0 {
		return nil, nil
	}
	o, err := decodeOutbox(at, items)
	if err != nil {
		return nil, err
	}
	head := items[0]
	x, now := numOf(head, "x"), s.nowMS()
	if x > now {
		return nil, errDrainBusy
	}
	o.token, o.progress = newToken(), strOf(head, "pg")
	_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: s.table(), Key: headKey(sid, o),
		UpdateExpression:    aws.String("SET tok = :tok, x = :x"),
		ConditionExpression: aws.String("x = :was"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":tok": str(o.token), ":x": num(now + drainLease.Milliseconds()), ":was": num(x),
		},
		ReturnConsumedCapacity: s.returnCapacity(),
	})
	if conflict(err) {
		return nil, errDrainBusy // another took it first
	}
	if err != nil {
		return nil, unavailable(err)
	}
	return o, nil
}

// newToken returns a drainer's token.
func newToken() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// casting reports whether a batch broadcasts or closes: such a commit waits for a pending outbox
// to be drained (a close would drop the session's mark, and a broadcast must follow the last).
func casting(b *session.Batch) bool { return b.Has(session.OpBroadcast) || b.Has(session.OpClose) }
