package redis

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/serverless-socketio/server/session"
)

var (
	// Helpers a script prepends: each carries only those it calls, since a script defines its
	// helpers anew on every call (1.3 µs of Redis CPU per acquire with all of them).
	//go:embed lua/ids.lua
	idsLua string
	//go:embed lua/keys.lua
	keysLua string
	//go:embed lua/lease.lua
	leaseLua string
	//go:embed lua/commit.lua
	commitLua string
	//go:embed lua/read.lua
	readLua string
	//go:embed lua/ack.lua
	ackLua string
	//go:embed lua/acquire.lua
	acquireLua string
	//go:embed lua/load_conn.lua
	loadConnLua string

	commitScript   = goredis.NewScript(idsLua + keysLua + commitLua)
	readScript     = goredis.NewScript(idsLua + keysLua + readLua)
	ackScript      = goredis.NewScript(idsLua + ackLua)
	acquireScript  = goredis.NewScript(leaseLua + acquireLua)
	loadConnScript = goredis.NewScript(loadConnLua)
)

// Options configure a [Store]. Every zero value has a documented default.
type Options struct {
	// Prefix starts every key and channel name; zero means "sio".
	Prefix string
	// SessionTTL is how long a session's keys live after its last commit; zero means 2 minutes.
	// It must exceed pingInterval+pingTimeout of every session (a live one pongs that often), or
	// live sessions vanish.
	SessionTTL time.Duration
	// Retention is how long a room log keeps an entry; zero means SessionTTL. A live session
	// reads at least once per pingInterval+pingTimeout, so the default loses nothing.
	Retention time.Duration
	// ClosedTTL is how long a closed session stays known as closed (so that a poll still held
	// learns why it ended) before it becomes unknown; zero means 1 minute.
	ClosedTTL time.Duration
	// Pumped says that every WebSocket is written by the process holding it
	// (handler.Config.Pump): commits then keep no sets of WebSocket members and list no
	// sessions to push to.
	Pumped bool
	// Now is the clock; nil means time.Now. Tests set it to drive heartbeats and leases.
	Now func() time.Time
}

// Store is a [session.Store] and [session.Subscriber] on Redis (or any server speaking its
// protocol with Lua scripting and streams, Redis ≥ 6.2). It is safe for concurrent use.
type Store struct {
	rdb   goredis.UniversalClient
	opt   Options
	hub   *hub
	batch *batcher
}

var (
	_ session.Store      = (*Store)(nil)
	_ session.Subscriber = (*Store)(nil)
)

