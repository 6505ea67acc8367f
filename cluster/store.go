package cluster

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
	"github.com/wsd-dev/wsd/hub"
)

// Headers of a stored user message.
const (
	hdrSeq  = "Wsd-Seq"  // the user's sequence number
	hdrPrev = "Wsd-Prev" // the stream sequence of the user's previous message (0: none): Load walks back by it
	hdrID   = "Wsd-Id"   // unique per publish: tells our own message after a lost acknowledgement
	hdrBin  = "Wsd-Bin"  // "1": a binary body
)

// errDuplicate is a publish the stream took for a duplicate of a message
// with the same number: another node's, or our own whose answer was lost.
var errDuplicate = errors.New("duplicate message id")

// maxStoreTries bounds the optimistic retries of one publish (the
// request's deadline bounds them too): each lost race means another node
// stored a message of the same user meanwhile. Retries back off, jittered,
// so that nodes racing for one user take turns.
const maxStoreTries = 1000

// backoff sleeps before retry try: 0.5 ms doubling to 16 ms, jittered.
func backoff(ctx context.Context, try int) {
	d := time.Duration(500<<min(try, 5)) * time.Microsecond
	d = d/2 + rand.N(d)
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// userSubject is the user's subject: its name in base64url (RFC 4648 §5),
// so that any valid user name makes one subject token.
func userSubject(user string) string {
	return userPrefix + base64.RawURLEncoding.EncodeToString([]byte(user))
}

// userOf reads the user back from a subject.
func userOf(subject string) (string, bool) {
	if len(subject) <= len(userPrefix) {
		return "", false
	}
	b, err := base64.RawURLEncoding.DecodeString(subject[len(userPrefix):])
	return string(b), err == nil
}

// readKey is the user's key in the read bucket (base64url: a valid key).
func readKey(user string) string { return base64.RawURLEncoding.EncodeToString([]byte(user)) }

// tip is a user's newest stored message: its number, its stream sequence
// and its publish id.
type tip struct {
	seq, stream uint64
	id          string
}

// Store keeps a message for user and returns its sequence number once the
// stream acknowledged it (a quorum of its replicas has it). Numbers come
// from optimistic concurrency: the message carries the user's last number
// plus one and expects the user's subject to end at the last message's
// stream sequence; if another node stored first, the stream refuses it and
// we read the new tip and try again. A user's numbers are so strictly
// increasing without gaps across the cluster, in the stream's order.
func (n *Node) Store(ctx context.Context, user string, body []byte, binary bool) (uint64, error) {
	if !n.set.Load() {
		return 0, hub.ErrUnavailable
	}
	subj := userSubject(user)
	unlock := n.last.lock(user) // one publish per user at a time from this node: no races with ourselves
	defer unlock()
	t, ok := n.last.get(user)
	if !ok {
		var err error
		if t, err = n.tipOf(ctx, subj); err != nil {
			return 0, err
		}
	}
	id := nuid.Next()
	for try := 0; try < maxStoreTries; try++ {
		m := nats.NewMsg(subj)
		m.Data = body
		m.Header.Set(hdrSeq, strconv.FormatUint(t.seq+1, 10))
		m.Header.Set(hdrPrev, strconv.FormatUint(t.stream, 10))
		m.Header.Set(hdrID, id)
		if binary {
			m.Header.Set(hdrBin, "1")
		}
		// The message id (the user's subject and number) guards the
		// number too: NATS before 2.10 can let two publishes that expect
		// the same last sequence both through when they race on a
		// replicated stream; the second with the same id is a duplicate.
		ack, err := n.js.PublishMsg(ctx, m, jetstream.WithExpectLastSequencePerSubject(t.stream),
			jetstream.WithMsgID(subj[len(userPrefix):]+":"+strconv.FormatUint(t.seq+1, 10)))
		if err == nil && ack.Duplicate {
			err = errDuplicate
		}
		if err == nil {
			n.seen.add(user)
			n.last.put(user, tip{seq: t.seq + 1, stream: ack.Sequence, id: id})
			return t.seq + 1, nil
		}
		if !isWrongLast(err) && !errors.Is(err, errDuplicate) && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, jetstream.ErrNoStreamResponse) && !errors.Is(err, nats.ErrNoResponders) {
			n.last.forget(user)
			return 0, err
		}
		if ctx.Err() != nil {
			n.last.forget(user)
			return 0, fmt.Errorf("no acknowledgement from the stream: %w", err)
		}
		// Someone stored first, or the answer was lost: read the tip. If it
		// is our own message, it was stored.
		cur, terr := n.tipOf(ctx, subj)
		if terr != nil {
			n.last.forget(user)
			return 0, terr
		}
		if cur.id == id {
			n.last.put(user, cur)
			return cur.seq, nil
		}
		t = cur
		backoff(ctx, try)
	}
	n.last.forget(user)
	return 0, fmt.Errorf("user %q: lost the race for the next sequence number %d times", user, maxStoreTries)
}

