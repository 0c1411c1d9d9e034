package dynamo

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/serverless-socketio/server/session"
)

// Attribute names of the table (see the package documentation).
const (
	attrPK      = "pk"
	attrSK      = "sk"
	attrExpires = "expires"
	// A queued payload split over items: its first item has "sp", the count of its parts; the
	// others, sorted right after it, have "st".
	attrParts = "sp"
	attrTail  = "st"
	// The sweeper index: dp is the shard ("d#<n>"), due the first moment the sweeper has work
	// with the session, dl its deadline and pd its ping time (WebSocket sessions not pinged yet).
	attrShard    = "dp"
	attrDue      = "due"
	attrDeadline = "dl"
	attrPingDue  = "pd"
	// IndexName is the global secondary index the sweeper queries.
	IndexName = "due"
	// sessionSK is the sort key of a session item: it sorts before every queued packet ("q#…"),
	// so one Query reads the session and its queue.
	sessionSK = "!"
)

// sessionItem is the session item, decoded. Times are Unix milliseconds.
type sessionItem struct {
	v       int64 // version: every write of the item is conditional on it and bumps it
	pi, pt  int64
	pong    int64
	ps      bool
	cd      int64 // namespace-connect deadline, 0 once a namespace connected
	tr      string
	cn, pr  string
	pb      []byte // pending packet, nil when none
	dl, pd  int64  // the sweeper's hints (Schedule): deadline, ping (0: none)
	cl      string // closed with this reason (the item is then a tombstone)
	ow      bool   // a noop is owed to the first polling fetch after a client close
	clk     int64  // the last order-key time this session used
	ob      int64  // the order time of the commit whose broadcasts are not fanned out yet (0: none)
	mx      int64  // when its membership items expire
	sockets map[string]*socketItem
	expires int64 // Unix seconds (TTL)
	shards  int
}

type socketItem struct {
	id    string
	rooms []string // sorted, with the socket's own id, without the namespace-wide room
	data  []byte
}

func sessionPK(sid string) string { return "s#" + sid }
func connPK(conn string) string   { return "c#" + conn }

// roomPK is the partition of a room's membership items. The namespace's length keeps
// "<nsp>:<room>" unambiguous; a name too long for a partition key is hashed.
func roomPK(nsp, room string) string {
	k := "r#" + strconv.Itoa(len(nsp)) + ":" + nsp + ":" + room
	if len(k) > 1024 {
		h := sha256.Sum256([]byte(k))
		return "r#h:" + hex.EncodeToString(h[:])
	}
	return k
}

// queueSK orders queued packets: by the sender's order time, then sender, then part.
func queueSK(at int64, origin string, part int) string {
	return fmt.Sprintf("q#%013d#%s#%03d", at, origin, part)
}

func shardOf(sid string, shards int) string {
	h := fnv.New32a()
	h.Write([]byte(sid))
	return "d#" + strconv.Itoa(int(h.Sum32()%uint32(shards)))
}

// schedule sets the sweeper's hints.
func (it *sessionItem) schedule(sc session.Schedule) {
	it.dl, it.pd = sc.Deadline.UnixMilli(), 0
	if !sc.PingAt.IsZero() {
		it.pd = sc.PingAt.UnixMilli()
	}
}

// clock returns the item's heartbeat clock.
func (it *sessionItem) clock() session.Clock {
	var cd time.Time
	if it.cd != 0 {
		cd = time.UnixMilli(it.cd)
	}
	return session.Clock{LastPong: time.UnixMilli(it.pong), ConnectDeadline: cd}
}

// session returns the heartbeat part of the item as a session.Session.
func (it *sessionItem) session(sid string) session.Session {
	s := session.Session{
		ID: sid, Transport: session.Transport(it.tr), Conn: it.cn, Probe: it.pr,
		PingInterval: time.Duration(it.pi) * time.Millisecond,
		PingTimeout:  time.Duration(it.pt) * time.Millisecond,
		LastPong:     time.UnixMilli(it.pong),
		PingSent:     it.ps,
	}
	if it.cd != 0 {
		s.ConnectDeadline = time.UnixMilli(it.cd)
	}
	return s
}

