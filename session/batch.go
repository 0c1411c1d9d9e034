package session

import (
	"encoding/json"
	"slices"
	"time"
)

// OpKind is the kind of one recorded effect.
type OpKind uint8

// The effects a request can record. Each is applied by [Store.Commit] in the order recorded.
const (
	// OpConnect creates the socket (Namespace, Socket) and puts it in the room named after its
	// id and in [AllRoom].
	OpConnect OpKind = iota + 1
	// OpDisconnect removes the socket of Namespace; its rooms stay readable up to this point so
	// that what was sent to it before is still delivered.
	OpDisconnect
	// OpJoin puts the socket of Namespace in Room; it receives what is broadcast there from now on.
	OpJoin
	// OpLeave takes the socket of Namespace out of Room.
	OpLeave
	// OpSetData replaces the per-socket data of Namespace with Data.
	OpSetData
	// OpSend appends Payload to this session's own log.
	OpSend
	// OpBroadcast appends Payload once to the log of each of Rooms in Namespace, for every
	// member except the sockets in any of Except.
	OpBroadcast
	// OpPong records a pong at At: the heartbeat clock restarts then (LastPong never moves
	// back) and the ping is owed again.
	OpPong
	// OpSetPending replaces [State.Pending] with Data (nil clears it).
	OpSetPending
	// OpProbe records that the WebSocket connection Socket probes an upgrade of this polling
	// session: the connection is indexed to the session, and a held GET ends with a noop.
	OpProbe
	// OpUpgrade completes the upgrade: the session moves to the probing connection and from
	// now on is served over WebSocket only.
	OpUpgrade
	// OpClose closes the session with Reason; OwesNoop is kept for [ClosedError.OwesNoop].
	OpClose
	// OpSchedule replaces the sweeper's hints for the session with Schedule.
	OpSchedule
	// OpRequire makes the whole commit conditional: it applies only while the session's
	// heartbeat clock is still Clock, and otherwise fails with [ErrAlive], applying nothing.
	OpRequire
)

// Op is one recorded effect. Which fields matter depends on Kind (see the OpKind constants).
type Op struct {
	Kind      OpKind
	Namespace string
	Socket    string
	Room      string
	Rooms     []string
	Except    []string
	Data      json.RawMessage
	Payload   []byte
	Reason    Reason
	OwesNoop  bool
	At        time.Time
	Schedule  Schedule
	Clock     Clock
}

// Batch records the effects of one request, in order. The zero value is an empty batch.
//
// A payload is one or more Engine.IO packets in their long-polling encoding, joined by the
// record separator 0x1e (a Socket.IO packet with binary attachments is several Engine.IO
// packets); it is delivered whole and in order.
type Batch struct {
	Ops []Op
}

// Len returns the number of recorded effects.
func (b *Batch) Len() int { return len(b.Ops) }

// Connect records the creation of the socket id in namespace nsp.
func (b *Batch) Connect(nsp, id string) {
	b.Ops = append(b.Ops, Op{Kind: OpConnect, Namespace: nsp, Socket: id})
}

// Disconnect records the removal of the socket in namespace nsp.
func (b *Batch) Disconnect(nsp string) {
	b.Ops = append(b.Ops, Op{Kind: OpDisconnect, Namespace: nsp})
}

// Join records that the socket in nsp joins room.
func (b *Batch) Join(nsp, room string) {
	b.Ops = append(b.Ops, Op{Kind: OpJoin, Namespace: nsp, Room: room})
}

// Leave records that the socket in nsp leaves room.
func (b *Batch) Leave(nsp, room string) {
	b.Ops = append(b.Ops, Op{Kind: OpLeave, Namespace: nsp, Room: room})
}

// SetData records new per-socket data (JSON) for the socket in nsp.
func (b *Batch) SetData(nsp string, data json.RawMessage) {
	b.Ops = append(b.Ops, Op{Kind: OpSetData, Namespace: nsp, Data: data})
}

// Send records a payload for this session only.
func (b *Batch) Send(payload []byte) {
	b.Ops = append(b.Ops, Op{Kind: OpSend, Payload: payload})
}

// Broadcast records a payload for every socket of nsp in any of rooms (all of the namespace
// when rooms is empty), except those in any of except. A socket in several of the rooms
// receives it once.
func (b *Batch) Broadcast(nsp string, rooms, except []string, payload []byte) {
	if len(rooms) == 0 {
		rooms = []string{AllRoom}
	}
	// A room named twice is one target: stores append once per distinct room.
	rooms = dedupe(rooms)
	except = dedupe(except)
	b.Ops = append(b.Ops, Op{Kind: OpBroadcast, Namespace: nsp, Rooms: rooms, Except: except, Payload: payload})
}

// Pong records a pong from the client at at.
func (b *Batch) Pong(at time.Time) { b.Ops = append(b.Ops, Op{Kind: OpPong, At: at}) }

// SetPending records the partial packet to keep for the next request (nil clears it).
func (b *Batch) SetPending(data []byte) {
	b.Ops = append(b.Ops, Op{Kind: OpSetPending, Data: data})
}

// Probe records an upgrade probe from WebSocket connection conn; an empty conn ends a probe
// that failed (the connection closed before the upgrade completed).
func (b *Batch) Probe(conn string) { b.Ops = append(b.Ops, Op{Kind: OpProbe, Socket: conn}) }

// Upgrade records the completion of the upgrade to the probing connection.
func (b *Batch) Upgrade() { b.Ops = append(b.Ops, Op{Kind: OpUpgrade}) }

// Close records the end of the session with reason; owesNoop says that the client asked for it
// over long-polling (see [ClosedError.OwesNoop]). Later operations of the batch are ignored.
func (b *Batch) Close(reason Reason, owesNoop bool) {
	b.Ops = append(b.Ops, Op{Kind: OpClose, Reason: reason, OwesNoop: owesNoop})
}

// Require makes the commit conditional on the session's heartbeat clock being still c: the
// sweeper's guard against a pong (or a first connect) that raced its decision. Otherwise the
// commit fails with [ErrAlive] and applies nothing.
func (b *Batch) Require(c Clock) { b.Ops = append(b.Ops, Op{Kind: OpRequire, Clock: c}) }

// CloseIf is Require(c) and Close(reason, false).
func (b *Batch) CloseIf(reason Reason, c Clock) {
	b.Require(c)
	b.Close(reason, false)
}

// Schedule records new sweeper hints for the session.
func (b *Batch) Schedule(sc Schedule) { b.Ops = append(b.Ops, Op{Kind: OpSchedule, Schedule: sc}) }

// Has reports whether the batch records an operation of kind k.
func (b *Batch) Has(k OpKind) bool {
	return slices.ContainsFunc(b.Ops, func(op Op) bool { return op.Kind == k })
}

// dedupe returns list without repeated names, in first-seen order (list itself if it has none).
func dedupe(list []string) []string {
	for i := 1; i < len(list); i++ {
		if slices.Contains(list[:i], list[i]) {
			out := make([]string, 0, len(list))
			for _, s := range list {
				if !slices.Contains(out, s) {
					out = append(out, s)
				}
			}
			return out
		}
	}
	return list
}