// New returns a store on rdb. The caller keeps ownership of rdb; call [Store.Close] to stop the
// store's pub/sub connection before closing rdb.
func New(rdb goredis.UniversalClient, opt Options) *Store {
	if opt.Prefix == "" {
		opt.Prefix = "sio"
	}
	if opt.SessionTTL <= 0 {
		opt.SessionTTL = 2 * time.Minute
	}
	if opt.Retention <= 0 {
		opt.Retention = opt.SessionTTL
	}
	if opt.ClosedTTL <= 0 {
		opt.ClosedTTL = time.Minute
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	batch := newBatcher(rdb, fetchWorkers)
	return &Store{rdb: rdb, opt: opt, hub: newHub(rdb, opt.Prefix, batch), batch: batch}
}

// Close stops the pub/sub connection used by watches. The store must not be used afterwards.
func (s *Store) Close() error { s.batch.close(); return s.hub.close() }

// fetchWorkers is how many pipelines of store calls may be in flight at once.
const fetchWorkers = 4

func (s *Store) sessionKey(sid string) string { return s.opt.Prefix + ":{" + sid + "}" }
func (s *Store) logKey(sid string) string     { return s.opt.Prefix + ":{" + sid + "}:q" }
func (s *Store) leaseKey(sid string, l session.Lease) string {
	return s.opt.Prefix + ":{" + sid + "}:l:" + string(l)
}
func (s *Store) aliveKey() string           { return s.opt.Prefix + ":alive" }
func (s *Store) pingKey() string            { return s.opt.Prefix + ":ping" }
func (s *Store) connKey(conn string) string { return s.opt.Prefix + ":c:" + conn }
func ms(d time.Duration) int64              { return d.Milliseconds() }

func unavailable(err error) error {
	return fmt.Errorf("redis store: %w: %w", session.ErrUnavailable, err)
}

// Create stores a new session in one round trip, shared with other calls (the hints' ZADDs, for
// a WebSocket session the connection index, HSET and PEXPIRE).
func (s *Store) Create(ctx context.Context, ss *session.Session, sc session.Schedule) error {
	key := s.sessionKey(ss.ID)
	fields := []any{"pi", ms(ss.PingInterval), "pt", ms(ss.PingTimeout), "pong", ss.LastPong.UnixMilli(), "ps", 0, "tr", string(ss.Transport)}
	if !ss.ConnectDeadline.IsZero() {
		fields = append(fields, "cd", ss.ConnectDeadline.UnixMilli())
	}
	if ss.Conn != "" {
		fields = append(fields, "cn", ss.Conn)
	}
	// Plain commands, in the batcher's pipeline with other calls, not a transaction: the
	// sweeper's hints go first, so that whatever part of them lands is swept (a session hash
	// left without its TTL is past its connect deadline soon, and closed then; hints without a
	// hash are dropped).
	var cmds []goredis.Cmder
	queue := func(p goredis.Pipeliner) goredis.Cmder {
		bg := context.Background()
		cmds = append(cmds[:0], p.ZAdd(bg, s.aliveKey(), goredis.Z{Score: float64(sc.Deadline.UnixMilli()), Member: ss.ID}))
		if !sc.PingAt.IsZero() {
			cmds = append(cmds, p.ZAdd(bg, s.pingKey(), goredis.Z{Score: float64(sc.PingAt.UnixMilli()), Member: ss.ID}))
		}
		if ss.Conn != "" {
			cmds = append(cmds, p.Set(bg, s.connKey(ss.Conn), ss.ID, s.opt.SessionTTL))
		}
		cmds = append(cmds, p.HSet(bg, key, fields...), p.PExpire(bg, key, s.opt.SessionTTL))
		return cmds[len(cmds)-1]
	}
	if _, err := s.batch.do(ctx, queue, func(ctx context.Context) goredis.Cmder {
		_, _ = s.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error { queue(p); return nil })
		return cmds[len(cmds)-1]
	}); err != nil {
		return unavailable(err)
	}
	for _, c := range cmds {
		if err := c.Err(); err != nil {
			return unavailable(err)
		}
	}
	return nil
}

// Load reads the session hash in one round trip (HGETALL).
func (s *Store) Load(ctx context.Context, sid string) (*session.State, error) {
	key := s.sessionKey(sid)
	cmd, err := s.batch.do(ctx,
		func(p goredis.Pipeliner) goredis.Cmder { return p.HGetAll(context.Background(), key) },
		func(ctx context.Context) goredis.Cmder { return s.rdb.HGetAll(ctx, key) })
	if err != nil {
		return nil, unavailable(err)
	}
	h, err := cmd.(*goredis.MapStringStringCmd).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	return stateFromHash(sid, h)
}

// LoadConn resolves the connection and reads the session hash in one round trip (a script).
func (s *Store) LoadConn(ctx context.Context, conn string) (*session.State, error) {
	flat, err := s.batch.script(ctx, loadConnScript, []string{s.connKey(conn)}, s.opt.Prefix).StringSlice()
	if err != nil {
		return nil, unavailable(err)
	}
	if len(flat) == 0 {
		return nil, session.ErrNotFound
	}
	h := make(map[string]string, len(flat)/2)
	for i := 1; i+1 < len(flat); i += 2 {
		h[flat[i]] = flat[i+1]
	}
	return stateFromHash(flat[0], h)
}

