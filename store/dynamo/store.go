package dynamo

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/serverless-socketio/server/session"
)

// API is the part of *dynamodb.Client the store uses.
type API interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

// MaxPacket is the largest payload the store accepts (1 MiB, above Engine.IO's default
// maxPayload of 1,000,000 bytes): a payload larger than an item holds is split over several.
// Servers on this store announce at most this as Engine.IO's maxPayload.
const MaxPacket = 1 << 20

// maxItemPayload bounds the payloads packed into one queued item (an item is at most 400 KB).
const maxItemPayload = 350 * 1024

// Options configure a [Store]. Every zero value has a documented default.
type Options struct {
	// Table is the table's name (required); [CreateTable] makes one with the right schema.
	Table string
	// SessionTTL is how long a session's items live after its last write; zero means 2 minutes.
	// It must exceed pingInterval+pingTimeout of every session. TTL deletes late: the store also
	// ignores expired items when it reads them.
	SessionTTL time.Duration
	// ClosedTTL is how long a closed session stays known as closed; zero means 1 minute.
	ClosedTTL time.Duration
	// MemberTTL is the lifetime of a room membership item; a session rewrites its memberships
	// when less than MemberTTL-24h is left, so that a long session never loses one. Zero means 7
	// days.
	MemberTTL time.Duration
	// Shards is the number of partitions of the sweeper index ("d#0" …); zero means 4. More
	// spread the index's writes; each sweep reads every shard.
	Shards int
	// Parallel bounds the concurrent requests of one broadcast's fan-out; zero means 16.
	Parallel int
	// Now is the clock; nil means time.Now. Tests set it to drive heartbeats.
	Now func() time.Time
	// Capacity, when set, receives the consumed capacity of every request (the store then asks
	// for it with ReturnConsumedCapacity TOTAL): for cost measurements.
	Capacity func(op string, read, write float64)
}

// Store is a [session.Store] on DynamoDB. It is no [session.Subscriber]: a held long-poll reads
// its queue on a bounded backoff. It is safe for concurrent use.
type Store struct {
	db  API
	opt Options
}

var (
	_ session.Store          = (*Store)(nil)
	_ session.StateCommitter = (*Store)(nil)
)