func (it *sessionItem) state(sid string) *session.State {
	st := &session.State{Session: it.session(sid), Sockets: make(map[string]*session.Socket, len(it.sockets))}
	if it.pb != nil {
		st.Pending = slices.Clone(it.pb)
	}
	for nsp, so := range it.sockets {
		sock := &session.Socket{Namespace: nsp, ID: so.id, Rooms: slices.Clone(so.rooms)}
		if so.data != nil {
			sock.Data = slices.Clone(so.data)
		}
		st.Sockets[nsp] = sock
	}
	return st
}

// clone returns a deep copy, for a commit to change.
func (it *sessionItem) clone() *sessionItem {
	c := *it
	c.sockets = make(map[string]*socketItem, len(it.sockets))
	for nsp, so := range it.sockets {
		s := *so
		s.rooms = slices.Clone(so.rooms)
		c.sockets[nsp] = &s
	}
	return &c
}

// memberships returns every (namespace, room) the session is in, the namespace-wide room
// included: the membership items it must have.
func (it *sessionItem) memberships() map[roomRef]bool {
	out := make(map[roomRef]bool)
	if it == nil {
		return out
	}
	for nsp, so := range it.sockets {
		out[roomRef{nsp, session.AllRoom}] = true
		for _, r := range so.rooms {
			out[roomRef{nsp, r}] = true
		}
	}
	return out
}

func (it *sessionItem) inRoom(nsp, room string) bool {
	so := it.sockets[nsp]
	if so == nil {
		return false
	}
	if room == session.AllRoom {
		return true
	}
	_, found := slices.BinarySearch(so.rooms, room)
	return found
}

type roomRef struct{ nsp, room string }

func str(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }
func num(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}
func boolean(b bool) types.AttributeValue {
	return &types.AttributeValueMemberBOOL{Value: b}
}
func bin(b []byte) types.AttributeValue { return &types.AttributeValueMemberB{Value: b} }