func stateFromHash(sid string, h map[string]string) (*session.State, error) {
	if len(h) == 0 {
		return nil, session.ErrNotFound
	}
	if reason, ok := h["cl"]; ok {
		return nil, &session.ClosedError{Reason: session.Reason(reason), OwesNoop: h["ow"] == "1"}
	}
	st := &session.State{Sockets: make(map[string]*session.Socket)}
	st.Session = sessionFromFields(sid, h["pong"], h["pi"], h["pt"], h["ps"], h["cd"])
	st.Transport, st.Conn, st.Probe = transport(h["tr"]), h["cn"], h["pr"]
	if pb, ok := h["pb"]; ok {
		st.Pending = []byte(pb)
	}
	for field, value := range h {
		if nsp, ok := strings.CutPrefix(field, "n:"); ok {
			sock := &session.Socket{Namespace: nsp, ID: value, Rooms: roomNames(h["r:"+nsp])}
			if d, ok := h["d:"+nsp]; ok {
				sock.Data = []byte(d)
			}
			st.Sockets[nsp] = sock
		}
	}
	return st, nil
}

func transport(tr string) session.Transport {
	if tr == "" {
		return session.Polling
	}
	return session.Transport(tr)
}

// roomNames decodes "room\0join\0..." into sorted room names without the namespace-wide room.
func roomNames(encoded string) []string {
	if encoded == "" {
		return nil
	}
	parts := strings.Split(encoded, "\x00")
	rooms := make([]string, 0, len(parts)/2)
	for i := 0; i+1 < len(parts); i += 2 {
		if parts[i] != session.AllRoom {
			rooms = append(rooms, parts[i])
		}
	}
	sort.Strings(rooms)
	return rooms
}

func sessionFromFields(sid, pong, pi, pt, ps, cd string) session.Session {
	atoi := func(s string) int64 { n, _ := strconv.ParseInt(s, 10, 64); return n }
	s := session.Session{
		ID:           sid,
		PingInterval: time.Duration(atoi(pi)) * time.Millisecond,
		PingTimeout:  time.Duration(atoi(pt)) * time.Millisecond,
		LastPong:     time.UnixMilli(atoi(pong)),
		PingSent:     ps == "1",
	}
	if cd != "" {
		s.ConnectDeadline = time.UnixMilli(atoi(cd))
	}
	return s
}

// Commit applies the batch with one script call (one round trip). A broadcast costs one XADD and
// one PUBLISH per target room, whatever the number of members.
func (s *Store) Commit(ctx context.Context, sid string, b *session.Batch) (*session.Committed, error) {
	if b.Len() == 0 {
		return &session.Committed{}, nil
	}
	now := s.opt.Now()
	args := make([]any, commitFixedArgs, commitFixedArgs+4*len(b.Ops))
	args[0], args[1] = now.UnixMilli(), s.opt.Prefix
	args[2], args[3], args[4] = ms(s.opt.SessionTTL), ms(s.opt.Retention), ms(s.opt.ClosedTTL)
	args[5], args[6], args[7], args[8] = sid, "", "", "0"
	if s.opt.Pumped {
		args[8] = "1"
	}
	args[9] = sessionChannel(s.opt.Prefix, sid)
	args[10] = session.ID{Time: now.Add(-s.opt.Retention).UnixMilli()}.String()
	for _, op := range b.Ops {
		if op.Kind == session.OpRequire {
			args[6], args[7] = strconv.FormatInt(op.Clock.LastPong.UnixMilli(), 10), msOrEmpty(op.Clock.ConnectDeadline)
			continue
		}
		var err error
		if args, err = s.appendOp(args, op); err != nil {
			return nil, err
		}
	}
	res, err := s.batch.script(ctx, commitScript, []string{s.sessionKey(sid), s.logKey(sid)}, args...).StringSlice()
	if err != nil {
		return nil, unavailable(err)
	}
	switch {
	case len(res) > 0 && res[0] == "OK":
		return &session.Committed{Flush: res[1:]}, nil
	case len(res) > 0 && res[0] == "GONE":
		return nil, session.ErrNotFound
	case len(res) > 0 && res[0] == "ALIVE":
		return nil, session.ErrAlive
	default:
		return nil, fmt.Errorf("redis store: commit answered %q", res)
	}
}

func msOrEmpty(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return strconv.FormatInt(t.UnixMilli(), 10)
}

// commitFixedArgs is the number of the commit script's arguments before its operations.
const commitFixedArgs = 11