// New returns a store on table opt.Table through db.
func New(db API, opt Options) (*Store, error) {
	if opt.Table == "" {
		return nil, errors.New("dynamo store: no table name")
	}
	if opt.SessionTTL <= 0 {
		opt.SessionTTL = 2 * time.Minute
	}
	if opt.ClosedTTL <= 0 {
		opt.ClosedTTL = time.Minute
	}
	if opt.MemberTTL <= 0 {
		opt.MemberTTL = 7 * 24 * time.Hour
	}
	if opt.Shards <= 0 {
		opt.Shards = 4
	}
	if opt.Parallel <= 0 {
		opt.Parallel = 16
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	return &Store{db: db, opt: opt}, nil
}

func unavailable(err error) error {
	return fmt.Errorf("dynamo store: %w: %w", session.ErrUnavailable, err)
}

func (s *Store) table() *string { return aws.String(s.opt.Table) }

func (s *Store) returnCapacity() types.ReturnConsumedCapacity {
	if s.opt.Capacity != nil {
		return types.ReturnConsumedCapacityTotal
	}
	return types.ReturnConsumedCapacityNone
}

func (s *Store) track(op string, cc ...types.ConsumedCapacity) {
	if s.opt.Capacity == nil {
		return
	}
	var r, w float64
	for _, c := range cc {
		if c.ReadCapacityUnits != nil {
			r += *c.ReadCapacityUnits
		}
		if c.WriteCapacityUnits != nil {
			w += *c.WriteCapacityUnits
		}
		if c.ReadCapacityUnits == nil && c.WriteCapacityUnits == nil && c.CapacityUnits != nil {
			// Some answers give only the total; reads report it as read units.
			if op == "Query" || op == "GetItem" {
				r += *c.CapacityUnits
			} else {
				w += *c.CapacityUnits
			}
		}
	}
	s.opt.Capacity(op, r, w)
}

func (s *Store) trackOne(op string, c *types.ConsumedCapacity) {
	if c != nil {
		s.track(op, *c)
	} else {
		s.track(op)
	}
}

func (s *Store) nowMS() int64 { return s.opt.Now().UnixMilli() }

// ttl returns the TTL attribute value for an item that lives d from now.
func (s *Store) ttl(now int64, d time.Duration) int64 { return (now + d.Milliseconds()) / 1000 }

// live reports whether an item with TTL expires is still alive at now (TTL deletes late).
func live(expires, now int64) bool { return expires == 0 || expires*1000 > now }

// conflict reports a lost optimistic race: a condition on the version failed, or another
// transaction touched the same items. The caller reads again and retries.
func conflict(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	var tc *types.TransactionConflictException
	var cancel *types.TransactionCanceledException
	if errors.As(err, &ccf) || errors.As(err, &tc) {
		return true
	}
	if errors.As(err, &cancel) {
		for _, r := range cancel.CancellationReasons {
			if c := aws.ToString(r.Code); c == "ConditionalCheckFailed" || c == "TransactionConflict" {
				return true
			}
		}
	}
	return false
}

// maxAttempts bounds the optimistic retries of one operation.
const maxAttempts = 12

// again decides what follows a failed attempt of an optimistic operation: run it again after a
// backoff (a lost race, attempts left), or return the error (wrapped as ErrUnavailable once the
// attempts are spent).
func again(ctx context.Context, attempt int, err error) (bool, error) {
	if !conflict(err) {
		return false, err
	}
	if attempt >= maxAttempts {
		return false, unavailable(err)
	}
	if err := backoff(ctx, attempt); err != nil {
		return false, unavailable(err)
	}
	return true, nil
}

func backoff(ctx context.Context, attempt int) error {
	d := time.Duration(1<<min(attempt, 6)) * time.Millisecond
	d += time.Duration(rand.Int64N(int64(d)))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// getSession reads the session item with a strongly consistent read; nil when there is none
// (or only one whose TTL has passed).
func (s *Store) getSession(ctx context.Context, sid string) (*sessionItem, error) {
	item, err := s.getItem(ctx, sessionPK(sid))
	if err != nil || len(item) == 0 {
		return nil, err
	}
	it, err := decodeSession(item, s.opt.Shards)
	if err != nil {
		return nil, fmt.Errorf("dynamo store: session: %w", err)
	}
	return it, nil
}

// getItem reads the item (pk, "!") with a strongly consistent read; an empty map when there is
// none.
func (s *Store) getItem(ctx context.Context, pk string) (map[string]types.AttributeValue, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: s.table(), Key: key(pk, sessionSK), ConsistentRead: aws.Bool(true),
		ReturnConsumedCapacity: s.returnCapacity(),
	})
	if err != nil {
		return nil, unavailable(err)
	}
	s.trackOne("GetItem", out.ConsumedCapacity)
	return out.Item, nil
}

// Create stores a new session, and for a WebSocket session its connection index, in one write.
func (s *Store) Create(ctx context.Context, ss *session.Session, sc session.Schedule) error {
	now := s.nowMS()
	it := &sessionItem{
		v: 1, pi: ss.PingInterval.Milliseconds(), pt: ss.PingTimeout.Milliseconds(),
		pong: ss.LastPong.UnixMilli(), ps: ss.PingSent, tr: string(ss.Transport), cn: ss.Conn,
		expires: s.ttl(now, s.opt.SessionTTL), shards: s.opt.Shards, sockets: map[string]*socketItem{},
		mx: now + s.opt.MemberTTL.Milliseconds(),
	}
	it.schedule(sc)
	if !ss.ConnectDeadline.IsZero() {
		it.cd = ss.ConnectDeadline.UnixMilli()
	}
	put := &types.Put{
		TableName: s.table(), Item: it.encode(ss.ID),
		ConditionExpression: aws.String("attribute_not_exists(pk)"),
	}
	var err error
	if ss.Conn == "" {
		err = s.writeOne(ctx, types.TransactWriteItem{Put: put})
	} else {
		err = s.transact(ctx, []types.TransactWriteItem{{Put: put}, {Put: s.connPut(ss.Conn, ss.ID, it.mx)}})
	}
	if conflict(err) {
		return errors.New("dynamo store: a new session's id exists already")
	}
	return err
}