// strOf, numOf and strsOf read an item's string, number and list-of-strings attributes (the
// zero value when it has none); strList writes a list of strings.
func strOf(m map[string]types.AttributeValue, name string) string {
	if v, ok := m[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func numOf(m map[string]types.AttributeValue, name string) int64 {
	v, _ := m[name].(*types.AttributeValueMemberN)
	if v == nil {
		return 0
	}
	n, _ := strconv.ParseInt(v.Value, 10, 64)
	return n
}

func strList(l []string) types.AttributeValue {
	values := make([]types.AttributeValue, len(l))
	for i, v := range l {
		values[i] = str(v)
	}
	return &types.AttributeValueMemberL{Value: values}
}

func strsOf(m map[string]types.AttributeValue, name string) []string {
	l, _ := m[name].(*types.AttributeValueMemberL)
	if l == nil {
		return nil
	}
	out := make([]string, 0, len(l.Value))
	for _, v := range l.Value {
		if s, ok := v.(*types.AttributeValueMemberS); ok {
			out = append(out, s.Value)
		}
	}
	return out
}

func key(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: str(pk), attrSK: str(sk)}
}

// encode returns the item's attributes, with the sweeper index attributes unless it is closed.
func (it *sessionItem) encode(sid string) map[string]types.AttributeValue {
	m := key(sessionPK(sid), sessionSK)
	m["v"] = num(it.v)
	m[attrExpires] = num(it.expires)
	if it.cl != "" {
		m["cl"] = str(it.cl)
		if it.ow {
			m["ow"] = boolean(true)
		}
		if it.ob != 0 {
			// In the sweeper's index only while a broadcast of its close is left to fan out.
			m["ob"] = num(it.ob)
			m[attrShard], m[attrDue] = str(shardOf(sid, it.shards)), num(it.ob+drainLease.Milliseconds())
			m[attrDeadline] = num(it.ob + drainLease.Milliseconds() + 1)
		}
		return m
	}
	m["pi"], m["pt"], m["pong"], m["ps"], m["tr"] = num(it.pi), num(it.pt), num(it.pong), boolean(it.ps), str(it.tr)
	if it.cd != 0 {
		m["cd"] = num(it.cd)
	}
	if it.cn != "" {
		m["cn"] = str(it.cn)
	}
	if it.pr != "" {
		m["pr"] = str(it.pr)
	}
	if it.pb != nil {
		m["pb"] = bin(it.pb)
	}
	if it.clk != 0 {
		m["clk"] = num(it.clk)
	}
	if it.mx != 0 {
		m["mx"] = num(it.mx)
	}
	if it.ob != 0 {
		m["ob"] = num(it.ob)
	}
	if len(it.sockets) > 0 {
		ns := make(map[string]types.AttributeValue, len(it.sockets))
		for nsp, so := range it.sockets {
			sm := map[string]types.AttributeValue{"id": str(so.id), "r": strList(so.rooms)}
			if so.data != nil {
				sm["d"] = bin(so.data)
			}
			ns[nsp] = &types.AttributeValueMemberM{Value: sm}
		}
		m["ns"] = &types.AttributeValueMemberM{Value: ns}
	}
	due := it.dl
	m[attrShard] = str(shardOf(sid, it.shards))
	m[attrDeadline] = num(it.dl)
	if it.pd != 0 {
		m[attrPingDue] = num(it.pd)
		due = min(due, it.pd)
	}
	if it.ob != 0 {
		// The sweeper finishes a fan-out its request left undone.
		due = min(due, it.ob+drainLease.Milliseconds())
	}
	m[attrDue] = num(due)
	return m
}

// decodeSession reads a session item; it fails only on a malformed item.
func decodeSession(m map[string]types.AttributeValue, shards int) (*sessionItem, error) {
	it := &sessionItem{shards: shards}
	var err error
	geti := func(name string) int64 {
		v, ok := m[name].(*types.AttributeValueMemberN)
		if !ok {
			return 0
		}
		n, e := strconv.ParseInt(v.Value, 10, 64)
		if e != nil && err == nil {
			err = fmt.Errorf("attribute %s: %w", name, e)
		}
		return n
	}
	gets := func(name string) string { return strOf(m, name) }
	getb := func(name string) bool {
		v, ok := m[name].(*types.AttributeValueMemberBOOL)
		return ok && v.Value
	}
	it.v, it.expires = geti("v"), geti(attrExpires)
	it.cl, it.ow = gets("cl"), getb("ow")
	it.pi, it.pt, it.pong, it.ps, it.cd = geti("pi"), geti("pt"), geti("pong"), getb("ps"), geti("cd")
	it.tr, it.cn, it.pr = gets("tr"), gets("cn"), gets("pr")
	if v, ok := m["pb"].(*types.AttributeValueMemberB); ok {
		it.pb = v.Value
		if it.pb == nil {
			it.pb = []byte{}
		}
	}
	it.dl, it.pd = geti(attrDeadline), geti(attrPingDue)
	it.clk, it.mx, it.ob = geti("clk"), geti("mx"), geti("ob")
	it.sockets = make(map[string]*socketItem)
	if ns, ok := m["ns"].(*types.AttributeValueMemberM); ok {
		for nsp, av := range ns.Value {
			sm, ok := av.(*types.AttributeValueMemberM)
			if !ok {
				return nil, fmt.Errorf("socket %q is not a map", nsp)
			}
			so := &socketItem{id: strOf(sm.Value, "id")}
			so.rooms = strsOf(sm.Value, "r")
			slices.Sort(so.rooms)
			if d, ok := sm.Value["d"].(*types.AttributeValueMemberB); ok {
				so.data = d.Value
				if so.data == nil {
					so.data = []byte{}
				}
			}
			it.sockets[nsp] = so
		}
	}
	return it, err
}