// appendOp appends the commit script's encoding of op (see lua/commit.lua).
func (s *Store) appendOp(args []any, op session.Op) ([]any, error) {
	switch op.Kind {
	case session.OpConnect:
		return append(args, "C", op.Namespace, op.Socket), nil
	case session.OpDisconnect:
		return append(args, "X", op.Namespace), nil
	case session.OpJoin:
		return append(args, "J", op.Namespace, op.Room), nil
	case session.OpLeave:
		return append(args, "L", op.Namespace, op.Room), nil
	case session.OpSetData:
		return append(args, "D", op.Namespace, []byte(op.Data)), nil
	case session.OpSend:
		return append(args, "S", op.Payload), nil
	case session.OpBroadcast:
		return s.appendBroadcast(args, op), nil
	case session.OpPong:
		return append(args, "P", op.At.UnixMilli()), nil
	case session.OpSetPending:
		return append(args, "A", []byte(op.Data)), nil
	case session.OpProbe:
		return append(args, "R", op.Socket), nil
	case session.OpUpgrade:
		return append(args, "U"), nil
	case session.OpSchedule:
		ping := int64(0)
		if !op.Schedule.PingAt.IsZero() {
			ping = op.Schedule.PingAt.UnixMilli()
		}
		return append(args, "T", op.Schedule.Deadline.UnixMilli(), ping), nil
	case session.OpClose:
		owes := "0"
		if op.OwesNoop {
			owes = "1"
		}
		return append(args, "Q", string(op.Reason), owes), nil
	}
	return nil, fmt.Errorf("redis store: unknown operation %d", op.Kind)
}

// appendBroadcast appends a broadcast: "B", the number of rooms n, their n log keys, n channels
// and n member sets ("" when pumped: no member sets), the except list (NUL-separated), the part
// of the entry's event after its id, and the payload. The names and the event come from here,
// so that the script only calls Redis: Lua's string building costs a microsecond a piece.
func (s *Store) appendBroadcast(args []any, op session.Op) []any {
	n := len(op.Rooms)
	args = append(args, "B", n)
	for _, r := range op.Rooms {
		args = append(args, roomKey(s.opt.Prefix, op.Namespace, r))
	}
	for _, r := range op.Rooms {
		args = append(args, roomChannel(s.opt.Prefix, op.Namespace, r))
	}
	for _, r := range op.Rooms {
		if s.opt.Pumped {
			args = append(args, "")
		} else {
			args = append(args, memberKey(s.opt.Prefix, op.Namespace, r))
		}
	}
	except := strings.Join(op.Except, "\x00")
	return append(args, except, " "+strconv.Itoa(len(except))+"\n"+except, op.Payload)
}

// Read runs one read-only script call (one round trip) that reads the session hash, the session
// log and every room log the session reads from.
func (s *Store) Read(ctx context.Context, sid string, max int) (*session.Queued, error) {
	if max <= 0 {
		max = 1024
	}
	raw, err := s.batch.script(ctx, readScript, []string{s.sessionKey(sid), s.logKey(sid)}, s.opt.Prefix, max).Slice()
	if err != nil {
		return nil, unavailable(err)
	}
	return parseRead(sid, raw)
}

func parseRead(sid string, raw []any) (*session.Queued, error) {
	str := func(i int) string {
		if i >= len(raw) {
			return ""
		}
		switch v := raw[i].(type) {
		case string:
			return v
		case int64:
			return strconv.FormatInt(v, 10)
		}
		return ""
	}
	switch str(0) {
	case "GONE":
		return nil, session.ErrNotFound
	case "CLOSED":
		return nil, &session.ClosedError{Reason: session.Reason(str(1)), OwesNoop: str(2) == "1"}
	case "OK":
	default:
		return nil, fmt.Errorf("redis store: read answered %v", raw)
	}
	through, err := parseID(str(1))
	if err != nil {
		return nil, err
	}
	q := &session.Queued{Through: through, More: str(2) == "1"}
	q.Session = sessionFromFields(sid, str(3), str(4), str(5), str(6), str(7))
	q.Session.Transport, q.Session.Conn, q.Session.Probe = transport(str(8)), str(9), str(10)
	n, _ := strconv.Atoi(str(11))
	at := 12
	if n > 0 {
		q.Entries = make([]session.Entry, n)
		for i := range n {
			id, err := parseID(str(at))
			if err != nil {
				return nil, err
			}
			q.Entries[i] = session.Entry{ID: id, Payload: []byte(str(at + 1))}
			at += 2
		}
	}
	for ; at+1 < len(raw); at += 2 {
		q.Rooms = append(q.Rooms, session.RoomRef{Namespace: str(at), Room: str(at + 1)})
	}
	return q, nil
}

