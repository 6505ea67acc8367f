package hub

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/wsconn"
)

// Cluster is what a hub needs from the nodes it shares its users with
// (package cluster implements it over NATS and JetStream). Without one the
// hub is a single node holding everything in memory, and none of the code
// in the cluster*.go files runs.
//
// The division of work: the cluster stores user messages durably and hands
// every stored one to every node's hub (Deliver, in each user's order);
// the hub writes them to its own connections. Broadcasts and room sends
// travel once per node (Relay → Relayed) and each hub fans them out through
// its usual encoded-once path.
type Cluster interface {
	// Store keeps a message for user and returns its sequence number once
	// the store acknowledged it; an error means it may not be stored.
	Store(ctx context.Context, user string, body []byte, binary bool) (seq uint64, err error)
	// Load reads a user's state and, with replay, the kept messages after
	// since, oldest first.
	Load(ctx context.Context, user string, since uint64, replay bool) (UserState, error)
	// Stored reports whether user may have stored messages; false means
	// surely none (a new user), and its connections open at once.
	Stored(user string) bool
	// MarkRead records that user has read everything up to seq.
	MarkRead(ctx context.Context, user string, seq uint64) error
	// Relay hands m to every node's hub, this one included (Hub.Relayed).
	Relay(m Relayed) error
	// Ready reports whether this node can store now.
	Ready() bool
	// Gather asks every node for its figures (NodeInfo), the user's
	// connections among them when user is not empty, until every known
	// node answered or ctx ends.
	Gather(ctx context.Context, user string) []NodeInfo
	// Connections is the number of hub connections the nodes last
	// reported in their heartbeats (no messages sent to count them).
	Connections() int64
	// Health is this node's view of the cluster, for /healthz.
	Health() any
	// Node is this node's name.
	Node() string
}

// UserState is a user's state in the cluster's store.
type UserState struct {
	Last     uint64 // the user's last sequence number (0: none yet)
	First    uint64 // the oldest still kept (Last+1 when none is)
	Read     uint64 // read up to this sequence number
	Messages []StoredMessage

	rounds int // reads so far for one opening connection
}

// StoredMessage is a user message as the cluster stored it.
type StoredMessage struct {
	Seq    uint64
	At     int64 // Unix nanoseconds, the store's time
	Body   []byte
	Binary bool
}

// Relayed is a message for every node: a broadcast, a room send, or one of
// the channels registered with OnRelay.
type Relayed struct {
	Channel string // "broadcast", "room", or a registered channel
	Room    string // for "room"
	From    string // for "room": the member who said it, if any
	Body    []byte
	Binary  bool
}

// NodeInfo is one node's answer to Gather.
type NodeInfo struct {
	Node   string `json:"node"`
	Counts        // its hub's counts
	Online int    `json:"user_online,omitempty"` // the asked user's connections there
}

// ErrUnavailable is what publishes answer while the cluster cannot store.
var ErrUnavailable = errors.New("this node cannot reach the cluster's store now; try again or another node")

// clusterState is the hub's side of a cluster.
type clusterState struct {
	h        *Hub
	cl       Cluster
	loads    chan loadJob // connections whose user's state is to be read (cluster_open.go)
	relayMu  sync.RWMutex
	relays   map[string]func(Relayed)
	relayed  atomicCount // relayed messages this node handled (one per broadcast/room send/channel message)
	loadFail atomicCount // connections closed because their state could not be loaded
}

// SetCluster joins the hub to a cluster; call it before the server starts.
func (h *Hub) SetCluster(c Cluster) {
	h.cs = &clusterState{h: h, cl: c, relays: map[string]func(Relayed){}, loads: make(chan loadJob, 1<<12)}
	for range loadWorkers {
		go h.cs.loadWorker()
	}
}

// Clustered reports whether the hub is a node of a cluster.
func (h *Hub) Clustered() bool { return h.cs != nil }

// OnRelay registers fn for messages relayed on channel (Relay). Without a
// cluster, Relay calls it directly.
func (h *Hub) OnRelay(channel string, fn func(Relayed)) {
	if h.cs == nil {
		h.localRelays.Store(channel, fn)
		return
	}
	h.cs.relayMu.Lock()
	h.cs.relays[channel] = fn
	h.cs.relayMu.Unlock()
}

// Relay sends m to every node's handler of its channel (to this node's
// only, without a cluster).
func (h *Hub) Relay(m Relayed) error {
	if h.cs == nil {
		if fn, ok := h.localRelays.Load(m.Channel); ok {
			fn.(func(Relayed))(m)
		}
		return nil
	}
	return h.cs.cl.Relay(m)
}

// Relayed is called by the cluster for every relayed message, once per
// node: broadcasts and room sends go to this node's connections through
// the same encoded-once path as on a single node.
func (h *Hub) Relayed(m Relayed) {
	h.cs.relayed.Add(1)
	switch m.Channel {
	case "broadcast":
		h.broadcastLocal(m.Body, m.Binary)
	case "room":
		h.sendRoomLocal(m.Room, m.From, m.Body, m.Binary)
	default:
		h.cs.relayMu.RLock()
		fn := h.cs.relays[m.Channel]
		h.cs.relayMu.RUnlock()
		if fn != nil {
			fn(m)
		}
	}
}

// RelayedCount is how many relayed messages this node handled.
func (h *Hub) RelayedCount() int64 {
	if h.cs == nil {
		return 0
	}
	return h.cs.relayed.Load()
}

