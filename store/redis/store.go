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
	//go:embed lua/lib.lua
	libLua string
	//go:embed lua/commit.lua
	commitLua string
	//go:embed lua/fetch.lua
	fetchLua string
	//go:embed lua/load_conn.lua
	loadConnLua string

	commitScript   = goredis.NewScript(libLua + commitLua)
	fetchScript    = goredis.NewScript(libLua + fetchLua)
	loadConnScript = goredis.NewScript(loadConnLua)
)

// Options configure a [Store]. Every zero value has a documented default.
type Options struct {
	// Prefix starts every key and channel name; zero means "sio".
	Prefix string
	// SessionTTL is how long a session's keys live after its last activity; zero means 2 minutes.
	// It must exceed pingInterval+pingTimeout of every session, or live sessions vanish.
	SessionTTL time.Duration
	// Retention is how long a room log keeps an entry; zero means SessionTTL. A live session
	// reads at least once per pingInterval+pingTimeout, so the default loses nothing.
	Retention time.Duration
	// ClosedTTL is how long a closed session stays known as closed (so that a poll still held
	// learns why it ended) before it becomes unknown; zero means 1 minute.
	ClosedTTL time.Duration
	// Now is the clock; nil means time.Now. Tests set it to drive heartbeats.
	Now func() time.Time
}

// Store is a [session.Store] and [session.Notifier] on Redis (or any server speaking its
// protocol with Lua scripting and streams, Redis ≥ 6.2). It is safe for concurrent use.
type Store struct {
	rdb   goredis.UniversalClient
	opt   Options
	hub   *hub
	batch *batcher
}

var (
	_ session.Store           = (*Store)(nil)
	_ session.MarkingNotifier = (*Store)(nil)
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
	return &Store{rdb: rdb, opt: opt, hub: newHub(rdb), batch: newBatcher(rdb, fetchWorkers)}
}

// Close stops the pub/sub connection used by watches. The store must not be used afterwards.
func (s *Store) Close() error { s.batch.close(); return s.hub.close() }

// fetchWorkers is how many fetch pipelines may be in flight at once.
const fetchWorkers = 4

func (s *Store) sessionKey(sid string) string { return s.opt.Prefix + ":{" + sid + "}" }
func (s *Store) logKey(sid string) string     { return s.opt.Prefix + ":{" + sid + "}:q" }
func (s *Store) aliveKey() string             { return s.opt.Prefix + ":alive" }
func (s *Store) pingKey() string              { return s.opt.Prefix + ":ping" }
func (s *Store) connKey(conn string) string   { return s.opt.Prefix + ":c:" + conn }
func ms(d time.Duration) int64                { return d.Milliseconds() }

func unavailable(err error) error {
	return fmt.Errorf("redis store: %w: %w", session.ErrUnavailable, err)
}

// Create stores a new session in one round trip (MULTI: HSET, PEXPIRE, ZADD, and for a
// WebSocket session the connection index and the ping schedule).
func (s *Store) Create(ctx context.Context, ss *session.Session) error {
	key := s.sessionKey(ss.ID)
	pong := ss.LastPong.UnixMilli()
	deadline := ss.Deadline().UnixMilli()
	fields := []any{"pi", ms(ss.PingInterval), "pt", ms(ss.PingTimeout), "pong", pong, "ps", 0, "tr", ss.Transport}
	if !ss.ConnectDeadline.IsZero() {
		fields = append(fields, "cd", ss.ConnectDeadline.UnixMilli())
		deadline = min(deadline, ss.ConnectDeadline.UnixMilli())
	}
	if ss.Conn != "" {
		fields = append(fields, "cn", ss.Conn)
	}
	_, err := s.rdb.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		p.HSet(ctx, key, fields...)
		p.PExpire(ctx, key, s.opt.SessionTTL)
		p.ZAdd(ctx, s.aliveKey(), goredis.Z{Score: float64(deadline), Member: ss.ID})
		if ss.Conn != "" {
			p.Set(ctx, s.connKey(ss.Conn), ss.ID, s.opt.SessionTTL)
		}
		if ss.Transport == "websocket" {
			p.ZAdd(ctx, s.pingKey(), goredis.Z{Score: float64(ss.PingDue().UnixMilli()), Member: ss.ID})
		}
		return nil
	})
	if err != nil {
		return unavailable(err)
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
		return nil, &session.ClosedError{Reason: reason}
	}
	st := &session.State{Sockets: make(map[string]*session.Socket)}
	st.Session = sessionFromFields(sid, h["pong"], h["pi"], h["pt"], h["ps"])
	st.Transport, st.Conn, st.Probe = h["tr"], h["cn"], h["pr"]
	if cd, err := strconv.ParseInt(h["cd"], 10, 64); err == nil {
		st.ConnectDeadline = time.UnixMilli(cd)
	}
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

func sessionFromFields(sid, pong, pi, pt, ps string) session.Session {
	atoi := func(s string) int64 { n, _ := strconv.ParseInt(s, 10, 64); return n }
	return session.Session{
		ID:           sid,
		PingInterval: time.Duration(atoi(pi)) * time.Millisecond,
		PingTimeout:  time.Duration(atoi(pt)) * time.Millisecond,
		LastPong:     time.UnixMilli(atoi(pong)),
		PingSent:     ps == "1",
	}
}

