package hub

import (
	"encoding/binary"
	"encoding/json"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/wsconn"
)

// Options configure a Hub. Zero fields take the defaults in brackets.
type Options struct {
	History     int           // messages kept per user for resume and polling [100]
	MaxMessage  int64         // largest published body, → 413 [16 MiB]
	APIToken    string        // Bearer token for the publish API; empty: loopback clients only
	MaxPollWait time.Duration // cap on a long poll's ?wait= [60s]
	Logger      *slog.Logger  // [slog.Default()]
}

// Hub holds users, rooms and their connections.
type Hub struct {
	opt   Options
	srv   *wsconn.Server
	start time.Time

	mu    sync.RWMutex
	users map[string]*user
	rooms map[string]*room

	// Members by event loop: each list is touched only on its own loop's
	// goroutine (members open and close there, broadcasts run there), so
	// a broadcast walks it without a lock.
	loops []loopMembers

	online      atomic.Int64 // hub connections (users and chat)
	onlineUsers atomic.Int64 // users with at least one connection
	published   atomic.Int64
	broadcasts  atomic.Int64
	roomSends   atomic.Int64
	delivered   atomic.Int64 // frames handed to connections by publish, room and broadcast sends
	orders      atomic.Int64
}

// user is everything known about one user id.
type user struct {
	name    string
	mu      sync.Mutex
	conns   []*member
	seq     uint64 // last sequence number given
	unread  int64
	hist    []entry       // ring of the last History messages
	head    int           // index of the oldest in hist
	n       int           // entries in hist
	notify  chan struct{} // closed by Publish: wakes long polls
	waiters int           // long polls waiting on notify
	dead    bool          // removed from the registry: look it up again
}

// entry is a kept message. Its frame is encoded again on replay (rare),
// so that only the body is kept.
type entry struct {
	seq    uint64
	at     time.Time
	body   []byte
	binary bool
}

type room struct {
	name    string
	mu      sync.RWMutex
	members map[*member]struct{}
	dead    bool
}

