package hub

import (
	"hash/maphash"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/wsd-dev/wsd/auth"
	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/wsconn"
)

// Defaults, named so that wsd's flags and the library agree.
const (
	DefaultHistory     = 100
	DefaultMaxMessage  = wsconn.DefaultMaxMessage
	DefaultMaxPollWait = 60 * time.Second
)

// Options configure a Hub. Zero fields take the defaults in brackets.
type Options struct {
	History     int           // messages kept per user for resume and polling [DefaultHistory]
	MaxMessage  int64         // largest published body, → 413 [DefaultMaxMessage]
	APIToken    string        // Bearer token for the publish API; empty: loopback clients only
	MaxPollWait time.Duration // cap on a long poll's ?wait= [DefaultMaxPollWait]

	// Auth, when set, requires a signed token on every client endpoint
	// (see auth.go); nil leaves them open.
	Auth *auth.Verifier
	// MaxConnsPerUser caps a user's connections at once: more → 429 at
	// the handshake [no cap].
	MaxConnsPerUser int

	Logger *slog.Logger // [slog.Default()]
}

// Hub holds users, rooms and their connections, on a wsconn.Server whose
// routes it provides (Routes).
type Hub struct {
	opt      Options
	srv      *wsconn.Server
	start    time.Time
	everyone *wsconn.Group // every user connection: broadcasts

	mu    sync.RWMutex
	users registry
	locks [256]stripe // users' locks, by the user's address

	roomMu sync.Mutex
	rooms  map[string]*room
	joined map[*wsconn.Conn][]*room // the rooms of connections in any

	roomSets     roomSets // the rooms claims of tokens, interned
	authFailures *failureCounts

	online       atomic.Int64 // user connections
	onlineUsers  atomic.Int64 // users with at least one connection
	pollsWaiting atomic.Int64 // long polls waiting for a message (user.addWaiter)
	published    atomic.Int64
	broadcasts   atomic.Int64
	roomSends    atomic.Int64
	delivered    atomic.Int64 // frames handed to connections by publishes and room sends (broadcasts: Group.Sent)

	userCapRefusals atomic.Int64 // handshakes refused over MaxConnsPerUser

	dash        dashboard     // open dashboards and their samples (dashboard_sampler.go)
	cs          *clusterState // nil: a single node (see cluster.go)
	localRelays sync.Map      // channel → func(Relayed), without a cluster
}