// tipOf reads a subject's newest message (zero when it has none) from the
// stream's leader.
func (n *Node) tipOf(ctx context.Context, subj string) (tip, error) {
	m, err := n.stream.GetLastMsgForSubject(ctx, subj)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return tip{}, nil
	}
	if err != nil {
		return tip{}, fmt.Errorf("reading the last message of %s: %w", subj, err)
	}
	seq, err := strconv.ParseUint(m.Header.Get(hdrSeq), 10, 64)
	if err != nil {
		return tip{}, fmt.Errorf("message %d on %s has no %s header", m.Sequence, subj, hdrSeq)
	}
	return tip{seq: seq, stream: m.Sequence, id: m.Header.Get(hdrID)}, nil
}

// Load reads a user's state from the stream's leader and the read bucket,
// and with replay the kept messages after since: it walks back from the
// newest by each message's Wsd-Prev, so it reads exactly the messages
// asked for (or down to the oldest kept).
func (n *Node) Load(ctx context.Context, user string, since uint64, replay bool) (hub.UserState, error) {
	if !n.set.Load() {
		return hub.UserState{}, hub.ErrUnavailable
	}
	if !n.seen.maybe(user) {
		return hub.UserState{First: 1}, nil // no message yet: nothing to read
	}
	subj := userSubject(user)
	m, err := n.stream.GetLastMsgForSubject(ctx, subj)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return hub.UserState{First: 1}, nil
	}
	if err != nil {
		return hub.UserState{}, fmt.Errorf("reading the last message of %s: %w", subj, err)
	}
	newest, err := storedOf(m)
	if err != nil {
		return hub.UserState{}, err
	}
	st := hub.UserState{Last: newest.Seq, First: keptFrom(newest.Seq, uint64(n.opt.History))}
	if st.Read, err = n.readOf(ctx, user); err != nil {
		return hub.UserState{}, err
	}
	if !replay || since >= st.Last {
		return st, nil
	}
	msgs := []hub.StoredMessage{newest}
	prev, _ := strconv.ParseUint(m.Header.Get(hdrPrev), 10, 64)
	for msgs[len(msgs)-1].Seq > since+1 && prev != 0 {
		pm, err := n.stream.GetMsg(ctx, prev)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break // no longer kept: the gap starts here
		}
		if err != nil {
			return hub.UserState{}, fmt.Errorf("reading message %d of %s: %w", prev, subj, err)
		}
		sm, err := storedOf(pm)
		if err != nil {
			return hub.UserState{}, err
		}
		msgs = append(msgs, sm)
		prev, _ = strconv.ParseUint(pm.Header.Get(hdrPrev), 10, 64)
	}
	if oldest := msgs[len(msgs)-1].Seq; oldest > since+1 {
		st.First = oldest // what the walk found is what is kept
	}
	for i, j := 0, len(msgs)-1; i < j; i, j = i+1, j-1 {
		msgs[i], msgs[j] = msgs[j], msgs[i]
	}
	st.Messages = msgs
	return st, nil
}

func storedOf(m *jetstream.RawStreamMsg) (hub.StoredMessage, error) {
	seq, err := strconv.ParseUint(m.Header.Get(hdrSeq), 10, 64)
	if err != nil {
		return hub.StoredMessage{}, fmt.Errorf("message %d on %s has no %s header", m.Sequence, m.Subject, hdrSeq)
	}
	return hub.StoredMessage{Seq: seq, At: m.Time.UnixNano(), Body: m.Data, Binary: m.Header.Get(hdrBin) == "1"}, nil
}

// keptFrom is the oldest number kept of a user whose newest is last, with
// the last history messages of each user kept and gap-free numbers.
func keptFrom(last, history uint64) uint64 {
	if last < history {
		return 1
	}
	return last - history + 1
}