// New makes a hub; Attach gives it the server it runs on.
func New(opt Options) *Hub {
	if opt.History <= 0 {
		opt.History = 100
	}
	if opt.MaxMessage <= 0 {
		opt.MaxMessage = 16 << 20
	}
	if opt.MaxPollWait <= 0 {
		opt.MaxPollWait = 60 * time.Second
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	return &Hub{opt: opt, start: time.Now(), users: map[string]*user{}, rooms: map[string]*room{}}
}

// Attach connects the hub to its server (for broadcasts over the loops).
// Call it before Start.
func (h *Hub) Attach(s *wsconn.Server) {
	h.srv = s
	h.loops = make([]loopMembers, s.NumLoops())
	for i := range h.loops {
		lm := &h.loops[i]
		lm.h, lm.id, lm.chunk = h, i, broadcastChunk
		lm.step = lm.broadcastStep // one func value for the loop's life: re-posting it allocates nothing
	}
}

// lookup returns the user, creating it if asked.
func (h *Hub) lookup(name string, create bool) *user {
	h.mu.RLock()
	u := h.users[name]
	h.mu.RUnlock()
	if u != nil || !create {
		return u
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if u = h.users[name]; u == nil {
		u = &user{name: name}
		h.users[name] = u
	}
	return u
}

// lockUser returns the user locked, creating it; it never returns a user
// that was just removed.
func (h *Hub) lockUser(name string) *user {
	for {
		u := h.lookup(name, true)
		u.mu.Lock()
		if !u.dead {
			return u
		}
		u.mu.Unlock()
	}
}

// dropIfEmpty removes a user with no connection, no history and no unread
// messages: connect/close cycles leave nothing behind.
func (h *Hub) dropIfEmpty(u *user) {
	h.mu.Lock()
	u.mu.Lock()
	if !u.dead && len(u.conns) == 0 && u.n == 0 && u.unread == 0 && u.notify == nil && h.users[u.name] == u {
		u.dead = true
		delete(h.users, u.name)
	}
	u.mu.Unlock()
	h.mu.Unlock()
}

// Publish sends body to every connection of the user and keeps it in the
// user's history; it returns the message's sequence number and how many
// connections it was written or queued to.
func (h *Hub) Publish(name string, body []byte, binary bool) (seq uint64, delivered int) {
	u := h.lockUser(name)
	defer u.mu.Unlock()
	u.seq++
	u.unread++
	e := entry{seq: u.seq, at: time.Now(), body: append([]byte(nil), body...), binary: binary}
	p := u.frameFor(&e)
	u.keep(e, h.opt.History)
	for _, m := range u.conns {
		if m.c.SendPrepared(p) == nil {
			delivered++
		}
	}
	if u.notify != nil {
		close(u.notify)
		u.notify = nil
	}
	h.published.Add(1)
	h.delivered.Add(int64(delivered))
	return u.seq, delivered
}

// frameFor encodes a user message: a JSON envelope, or for binary bodies
// the 8-byte sequence number and the body.
func (u *user) frameFor(e *entry) *wsconn.Prepared {
	if e.binary {
		b := make([]byte, 8, 8+len(e.body))
		binary.BigEndian.PutUint64(b, e.seq)
		return wsconn.Prepare(frame.OpBinary, append(b, e.body...))
	}
	b := make([]byte, 0, 96+len(e.body))
	b = append(b, `{"type":"message","seq":`...)
	b = strconv.AppendUint(b, e.seq, 10)
	b = append(b, `,"unread":`...)
	b = strconv.AppendInt(b, u.unread, 10)
	b = append(b, `,"time":"`...)
	b = e.at.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","data":`...)
	b = appendData(b, e.body)
	b = append(b, '}')
	return wsconn.Prepare(frame.OpText, b)
}

// appendData embeds a body: as is when it is JSON, else as a JSON string.
func appendData(b, body []byte) []byte {
	if len(body) > 0 && json.Valid(body) {
		return append(b, body...)
	}
	q, _ := json.Marshal(string(body))
	return append(b, q...)
}

// keep adds e to the ring, which grows up to max entries and then drops
// the oldest.
func (u *user) keep(e entry, max int) {
	if u.n == len(u.hist) && len(u.hist) < max {
		grown := make([]entry, min(max, 2*len(u.hist)+4))
		for i := range u.n {
			grown[i] = *u.at(i)
		}
		u.hist, u.head = grown, 0
	}
	if u.n < len(u.hist) {
		u.hist[(u.head+u.n)%len(u.hist)] = e
		u.n++
		return
	}
	u.hist[u.head] = e
	u.head = (u.head + 1) % len(u.hist)
}

// at returns the i-th kept entry, oldest first.
func (u *user) at(i int) *entry { return &u.hist[(u.head+i)%len(u.hist)] }

// firstSeq is the oldest sequence number still kept (seq+1 when none).
func (u *user) firstSeq() uint64 {
	if u.n == 0 {
		return u.seq + 1
	}
	return u.at(0).seq
}

// since returns the kept entries after seq, in order.
func (u *user) since(seq uint64) []*entry {
	var out []*entry
	for i := range u.n {
		if e := u.at(i); e.seq > seq {
			out = append(out, e)
		}
	}
	return out
}

// SendRoom sends body to every member of a room and returns how many.
func (h *Hub) SendRoom(name string, op frame.Opcode, body []byte) int {
	h.mu.RLock()
	r := h.rooms[name]
	h.mu.RUnlock()
	if r == nil {
		return 0
	}
	return h.sendRoom(r, wsconn.Prepare(op, body))
}

func (h *Hub) sendRoom(r *room, p *wsconn.Prepared) int {
	n := 0
	r.mu.RLock()
	for m := range r.members {
		if m.c.SendPrepared(p) == nil {
			n++
		}
	}
	r.mu.RUnlock()
	h.roomSends.Add(1)
	h.delivered.Add(int64(n))
	return n
}

// join adds m to a room, creating it.
func (h *Hub) join(m *member, name string) *room {
	for _, r := range m.rooms {
		if r.name == name {
			return r
		}
	}
	for {
		h.mu.Lock()
		r := h.rooms[name]
		if r == nil {
			r = &room{name: name, members: map[*member]struct{}{}}
			h.rooms[name] = r
		}
		h.mu.Unlock()
		r.mu.Lock()
		if r.dead {
			r.mu.Unlock()
			continue
		}
		r.members[m] = struct{}{}
		r.mu.Unlock()
		m.rooms = append(m.rooms, r)
		return r
	}
}

// leave removes m from a room, and the room when it is empty.
func (h *Hub) leave(m *member, r *room) {
	for i, x := range m.rooms {
		if x == r {
			m.rooms = append(m.rooms[:i], m.rooms[i+1:]...)
			break
		}
	}
	h.mu.Lock()
	r.mu.Lock()
	delete(r.members, m)
	if len(r.members) == 0 && !r.dead {
		r.dead = true
		delete(h.rooms, r.name)
	}
	r.mu.Unlock()
	h.mu.Unlock()
}

// UserInfo is what /users/{user} reports.
type UserInfo struct {
	User   string `json:"user"`
	Online int    `json:"online"` // connections now
	Seq    uint64 `json:"seq"`    // last message's sequence number
	First  uint64 `json:"first"`  // oldest kept sequence number
	Unread int64  `json:"unread"`
}

// User returns a user's counts (zero values for an unknown user).
func (h *Hub) User(name string) UserInfo {
	info := UserInfo{User: name, First: 1}
	if u := h.lookup(name, false); u != nil {
		u.mu.Lock()
		info.Online, info.Seq, info.First, info.Unread = len(u.conns), u.seq, u.firstSeq(), u.unread
		u.mu.Unlock()
	}
	return info
}

// Counts are the hub's registry sizes and counters.
type Counts struct {
	Connections int64 `json:"hub_connections"`
	UsersOnline int64 `json:"users_online"`
	Users       int   `json:"users_known"`
	Rooms       int   `json:"rooms"`
	Published   int64 `json:"published"`
	Broadcasts  int64 `json:"broadcasts"`
	RoomSends   int64 `json:"room_sends"`
	Delivered   int64 `json:"delivered"`
}

// Counts returns the registry sizes and counters now.
func (h *Hub) Counts() Counts {
	h.mu.RLock()
	users, rooms := len(h.users), len(h.rooms)
	h.mu.RUnlock()
	return Counts{Connections: h.online.Load(), UsersOnline: h.onlineUsers.Load(), Users: users, Rooms: rooms,
		Published: h.published.Load(), Broadcasts: h.broadcasts.Load(), RoomSends: h.roomSends.Load(), Delivered: h.delivered.Load()}
}
