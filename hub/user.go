package hub

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/wsconn"
)

// user is everything known about one user id. It is also the handler of
// the user's connections (see conn.go): a connection costs the user
// nothing beyond a slot among its connections. What only an active user
// needs — more connections, the history ring, long-poll waiters — sits in
// more, made when first needed and dropped when empty, so that an idle
// user with one connection is these 48 bytes and its name. (Its lock is
// one of the hub's stripes, Hub.lock, and the hub is found through the
// connection's server: a pointer to either would make it 64.)
type user struct {
	name   string
	seq    uint64 // last sequence number given
	unread uint32
	dead   bool         // removed from the registry: look it up again
	loaded bool         // in a cluster: seq and unread are the cluster's, kept current by Deliver (cluster_open.go)
	opens  uint16       // connections between Upgrade and being registered (in a cluster, while their state loads): the user must stay
	conn   *wsconn.Conn // the first connection, or nil
	more   *userMore
}

type userMore struct {
	conns   []*wsconn.Conn // connections after the first
	hist    []entry        // ring of the last History messages
	head    int            // index of the oldest in hist
	n       int            // entries in hist
	notify  chan struct{}  // closed by Publish: wakes long polls
	waiters int            // long polls waiting on notify
}

// entry is a kept message. Its frame is encoded again on replay (rare),
// so that only the body is kept.
type entry struct {
	seq    uint64
	at     int64 // Unix nanoseconds
	body   []byte
	binary bool
}

// The caller of every method below holds the user's lock (Hub.lock).

func (u *user) moreOf() *userMore {
	if u.more == nil {
		u.more = &userMore{}
	}
	return u.more
}

// trim drops more once nothing in it is needed.
func (u *user) trim() {
	if m := u.more; m != nil && len(m.conns) == 0 && m.n == 0 && m.waiters == 0 {
		u.more = nil
	}
}

// online is the number of the user's connections.
func (u *user) online() int {
	n := 0
	if u.conn != nil {
		n = 1
	}
	if u.more != nil {
		n += len(u.more.conns)
	}
	return n
}

// each calls fn for every connection of the user.
func (u *user) each(fn func(c *wsconn.Conn)) {
	if u.conn != nil {
		fn(u.conn)
	}
	if u.more != nil {
		for _, c := range u.more.conns {
			fn(c)
		}
	}
}

func (u *user) addConn(c *wsconn.Conn) {
	if u.conn == nil {
		u.conn = c
		return
	}
	m := u.moreOf()
	m.conns = append(m.conns, c)
}

// removeConn takes c out of the user's connections and reports whether it
// was there (in a cluster a connection may close before it was added).
func (u *user) removeConn(c *wsconn.Conn) (found bool) {
	m := u.more
	found = true
	if u.conn == c {
		u.conn = nil
		if m != nil && len(m.conns) > 0 {
			u.conn = m.conns[len(m.conns)-1]
			m.conns[len(m.conns)-1] = nil
			m.conns = m.conns[:len(m.conns)-1]
		}
	} else if m != nil {
		if i := slices.Index(m.conns, c); i >= 0 {
			m.conns = slices.Delete(m.conns, i, i+1)
		} else {
			found = false
		}
	} else {
		found = false
	}
	if m != nil && len(m.conns) == 0 {
		m.conns = nil
	}
	u.trim()
	return found
}

// empty reports whether the user holds nothing worth keeping.
// (A loaded user's unread count is the cluster's: the store keeps it.)
func (u *user) empty() bool {
	return u.conn == nil && u.more == nil && (u.unread == 0 || u.loaded) && u.opens == 0
}

// keep adds e to the ring, which grows up to max entries and then drops
// the oldest.
func (u *user) keep(e entry, max int) {
	m := u.moreOf()
	if m.n == len(m.hist) && len(m.hist) < max {
		grown := make([]entry, min(max, 2*len(m.hist)+4))
		for i := range m.n {
			grown[i] = *m.at(i)
		}
		m.hist, m.head = grown, 0
	}
	if m.n < len(m.hist) {
		m.hist[(m.head+m.n)%len(m.hist)] = e
		m.n++
		return
	}
	m.hist[m.head] = e
	m.head = (m.head + 1) % len(m.hist)
}

// at returns the i-th kept entry, oldest first.
func (m *userMore) at(i int) *entry { return &m.hist[(m.head+i)%len(m.hist)] }

// kept returns the number of kept messages.
func (u *user) kept() int {
	if u.more == nil {
		return 0
	}
	return u.more.n
}

// firstSeq is the oldest sequence number still kept (seq+1 when none).
func (u *user) firstSeq() uint64 {
	if u.kept() == 0 {
		return u.seq + 1
	}
	return u.more.at(0).seq
}

// since calls fn for each kept entry after seq, in order.
func (u *user) since(seq uint64, fn func(e *entry)) {
	for i := range u.kept() {
		if e := u.more.at(i); e.seq > seq {
			fn(e)
		}
	}
}

// message returns e's envelope.
func (u *user) message(e *entry) Message {
	return Message{Seq: e.seq, Unread: int64(u.unread), Time: time.Unix(0, e.at), Body: e.body, Binary: e.binary}
}

// frameFor encodes a user message: its JSON envelope, or for binary
// bodies the 8-byte sequence number and the body.
func (u *user) frameFor(e *entry) *wsconn.Prepared {
	if e.binary {
		return wsconn.PrepareEach(frame.OpBinary, AppendBinaryMessage(make([]byte, 0, 8+len(e.body)), e.seq, e.body))
	}
	return wsconn.PrepareEach(frame.OpText, u.message(e).AppendJSON(make([]byte, 0, 96+len(e.body))))
}

// wake ends the long polls waiting for a message.
func (u *user) wake() {
	if m := u.more; m != nil && m.notify != nil {
		close(m.notify)
		m.notify = nil
	}
}

// wait waits up to d (or until ctx ends) for a message after seq when
// none is kept: a long poll. It holds mu, the user's lock, on entry and on
// return, not while it waits.
func (u *user) wait(ctx context.Context, mu *sync.Mutex, waiting *atomic.Int64, seq uint64, d time.Duration) {
	if d <= 0 || u.seq > seq && u.kept() > 0 && u.more.at(u.more.n-1).seq > seq {
		return
	}
	ch := u.addWaiter(waiting)
	mu.Unlock()
	t := time.NewTimer(d)
	select {
	case <-ch: // Publish closed it
	case <-t.C:
	case <-ctx.Done():
	}
	t.Stop()
	mu.Lock()
	u.dropWaiter(waiting, ch)
}

// addWaiter registers a long poll on the user's next message and returns
// the channel its publish closes; waiting counts the hub's long polls
// (/stats polls_waiting). The caller holds the user's lock.
func (u *user) addWaiter(waiting *atomic.Int64) chan struct{} {
	m := u.moreOf()
	if m.notify == nil {
		m.notify = make(chan struct{})
	}
	m.waiters++
	waiting.Add(1)
	return m.notify
}

// dropWaiter ends a long poll that addWaiter registered with ch. The
// caller holds the user's lock.
func (u *user) dropWaiter(waiting *atomic.Int64, ch chan struct{}) {
	m := u.moreOf() // trim may not drop it while waiters > 0: still the same
	if m.waiters--; m.waiters == 0 && m.notify == ch {
		m.notify = nil // nobody waits on it any more
	}
	waiting.Add(-1)
	u.trim()
}