// PublishErr is Publish that reports a failure to store (cluster only;
// a single node always stores). In a cluster it returns once the store
// acknowledged, before the message reaches connections: delivered is then
// 0, and every node delivers it to its own.
func (h *Hub) PublishErr(ctx context.Context, name string, body []byte, binary bool) (seq uint64, delivered int, err error) {
	if h.cs == nil {
		seq, delivered = h.Publish(name, body, binary)
		return seq, delivered, nil
	}
	if !h.cs.cl.Ready() {
		return 0, 0, ErrUnavailable
	}
	seq, err = h.cs.cl.Store(ctx, name, body, binary)
	if err != nil {
		return 0, 0, err
	}
	h.published.Add(1)
	return seq, 0, nil
}

// BroadcastErr is Broadcast that reports a failure to relay. In a cluster
// the count is of the connections the nodes reported in their last
// heartbeats (asking them would cost more messages than the broadcast).
func (h *Hub) BroadcastErr(body []byte, binary bool) (int, error) {
	if h.cs == nil {
		return h.Broadcast(body, binary), nil
	}
	if err := h.Relay(Relayed{Channel: "broadcast", Body: body, Binary: binary}); err != nil {
		return 0, err
	}
	h.broadcasts.Add(1)
	return int(h.cs.cl.Connections()), nil
}

// gatherTimeout bounds a scatter-gather for /stats, /users and counts.
const gatherTimeout = 500 * time.Millisecond

// broadcastLocal is Broadcast's fan-out on this node.
func (h *Hub) broadcastLocal(body []byte, binary bool) int {
	m := Broadcast{Body: body, Binary: binary}
	p := wsconn.Prepare(frame.OpText, m.AppendJSON(make([]byte, 0, 32+len(body)*4/3)))
	return h.everyone.Send(p)
}

// sendRoomLocal is a room send's fan-out on this node.
func (h *Hub) sendRoomLocal(name, from string, body []byte, binary bool) int {
	h.roomMu.Lock()
	r := h.rooms[name]
	h.roomMu.Unlock()
	if r == nil {
		return 0
	}
	m := RoomMessage{Room: name, From: from, Body: body, Binary: binary}
	return h.sendRoom(r, wsconn.Prepare(frame.OpText, m.AppendJSON(make([]byte, 0, 48+len(body)*4/3))))
}

// Deliver is called by the cluster for every stored user message, in each
// user's order, on every node. Messages this node already covered (by an
// earlier delivery or by a connection's replay) are skipped, so that every
// connection gets each message once.
func (h *Hub) Deliver(name string, m StoredMessage) {
	u := h.lookup(name, false)
	if u == nil {
		return // nobody here: the store keeps it for when they come
	}
	mu := h.lock(u)
	mu.Lock()
	defer mu.Unlock()
	if u.dead || m.Seq <= u.seq {
		return
	}
	prev := u.seq
	if u.loaded {
		u.unread += uint32(m.Seq - u.seq)
	}
	u.seq = m.Seq
	n := 0
	if u.loaded && u.online() > 0 {
		if m.Seq > prev+1 {
			// The store dropped messages before this node read them (more
			// than -history to one user faster than the node follows):
			// they are no longer kept, which is what a gap says.
			p := wsconn.Prepare(frame.OpText, Gap{Since: prev, First: m.Seq}.AppendJSON(nil))
			u.each(func(c *wsconn.Conn) { c.SendPrepared(p) })
		}
		e := entry{seq: m.Seq, at: m.At, body: m.Body, binary: m.Binary}
		p := u.frameFor(&e)
		u.each(func(c *wsconn.Conn) {
			if c.SendPrepared(p) == nil {
				n++
			}
		})
	}
	u.wake()
	h.delivered.Add(int64(n))
}

// ReadUpTo is called by the cluster when a user's read marker moved (on
// any node): this node's connections of the user get the new count.
func (h *Hub) ReadUpTo(name string, read uint64) {
	u := h.lookup(name, false)
	if u == nil {
		return
	}
	mu := h.lock(u)
	mu.Lock()
	defer mu.Unlock()
	if u.dead || !u.loaded {
		return
	}
	u.unread = unreadOf(u.seq, read)
	p := wsconn.Prepare(frame.OpText, Unread{Unread: int64(u.unread), Seq: u.seq}.AppendJSON(nil))
	u.each(func(c *wsconn.Conn) { c.SendPrepared(p) })
}

func unreadOf(last, read uint64) uint32 {
	if read >= last {
		return 0
	}
	return uint32(min(last-read, 1<<32-1))
}

// markReadCluster records the read in the store; every node, this one
// included, tells its connections when the store's watch reports it.
func (h *Hub) markReadCluster(u *user, c *wsconn.Conn) {
	mu := h.lock(u)
	mu.Lock()
	seq := u.seq
	mu.Unlock()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), loadTimeout)
		defer cancel()
		if err := h.cs.cl.MarkRead(ctx, u.name, seq); err != nil {
			reply(c, Error{Message: "read: " + err.Error()})
		}
	}()
}

// LocalCounts are this node's counts, for the cluster's Gather.
func (h *Hub) LocalCounts() Counts { return h.Counts() }

// LocalOnline is the number of this node's connections of a user.
func (h *Hub) LocalOnline(name string) int {
	u := h.lookup(name, false)
	if u == nil {
		return 0
	}
	mu := h.lock(u)
	mu.Lock()
	defer mu.Unlock()
	return u.online()
}
