package hub

import (
	"context"
	"time"

	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/wsconn"
)

// maxLoadRounds bounds the reads of one opening connection: a user
// published to faster than the store answers is registered with what was
// read after this many.
const maxLoadRounds = 8

// loadTimeout bounds reading a user's state from the cluster's store.
const loadTimeout = 5 * time.Second

// CloseTryAgain closes a connection whose user's state this node cannot
// read now (RFC 6455 §7.4.1, 1013 Try Again Later): the client reconnects,
// to this node or another.
const CloseTryAgain = 1013

// clusterOpen is OnOpen in a cluster. A user this node already follows
// (loaded: its sequence number and unread count are kept current by
// Deliver) opens at once, as on a single node, unless the connection
// resumes from before what the node holds; otherwise the user's state and
// missed messages are read from the store off the loop, and the
// connection is registered back on its loop. Until then it is in no list:
// no message can reach it before its hello.
func (h *Hub) clusterOpen(u *user, c *wsconn.Conn, since uint64, replay bool) {
	mu := h.lock(u)
	mu.Lock()
	if !u.loaded && !h.cs.cl.Stored(u.name) {
		// A user with nothing stored: nothing to read. (A message stored
		// meanwhile on another node reaches it through Deliver.)
		u.unread, u.loaded = 0, true
	}
	if u.loaded && (!replay || since >= u.seq) {
		u.opens--
		h.registerLocked(u, c, since, replay, nil)
		mu.Unlock()
		return
	}
	mu.Unlock()
	h.cs.queueLoad(loadJob{u: u, c: c, since: since, replay: replay})
}

// loadJob is a connection waiting for its user's state.
type loadJob struct {
	u      *user
	c      *wsconn.Conn
	since  uint64
	replay bool
	got    *UserState
}

// loadWorkers read users' states for opening connections: a few
// goroutines, not one per connection, so that a connect storm (a node's
// clients reconnecting at once) costs a queue entry per connection, not a
// goroutine stack and its garbage.
const loadWorkers = 32

// queueLoad hands a job to the workers; past the queue's room it starts a
// goroutine of its own rather than block the event loop.
func (cs *clusterState) queueLoad(j loadJob) {
	select {
	case cs.loads <- j:
	default:
		go cs.h.clusterLoad(j.u, j.c, j.since, j.replay, j.got)
	}
}

func (cs *clusterState) loadWorker() {
	for j := range cs.loads {
		cs.h.clusterLoad(j.u, j.c, j.since, j.replay, j.got)
	}
}

// clusterLoad reads what the connection needs from the store (u.opens
// still counts it, so the user stays), then registers it on its loop.
// got holds messages read by an earlier round.
func (h *Hub) clusterLoad(u *user, c *wsconn.Conn, since uint64, replay bool, got *UserState) {
	ctx, cancel := context.WithTimeout(context.Background(), loadTimeout)
	defer cancel()
	from := since
	if got != nil && len(got.Messages) > 0 {
		from = got.Messages[len(got.Messages)-1].Seq
	}
	st, err := h.cs.cl.Load(ctx, u.name, from, replay)
	if err != nil {
		h.cs.loadFail.Add(1)
		c.OnLoop(func() {
			h.abandonOpen(u)
			h.opt.Logger.Warn("cluster: cannot load user state", "user", u.name, "err", err)
			c.Close(CloseTryAgain, "cluster store unavailable: try again")
		})
		return
	}
	if got != nil {
		st.Messages = append(got.Messages, st.Messages...)
		st.First, st.rounds = got.First, got.rounds
	}
	st.rounds++
	c.OnLoop(func() { h.finishOpen(u, c, since, replay, &st) })
}

// abandonOpen forgets a connection that will not be registered.
func (h *Hub) abandonOpen(u *user) {
	mu := h.lock(u)
	mu.Lock()
	u.opens--
	mu.Unlock()
	h.dropIfEmpty(u)
}

// finishOpen runs on the connection's loop with the user's stored state.
func (h *Hub) finishOpen(u *user, c *wsconn.Conn, since uint64, replay bool, st *UserState) {
	mu := h.lock(u)
	mu.Lock()
	if !u.loaded {
		// Deliver kept u.seq at the newest message it saw since the entry
		// was made; the store's Last covers everything stored before the
		// load. Together they are the user's newest.
		u.seq = max(u.seq, st.Last)
		u.unread = unreadOf(u.seq, st.Read)
		u.loaded = true
	}
	have := since
	if n := len(st.Messages); n > 0 {
		have = st.Messages[n-1].Seq
	}
	if replay && have < u.seq && st.rounds < maxLoadRounds {
		// Newer messages were delivered while we read: read them too
		// (a resuming connection must get every one, in order).
		mu.Unlock()
		h.cs.queueLoad(loadJob{u: u, c: c, since: since, replay: replay, got: st})
		return
	}
	u.opens--
	if !c.IsOpen() {
		mu.Unlock()
		h.dropIfEmpty(u)
		return
	}
	h.registerLocked(u, c, since, replay, st)
	mu.Unlock()
}

// registerLocked adds an open connection to its user (whose lock is held)
// and sends the hello and, with replay, the messages after since (from st,
// read from the store; up to the user's newest this node delivered: later
// ones come through Deliver).
func (h *Hub) registerLocked(u *user, c *wsconn.Conn, since uint64, replay bool, st *UserState) {
	h.everyone.Add(c)
	u.addConn(c)
	if u.online() == 1 {
		h.onlineUsers.Add(1)
	}
	first := keptFrom(u.seq, uint64(h.opt.History))
	if st != nil {
		first = st.First
		if len(st.Messages) > 0 && st.Messages[0].Seq < first {
			first = st.Messages[0].Seq
		}
	}
	var buf [256]byte
	hello := Hello{User: u.name, Seq: u.seq, First: first, Unread: int64(u.unread), Online: u.online()}
	c.Send(frame.OpText, hello.AppendJSON(buf[:0]))
	if !replay {
		return
	}
	if since+1 < first && since < u.seq {
		c.Send(frame.OpText, Gap{Since: since, First: first}.AppendJSON(buf[:0]))
	}
	if st == nil {
		return
	}
	for i := range st.Messages {
		m := &st.Messages[i]
		if m.Seq <= since || m.Seq > u.seq {
			continue
		}
		e := entry{seq: m.Seq, at: m.At, body: m.Body, binary: m.Binary}
		c.SendPrepared(u.frameFor(&e))
	}
}

// keptFrom is the oldest sequence number a store keeping the last history
// messages of each user holds when the newest is last (gap-free numbers).
func keptFrom(last, history uint64) uint64 {
	if last < history {
		return 1
	}
	return last - history + 1
}