// connPut indexes a WebSocket connection to its session; it lives as long as the session's
// memberships (expiresMS) and is refreshed with them.
func (s *Store) connPut(conn, sid string, expiresMS int64) *types.Put {
	item := key(connPK(conn), sessionSK)
	item["sid"] = str(sid)
	item[attrExpires] = num(expiresMS / 1000)
	return &types.Put{TableName: s.table(), Item: item}
}

func (s *Store) transact(ctx context.Context, items []types.TransactWriteItem) error {
	out, err := s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{
		TransactItems: items, ReturnConsumedCapacity: s.returnCapacity(),
	})
	if err != nil {
		if conflict(err) {
			return err
		}
		return unavailable(err)
	}
	s.track("TransactWriteItems", out.ConsumedCapacity...)
	return nil
}

// Load reads the session item (one strongly consistent GetItem).
func (s *Store) Load(ctx context.Context, sid string) (*session.State, error) {
	it, err := s.getSession(ctx, sid)
	if err != nil {
		return nil, err
	}
	return s.stateOf(sid, it)
}

func (s *Store) stateOf(sid string, it *sessionItem) (*session.State, error) {
	if it == nil || !live(it.expires, s.nowMS()) {
		return nil, session.ErrNotFound
	}
	if it.cl != "" {
		return nil, &session.ClosedError{Reason: session.Reason(it.cl), OwesNoop: it.ow}
	}
	st := it.state(sid)
	st.Revision = it
	return st, nil
}

// LoadConn resolves the connection index, then reads the session (two GetItems).
func (s *Store) LoadConn(ctx context.Context, conn string) (*session.State, error) {
	item, err := s.getItem(ctx, connPK(conn))
	if err != nil {
		return nil, err
	}
	sidAV, ok := item["sid"].(*types.AttributeValueMemberS)
	if !ok || !live(itemExpires(item), s.nowMS()) {
		return nil, session.ErrNotFound
	}
	st, err := s.Load(ctx, sidAV.Value)
	if err != nil {
		return nil, err
	}
	if st.Conn != conn && st.Probe != conn {
		// The index outlived its use (a failed probe, a replaced connection).
		return nil, session.ErrNotFound
	}
	return st, nil
}

func itemExpires(m map[string]types.AttributeValue) int64 { return numOf(m, attrExpires) }

// Due queries the sweeper index, one Query per shard, in parallel.
func (s *Store) Due(ctx context.Context, now time.Time, limit int) (*session.Due, error) {
	nowMS := now.UnixMilli()
	var (
		mu       sync.Mutex
		due      session.Due
		firstErr error
		wg       sync.WaitGroup
	)
	for shard := range s.opt.Shards {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := s.db.Query(ctx, &dynamodb.QueryInput{
				TableName: s.table(), IndexName: aws.String(IndexName),
				KeyConditionExpression:    aws.String("dp = :dp AND #due <= :now"),
				ExpressionAttributeNames:  map[string]string{"#due": attrDue},
				ExpressionAttributeValues: map[string]types.AttributeValue{":dp": str("d#" + strconv.Itoa(shard)), ":now": num(nowMS)},
				Limit:                     aws.Int32(int32(2 * limit)),
				ReturnConsumedCapacity:    s.returnCapacity(),
			})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = unavailable(err)
				}
				return
			}
			s.trackOne("Query", out.ConsumedCapacity)
			for _, m := range out.Items {
				pk, _ := m[attrPK].(*types.AttributeValueMemberS)
				if pk == nil || len(pk.Value) < 3 {
					continue
				}
				sid := pk.Value[2:]
				dl, pd, hint := numOf(m, attrDeadline), numOf(m, attrPingDue), numOf(m, attrDue)
				// A hint before both the deadline and the ping is a broadcast left to fan out,
				// which the sweeper's check of the session (a commit) finishes.
				left := hint < dl && (pd == 0 || hint < pd)
				if (dl < nowMS || left) && len(due.Expired) < limit {
					due.Expired = append(due.Expired, sid)
				}
				if pd != 0 && pd <= nowMS && len(due.Ping) < limit {
					due.Ping = append(due.Ping, sid)
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	return &due, nil
}