// parseID parses a stream id "ms-seq".
func parseID(s string) (session.ID, error) {
	msPart, seqPart, ok := strings.Cut(s, "-")
	t, err1 := strconv.ParseInt(msPart, 10, 64)
	n, err2 := strconv.ParseInt(seqPart, 10, 64)
	if !ok || err1 != nil || err2 != nil {
		return session.ID{}, fmt.Errorf("redis store: bad entry id %q", s)
	}
	return session.ID{Time: t, Seq: n}, nil
}

// Ack runs one small script call (one round trip).
func (s *Store) Ack(ctx context.Context, sid string, a session.Ack) error {
	cursor, keepFrom, ping, token := "", "", "", ""
	through := a.Through
	if n := len(a.Entries); n > 0 && through.Less(a.Entries[n-1].ID) {
		through = a.Entries[n-1].ID
	}
	if !through.IsZero() {
		cursor = through.String()
		keepFrom = session.ID{Time: through.Time, Seq: through.Seq + 1}.String()
	}
	if !a.PingFor.IsZero() {
		ping = strconv.FormatInt(a.PingFor.UnixMilli(), 10)
	}
	leaseKey := s.leaseKey(sid, session.LeasePoll)
	if a.Release != "" {
		token, leaseKey = a.Token, s.leaseKey(sid, a.Release)
	}
	if cursor == "" && ping == "" && token == "" {
		return nil
	}
	keys := []string{s.sessionKey(sid), s.logKey(sid), leaseKey}
	if err := s.batch.script(ctx, ackScript, keys, s.opt.Prefix, sid, s.opt.Now().UnixMilli(), cursor, ping, token, keepFrom).Err(); err != nil {
		return unavailable(err)
	}
	return nil
}

// Acquire takes a free lease with plain commands, in one round trip: SET NX of the lease's
// value, and SET GET of its last-attempt key (the token of the Acquire before, which is prev).
// A lease that exists (held, expired, or the token's own to renew) takes a second round trip,
// a small script that checks its holder. The lease's expiry is kept in its value on the store's
// clock; its keys outlive it by a minute, as clean-up only.
func (s *Store) Acquire(ctx context.Context, sid string, lease session.Lease, token string, ttl time.Duration) (string, error) {
	prev, _, err := s.acquire(ctx, sid, lease, token, ttl, 0)
	return prev, err
}

// AcquireRead is Acquire with the session's read script in the same pipeline, after the lease's
// commands: one round trip when the lease is free. Its answer counts only if the lease was taken
// then (a read has no effects: one made for nothing is dropped). A read that finds no session
// deletes the lease's keys if they are still this token's: a GET for an unknown sid leaves
// nothing behind.
func (s *Store) AcquireRead(ctx context.Context, sid string, lease session.Lease, token string, ttl time.Duration, max int) (string, bool, *session.Queued, error, error) {
	if max <= 0 {
		max = 1024
	}
	prev, read, err := s.acquire(ctx, sid, lease, token, ttl, max)
	if err != nil || read == nil {
		return prev, false, nil, nil, err
	}
	raw, rerr := read.Slice()
	if rerr != nil {
		return prev, false, nil, nil, nil // NOSCRIPT or a failure: the caller reads
	}
	q, qerr := parseRead(sid, raw)
	return prev, true, q, qerr, nil
}