// Commit applies the batch with one script call (one round trip). A broadcast costs one XADD and
// one PUBLISH per target room, whatever the number of members.
func (s *Store) Commit(ctx context.Context, sid string, b *session.Batch) (*session.Committed, error) {
	if b.Len() == 0 {
		return &session.Committed{}, nil
	}
	ifExpired := "0"
	args := make([]any, 7, 7+4*len(b.Ops))
	for _, op := range b.Ops {
		switch op.Kind {
		case session.OpConnect:
			args = append(args, "C", op.Namespace, op.Socket)
		case session.OpDisconnect:
			args = append(args, "X", op.Namespace)
		case session.OpJoin:
			args = append(args, "J", op.Namespace, op.Room)
		case session.OpLeave:
			args = append(args, "L", op.Namespace, op.Room)
		case session.OpSetData:
			args = append(args, "D", op.Namespace, []byte(op.Data))
		case session.OpSend:
			args = append(args, "S", op.Payload)
		case session.OpBroadcast:
			args = append(args, "B", op.Namespace, len(op.Rooms))
			for _, r := range op.Rooms {
				args = append(args, r)
			}
			args = append(args, len(op.Except))
			for _, r := range op.Except {
				args = append(args, r)
			}
			args = append(args, op.Payload)
		case session.OpPong:
			args = append(args, "P")
		case session.OpSetPending:
			args = append(args, "A", []byte(op.Data))
		case session.OpProbe:
			args = append(args, "R", op.Socket)
		case session.OpUpgrade:
			args = append(args, "U")
		case session.OpClose:
			args = append(args, "Q", op.Reason)
			if op.IfExpired {
				ifExpired = "1"
			}
		default:
			return nil, fmt.Errorf("redis store: unknown operation %d", op.Kind)
		}
	}
	args[0] = s.opt.Now().UnixMilli()
	args[1] = s.opt.Prefix
	args[2] = ms(s.opt.SessionTTL)
	args[3] = ms(s.opt.Retention)
	args[4] = ms(s.opt.ClosedTTL)
	args[5] = sid
	args[6] = ifExpired
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

// Fetch runs one script call (one round trip) that reads the session log and every room log the
// session reads from, and advances the cursor.
func (s *Store) Fetch(ctx context.Context, sid string, req session.FetchRequest) (*session.Fetched, error) {
	max := req.Max
	if max <= 0 {
		max = 1024
	}
	ping := "0"
	if req.Ping {
		ping = "1"
	}
	transport := req.Transport
	if transport == "" {
		transport = "polling"
	}
	lease := "0"
	switch {
	case req.Pin:
		lease = "2"
	case req.Lease:
		lease = "1"
	}
	raw, err := s.batch.script(ctx, fetchScript, []string{s.sessionKey(sid), s.logKey(sid)},
		s.opt.Now().UnixMilli(), s.opt.Prefix, max, req.Poll, ms(req.Hold), ping, ms(s.opt.SessionTTL),
		transport, lease, sid).Slice()
	if err != nil {
		return nil, unavailable(err)
	}
	return parseFetch(sid, raw)
}

func parseFetch(sid string, raw []any) (*session.Fetched, error) {
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
		return nil, &session.ClosedError{Reason: str(1), Answer: str(2) == "1"}
	case "BUSY":
		return nil, session.ErrBusy
	case "TRANSPORT":
		return nil, session.ErrTransport
	case "EXPIRED":
		return &session.Fetched{Session: sessionFromFields(sid, str(1), str(2), str(3), str(4)), Expired: true}, nil
	case "OK":
	default:
		return nil, fmt.Errorf("redis store: fetch answered %v", raw)
	}
	f := &session.Fetched{
		Session: sessionFromFields(sid, str(1), str(2), str(3), str(4)),
		More:    str(5) == "1", Pinged: str(6) == "1", Upgrading: str(7) == "1",
	}
	f.Session.Conn = str(8)
	n, _ := strconv.Atoi(str(9))
	if n > 0 {
		f.Payloads = make([][]byte, n)
		for i := range n {
			f.Payloads[i] = []byte(str(10 + i))
		}
	}
	for i := 10 + n; i+1 < len(raw); i += 2 {
		f.Rooms = append(f.Rooms, session.RoomRef{Namespace: str(i), Room: str(i + 1)})
	}
	return f, nil
}

// Due lists sessions past their deadline and WebSocket sessions due for a ping, in one round
// trip (two ZRANGEBYSCOREs in a pipeline).
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

// Watch subscribes (through the store's one shared pub/sub connection) to the session's channel
// and its rooms' channels; see [session.Notifier]. Channels stay subscribed for a moment after
// their last watch stops, for the session's next poll.
func (s *Store) Watch(ctx context.Context, sid string, rooms []session.RoomRef) (session.Watch, error) {
	return s.hub.watch(ctx, s.channels(sid, rooms))
}

// Mark returns the current point in the stream of wake-ups; see [session.MarkingNotifier].
func (s *Store) Mark() uint64 { return s.hub.mark() }

// WatchSince is Watch, reporting whether a wake-up may have been missed since mark: not if every
// channel was already subscribed at mark and none has had a message since.
func (s *Store) WatchSince(ctx context.Context, sid string, rooms []session.RoomRef, mark uint64) (session.Watch, bool, error) {
	w, missed, err := s.hub.watchSince(ctx, s.channels(sid, rooms), mark)
	if err != nil {
		return nil, true, err
	}
	return w, missed, nil
}

func (s *Store) channels(sid string, rooms []session.RoomRef) []string {
	names := make([]string, 0, len(rooms)+1)
	names = append(names, s.opt.Prefix+":w:s:"+sid)
	for _, r := range rooms {
		names = append(names, s.opt.Prefix+":w:r:"+strconv.Itoa(len(r.Namespace))+":"+r.Namespace+":"+r.Room)
	}
	return names
}