// New makes a hub on srv (made with wsconn.New, not yet started). Serve
// its routes with srv.Start(h.Routes()).
func New(srv *wsconn.Server, opt Options) *Hub {
	if opt.History <= 0 {
		opt.History = DefaultHistory
	}
	if opt.MaxMessage <= 0 {
		opt.MaxMessage = DefaultMaxMessage
	}
	if opt.MaxPollWait <= 0 {
		opt.MaxPollWait = DefaultMaxPollWait
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	h := &Hub{opt: opt, srv: srv, start: time.Now(), everyone: srv.NewGroup(),
		rooms: map[string]*room{}, joined: map[*wsconn.Conn][]*room{}, authFailures: newFailureCounts()}
	h.users.seed = maphash.MakeSeed()
	srv.SetValue(h)
	return h
}

// stripe is one of the users' locks, alone on its cache line.
type stripe struct {
	sync.Mutex
	_ [56]byte
}

// lock returns u's lock: one of 256, by u's address (users never move).
// Users that share a stripe wait for each other, briefly; no code holds
// two users' locks at once, so they cannot deadlock.
func (h *Hub) lock(u *user) *sync.Mutex {
	p := uint64(uintptr(unsafe.Pointer(u)))
	return &h.locks[(p*0x9E3779B97F4A7C15)>>56].Mutex
}

// hubOf finds the hub of a connection's server.
func hubOf(c *wsconn.Conn) *Hub { return c.Server().Value().(*Hub) }

// Routes are the hub's endpoints, for wsconn.Server.Start: the user
// connections and the HTTP API.
func (h *Hub) Routes() wsconn.Routes { return wsconn.Routes{Upgrade: h.Upgrade, HTTP: h.Handler()} }

// lookup returns the user, creating it if asked. name may be a view of a
// buffer: it is copied only when a user is made.
func (h *Hub) lookup(name string, create bool) *user {
	h.mu.RLock()
	u := h.users.get(name)
	h.mu.RUnlock()
	if u != nil || !create {
		return u
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if u = h.users.get(name); u == nil {
		u = &user{name: string([]byte(name))} // interned once: the registry's key too
		h.users.put(u)
	}
	return u
}

// lockUserBytes is lockUser for a name in a buffer, copied only when a
// user is made.
func (h *Hub) lockUserBytes(name []byte) (*user, *sync.Mutex) {
	return h.lockUser(unsafe.String(unsafe.SliceData(name), len(name)))
}

// lockUser returns the user with its lock held, creating it; it never
// returns a user that was just removed.
func (h *Hub) lockUser(name string) (*user, *sync.Mutex) {
	for {
		u := h.lookup(name, true)
		mu := h.lock(u)
		mu.Lock()
		if !u.dead {
			return u, mu
		}
		mu.Unlock()
	}
}

// dropIfEmpty removes a user with no connection, no history and no unread
// messages: connect/close cycles leave nothing behind.
func (h *Hub) dropIfEmpty(u *user) {
	h.mu.Lock()
	mu := h.lock(u)
	mu.Lock()
	if !u.dead && u.empty() {
		u.dead = true
		h.users.del(u)
	}
	mu.Unlock()
	h.mu.Unlock()
}

// Publish sends body to every connection of the user and keeps it in the
// user's history; it returns the message's sequence number and how many
// connections it was written or queued to.
func (h *Hub) Publish(name string, body []byte, binary bool) (seq uint64, delivered int) {
	u, mu := h.lockUser(name)
	defer mu.Unlock()
	u.seq++
	u.unread++
	e := entry{seq: u.seq, at: time.Now().UnixNano(), body: append([]byte(nil), body...), binary: binary}
	p := u.frameFor(&e)
	u.keep(e, h.opt.History)
	u.each(func(c *wsconn.Conn) {
		if c.SendPrepared(p) == nil {
			delivered++
		}
	})
	u.wake()
	h.published.Add(1)
	h.delivered.Add(int64(delivered))
	return u.seq, delivered
}

// Broadcast sends body to every user connection, wrapped as
// {"type":"broadcast",…} and encoded once; each loop writes it to its own
// connections, in parallel, a chunk at a time between its other work, and
// the call returns at once. It returns the number of connections at the
// time.
func (h *Hub) Broadcast(body []byte, binary bool) int {
	m := Broadcast{Body: body, Binary: binary}
	p := wsconn.Prepare(frame.OpText, m.AppendJSON(make([]byte, 0, 32+len(body)*4/3)))
	h.broadcasts.Add(1)
	return h.everyone.Send(p)
}

// markRead sets the user's unread count to 0 and tells all its connections.
func (h *Hub) markRead(u *user, c *wsconn.Conn) {
	if h.cs != nil {
		h.markReadCluster(u, c)
		return
	}
	mu := h.lock(u)
	mu.Lock()
	defer mu.Unlock()
	u.unread = 0
	p := wsconn.Prepare(frame.OpText, Unread{Unread: 0, Seq: u.seq}.AppendJSON(nil))
	u.each(func(c *wsconn.Conn) { c.SendPrepared(p) })
}

// UserInfo is what /users/{user} reports.
type UserInfo struct {
	User   string `json:"user"`
	Online int    `json:"online"` // connections now
	Seq    uint64 `json:"seq"`    // last message's sequence number
	First  uint64 `json:"first"`  // oldest kept sequence number
	Unread int64  `json:"unread"`
	// Nodes are the user's connections on each node (in a cluster).
	Nodes map[string]int `json:"nodes,omitempty"`
}

// User returns a user's counts (zero values for an unknown user).
func (h *Hub) User(name string) UserInfo {
	info := UserInfo{User: name, First: 1}
	if u := h.lookup(name, false); u != nil {
		mu := h.lock(u)
		mu.Lock()
		info.Online, info.Seq, info.First, info.Unread = u.online(), u.seq, u.firstSeq(), int64(u.unread)
		mu.Unlock()
	}
	return info
}

// Counts are the hub's registry sizes and counters.
type Counts struct {
	Connections  int64 `json:"hub_connections"`
	UsersOnline  int64 `json:"users_online"`
	Users        int   `json:"users_known"`
	Rooms        int   `json:"rooms"`
	Published    int64 `json:"published"`
	Broadcasts   int64 `json:"broadcasts"`
	RoomSends    int64 `json:"room_sends"`
	Delivered    int64 `json:"delivered"`     // frames handed to connections by every kind of send
	PollsWaiting int64 `json:"polls_waiting"` // long polls waiting for a message now
}

// Counts returns the registry sizes and counters now.
func (h *Hub) Counts() Counts {
	h.mu.RLock()
	users := h.users.n
	h.mu.RUnlock()
	h.roomMu.Lock()
	rooms := len(h.rooms)
	h.roomMu.Unlock()
	return Counts{Connections: h.online.Load(), UsersOnline: h.onlineUsers.Load(), Users: users, Rooms: rooms,
		Published: h.published.Load(), Broadcasts: h.broadcasts.Load(), RoomSends: h.roomSends.Load(),
		Delivered: h.delivered.Load() + h.everyone.Sent(), PollsWaiting: h.pollsWaiting.Load()}
}

type atomicCount = atomic.Int64