// acquire runs Acquire; with max > 0 the read script follows the lease's commands in their
// pipeline, and its command is returned if the lease was taken by them (nil otherwise).
func (s *Store) acquire(ctx context.Context, sid string, lease session.Lease, token string, ttl time.Duration, max int) (string, *goredis.Cmd, error) {
	now := s.opt.Now()
	key := s.leaseKey(sid, lease)
	value := token + " " + strconv.FormatInt(now.Add(ttl).UnixMilli(), 10)
	life := ttl + time.Minute
	var taken, last *goredis.StatusCmd
	var read *goredis.Cmd
	queue := func(p goredis.Pipeliner) goredis.Cmder {
		taken = p.SetArgs(context.Background(), key, value, goredis.SetArgs{Mode: "NX", TTL: life})
		last = p.SetArgs(context.Background(), key+lastSuffix, token, goredis.SetArgs{Get: true, TTL: life})
		if max > 0 {
			keys := []string{s.sessionKey(sid), s.logKey(sid), key, key + lastSuffix}
			read = readScript.EvalSha(context.Background(), p, keys, s.opt.Prefix, max, value, token)
		}
		return last
	}
	if _, err := s.batch.do(ctx, queue, func(ctx context.Context) goredis.Cmder {
		_, _ = s.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error { queue(p); return nil })
		return last
	}); err != nil {
		return "", nil, unavailable(err)
	}
	prev, err := last.Result()
	if err != nil && !errors.Is(err, goredis.Nil) {
		return "", nil, unavailable(err)
	}
	switch err := taken.Err(); {
	case err == nil:
		return prev, read, nil
	case !errors.Is(err, goredis.Nil):
		return "", nil, unavailable(err)
	}
	// The lease exists: renew it, or take it over if it expired, unless another token holds it.
	res, err := s.batch.script(ctx, acquireScript, []string{key}, token, now.UnixMilli(), value, ms(life)).Slice()
	if err != nil {
		return "", nil, unavailable(err)
	}
	if len(res) != 2 {
		return "", nil, fmt.Errorf("redis store: acquire answered %v", res)
	}
	if ok, _ := res[0].(int64); ok == 0 {
		holder, _ := res[1].(string)
		return holder, nil, session.ErrBusy
	}
	return prev, nil, nil
}

// lastSuffix names a lease's last-attempt key, beside it: the token of its last Acquire.
const lastSuffix = ":last"

// Release is an Ack that only releases.
func (s *Store) Release(ctx context.Context, sid string, lease session.Lease, token string) error {
	return s.Ack(ctx, sid, session.Ack{Release: lease, Token: token})
}

// Due lists sessions past their deadline hint and WebSocket sessions whose ping hint came, in
// one round trip (two ZRANGEBYSCOREs in a pipeline).
func (s *Store) Due(ctx context.Context, now time.Time, limit int) (*session.Due, error) {
	by := &goredis.ZRangeBy{Min: "-inf", Max: "(" + strconv.FormatInt(now.UnixMilli(), 10), Count: int64(limit)}
	var expired, ping *goredis.StringSliceCmd
	_, err := s.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
		expired = p.ZRangeByScore(ctx, s.aliveKey(), by)
		ping = p.ZRangeByScore(ctx, s.pingKey(), &goredis.ZRangeBy{Min: "-inf", Max: strconv.FormatInt(now.UnixMilli(), 10), Count: int64(limit)})
		return nil
	})
	if err != nil && !errors.Is(err, goredis.Nil) {
		return nil, unavailable(err)
	}
	return &session.Due{Expired: expired.Val(), Ping: ping.Val()}, nil
}

// Mark returns the current point in the stream of events; see [session.Subscriber].
func (s *Store) Mark() uint64 { return s.hub.mark() }

// Watch subscribes (through the store's one shared pub/sub connection) to the session's channel
// and its rooms' channels; see [session.Subscriber]. It missed nothing if every channel was
// already subscribed at mark and none has had a message since. Channels stay subscribed for a
// moment after their last watch stops, for the session's next poll.
func (s *Store) Watch(ctx context.Context, sid string, rooms []session.RoomRef, mark uint64, after session.ID) (session.Watch, bool, error) {
	return s.hub.watch(ctx, sid, rooms, mark, after)
}