// Stored reports whether the user may have stored messages (see
// seenUsers).
func (n *Node) Stored(user string) bool { return n.seen.maybe(user) }

// readOf reads the user's read marker (0: never read).
func (n *Node) readOf(ctx context.Context, user string) (uint64, error) {
	e, err := n.kv.Get(ctx, readKey(user))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("reading %s's read marker: %w", user, err)
	}
	return strconv.ParseUint(string(e.Value()), 10, 64)
}

// MarkRead moves the user's read marker up to seq (never down), with the
// bucket's compare-and-set: two nodes marking at once both land.
func (n *Node) MarkRead(ctx context.Context, user string, seq uint64) error {
	if !n.set.Load() {
		return hub.ErrUnavailable
	}
	key, val := readKey(user), []byte(strconv.FormatUint(seq, 10))
	for try := 0; try < maxStoreTries; try++ {
		e, err := n.kv.Get(ctx, key)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			_, err = n.kv.Create(ctx, key, val)
		case err != nil:
			return fmt.Errorf("reading %s's read marker: %w", user, err)
		default:
			if cur, _ := strconv.ParseUint(string(e.Value()), 10, 64); cur >= seq {
				return nil
			}
			_, err = n.kv.Update(ctx, key, val, e.Revision())
		}
		if err == nil {
			return nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) && !isWrongLast(err) {
			return fmt.Errorf("storing %s's read marker: %w", user, err)
		}
	}
	return fmt.Errorf("user %q: read marker kept changing", user)
}

// onUserMsg is the ordered consumer's handler: every stored user message,
// in the stream's order, to the hub (which writes it to its connections
// of the user, if any).
func (n *Node) onUserMsg(msg jetstream.Msg) {
	md, err := msg.Metadata()
	if err != nil {
		return
	}
	defer n.pos.Store(md.Sequence.Stream)
	user, ok := userOf(msg.Subject())
	if !ok {
		return
	}
	n.seen.add(user)
	h := msg.Headers()
	seq, err := strconv.ParseUint(h.Get(hdrSeq), 10, 64)
	if err != nil {
		return
	}
	n.hub.Deliver(user, hub.StoredMessage{Seq: seq, At: md.Timestamp.UnixNano(), Body: msg.Data(), Binary: h.Get(hdrBin) == "1"})
}

// watchLoop hands every change of a read marker to the hub.
func (n *Node) watchLoop(w jetstream.KeyWatcher) {
	defer n.done.Done()
	for e := range w.Updates() {
		if e == nil || e.Operation() != jetstream.KeyValuePut {
			continue
		}
		b, err := base64.RawURLEncoding.DecodeString(e.Key())
		if err != nil {
			continue
		}
		read, err := strconv.ParseUint(string(e.Value()), 10, 64)
		if err != nil {
			continue
		}
		n.hub.ReadUpTo(string(b), read)
	}
}

// lastCache remembers the tip of users this node published to, so that a
// publish usually costs one round trip; a stale entry costs a refused
// publish and a read. Striped locks serialise this node's publishes per
// user; the maps are bounded (cleared when full).
type lastCache struct {
	seed    maphash.Seed
	stripes [64]struct {
		pub sync.Mutex // held through a publish
		mu  sync.Mutex // guards tips
		m   map[string]tip
	}
}

const lastCacheMax = 1 << 14 // users per stripe

func (c *lastCache) init() {
	c.seed = maphash.MakeSeed()
	for i := range c.stripes {
		c.stripes[i].m = map[string]tip{}
	}
}

func (c *lastCache) stripe(user string) int { return int(maphash.String(c.seed, user) % 64) }

func (c *lastCache) lock(user string) func() {
	s := &c.stripes[c.stripe(user)]
	s.pub.Lock()
	return s.pub.Unlock
}

func (c *lastCache) get(user string) (tip, bool) {
	s := &c.stripes[c.stripe(user)]
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.m[user]
	return t, ok
}

func (c *lastCache) put(user string, t tip) {
	s := &c.stripes[c.stripe(user)]
	s.mu.Lock()
	if len(s.m) >= lastCacheMax {
		clear(s.m)
	}
	s.m[user] = t
	s.mu.Unlock()
}

func (c *lastCache) forget(user string) {
	s := &c.stripes[c.stripe(user)]
	s.mu.Lock()
	delete(s.m, user)
	s.mu.Unlock()
}
