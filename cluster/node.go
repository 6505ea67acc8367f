package cluster

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/wsd-dev/wsd/hub"
)

// Node is one wsd node's membership of the cluster: its NATS connection
// (and embedded server), the stream and bucket, its consumer and watch. It
// implements hub.Cluster.
type Node struct {
	opt Options
	hub *hub.Hub
	srv *server.Server // embedded NATS, or nil
	nc  *nats.Conn
	js  jetstream.JetStream

	mu     sync.Mutex // guards the fields below until ready
	stream jetstream.Stream
	kv     jetstream.KeyValue
	cons   jetstream.ConsumeContext
	watch  jetstream.KeyWatcher
	subs   []*nats.Subscription

	set      atomic.Bool   // stream, bucket, consumer and watch are set up
	probeOK  atomic.Bool   // the last probe of the stream answered
	pos      atomic.Uint64 // the stream sequence the consumer delivered last
	stallAt  uint64        // pos when the probe saw the stream ahead of it (probe's goroutine only)
	stalls   int           // probes in a row that found the consumer there
	lastErr  atomic.Value  // string: why the node is not ready, if it is not
	replicas atomic.Value  // []Peer from the last probe
	leader   atomic.Value  // string: the stream's leader at the last probe

	last  lastCache
	nodes nodeTable
	seen  *seenUsers // users with stored messages (bloom.go)

	ctx    context.Context
	cancel context.CancelFunc
	done   sync.WaitGroup
}

var _ hub.Cluster = (*Node)(nil)

// Start joins h to the cluster o describes: it starts the embedded NATS
// server (with o.Listen) or connects to o.URLs, and sets the stream up in
// the background (Ready says when it can store). Call it before the hub's
// server starts; Close leaves.
func Start(h *hub.Hub, o Options) (*Node, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	o.defaults()
	n := &Node{opt: o, hub: h}
	n.lastErr.Store("starting")
	n.replicas.Store([]Peer(nil))
	n.leader.Store("")
	n.last.init()
	n.nodes.init()
	n.seen = newSeenUsers()
	n.ctx, n.cancel = context.WithCancel(context.Background())
	copts := []nats.Option{
		nats.Name("wsd " + o.Node),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.RetryOnFailedConnect(true),
		nats.PingInterval(2 * time.Second),
		nats.MaxPingsOutstanding(2),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			o.Logger.Warn("cluster: NATS connection lost", "node", o.Node, "err", err)
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			o.Logger.Info("cluster: NATS connection back", "node", o.Node, "server", c.ConnectedUrlRedacted())
		}),
	}
	var err error
	if o.Embedded() {
		if n.srv, err = startEmbedded(&n.opt); err != nil {
			return nil, err
		}
		n.nc, err = nats.Connect("", append(copts, nats.InProcessServer(n.srv))...)
	} else {
		n.nc, err = nats.Connect(strings.Join(o.URLs, ","), copts...)
	}
	if err != nil {
		n.shutdownServer()
		return nil, fmt.Errorf("cluster: connecting to NATS: %w", err)
	}
	if n.js, err = jetstream.New(n.nc); err != nil {
		n.nc.Close()
		n.shutdownServer()
		return nil, fmt.Errorf("cluster: JetStream: %w", err)
	}
	h.SetCluster(n)
	// Core subscriptions first: relays and figures need no JetStream.
	for subj, fn := range map[string]nats.MsgHandler{relaySubject: n.onRelay, gatherSubj: n.onGather, beatSubject: n.onBeat} {
		sub, err := n.nc.Subscribe(subj, fn)
		if err != nil {
			n.Close()
			return nil, fmt.Errorf("cluster: subscribing to %s: %w", subj, err)
		}
		n.subs = append(n.subs, sub)
	}
	n.done.Add(2)
	go n.setupLoop()
	go n.beatLoop()
	return n, nil
}

// Node is this node's name.
func (n *Node) Node() string { return n.opt.Node }

// Ready reports whether this node can store now: the stream is set up,
// the NATS connection is up and the stream's leader answered the last
// probe.
func (n *Node) Ready() bool { return n.set.Load() && n.nc.IsConnected() && n.probeOK.Load() }

// WaitReady waits until Ready or ctx ends.
func (n *Node) WaitReady(ctx context.Context) error {
	for !n.Ready() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster: node %s not ready: %s", n.opt.Node, n.lastErr.Load())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// replicasFor is the stream's replica count: asked, or min(3, the NATS
// servers known).
func (n *Node) replicasFor() int {
	if n.opt.Replicas > 0 {
		return n.opt.Replicas
	}
	return max(1, min(DefaultMaxReplicas, len(n.nc.Servers())))
}

// setupLoop makes (or updates) the stream and the bucket, then follows
// them: one ordered consumer over every user subject, one watch over the
// read markers. It retries until it succeeds (a cluster forming, a meta
// leader being elected), then probes the stream's health every beat.
func (n *Node) setupLoop() {
	defer n.done.Done()
	for n.ctx.Err() == nil {
		err := n.setup()
		if err == nil {
			break
		}
		n.lastErr.Store("setting up the stream: " + err.Error())
		n.opt.Logger.Debug("cluster: setup", "node", n.opt.Node, "err", err)
		n.sleep(250 * time.Millisecond)
	}
	n.set.Store(true)
	n.opt.Logger.Info("cluster: stream ready", "node", n.opt.Node, "stream", StreamName, "replicas", n.replicasFor(), "history", n.opt.History)
	for n.ctx.Err() == nil {
		n.probe()
		n.sleep(n.opt.Beat / 2)
	}
}

func (n *Node) sleep(d time.Duration) {
	select {
	case <-n.ctx.Done():
	case <-time.After(d):
	}
}

func (n *Node) setup() error {
	ctx, cancel := context.WithTimeout(n.ctx, 5*time.Second)
	defer cancel()
	r := n.replicasFor()
	st, err := n.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:              StreamName,
		Description:       "wsd user messages: one subject per user, the last History of each kept",
		Subjects:          []string{userPrefix + ">"},
		Storage:           jetstream.FileStorage,
		Replicas:          r,
		Retention:         jetstream.LimitsPolicy,
		Discard:           jetstream.DiscardOld,
		MaxMsgsPerSubject: int64(n.opt.History),
		Duplicates:        10 * time.Second, // the message ids that guard user numbers (store.go)
	})
	if err != nil {
		return fmt.Errorf("stream %s: %w", StreamName, err)
	}
	kv, err := n.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      ReadBucket,
		Description: "wsd read markers: user → read up to this sequence number",
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    r,
	})
	if err != nil {
		return fmt.Errorf("bucket %s: %w", ReadBucket, err)
	}
	// The users with messages now (every subject, paged by the client),
	// and the sequence to follow from: one answer, so nothing falls
	// between them.
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(userPrefix+">"))
	if err != nil {
		return fmt.Errorf("stream %s info: %w", StreamName, err)
	}
	for subj := range info.State.Subjects {
		if user, ok := userOf(subj); ok {
			n.seen.add(user)
		}
	}
	// Follow from what is stored now: a node starts with no user loaded,
	// and loads a user's past from the store when a connection needs it.
	start := info.State.LastSeq + 1
	n.pos.Store(info.State.LastSeq)
	cc, err := n.follow(ctx, st, start)
	if err != nil {
		return err
	}
	w, err := kv.WatchAll(n.ctx, jetstream.UpdatesOnly(), jetstream.IgnoreDeletes())
	if err != nil {
		cc.Stop()
		return fmt.Errorf("watching %s: %w", ReadBucket, err)
	}
	n.mu.Lock()
	n.stream, n.kv, n.cons, n.watch = st, kv, cc, w
	n.mu.Unlock()
	n.done.Add(1)
	go n.watchLoop(w)
	n.probeOK.Store(true)
	n.lastErr.Store("")
	return nil
}

// follow consumes the stream from sequence start with an ordered consumer.
// No filter: the stream holds user subjects only (and filters of several
// subjects need NATS 2.10; Debian's is 2.9).
func (n *Node) follow(ctx context.Context, st jetstream.Stream, start uint64) (jetstream.ConsumeContext, error) {
	oc, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:   start,
	})
	if err != nil {
		return nil, fmt.Errorf("ordered consumer: %w", err)
	}
	cc, err := oc.Consume(n.onUserMsg, jetstream.PullHeartbeat(time.Second), jetstream.PullExpiry(5*time.Second),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			n.opt.Logger.Debug("cluster: consumer", "node", n.opt.Node, "err", err)
		}))
	if err != nil {
		return nil, fmt.Errorf("consuming: %w", err)
	}
	return cc, nil
}

// stallProbes is how many probes in a row may find the stream ahead of the
// consumer with the consumer not moving before it is made again.
const stallProbes = 6

// unstall makes the ordered consumer again from the message after the
// last one delivered when it has stopped while the stream went on. The
// client library resets an ordered consumer whose server went away, but a
// kill -9 of the stream's leader under load has left one waiting for good
// (TestClusterKill9LosesNoAcknowledgedMessage: a surviving node's receiver
// stopped at 80 of 241). Messages delivered twice are dropped by the hub
// (Deliver ignores a sequence it has).
func (n *Node) unstall(streamLast uint64) {
	pos := n.pos.Load()
	if streamLast <= pos || pos != n.stallAt {
		n.stallAt, n.stalls = pos, 0
		return
	}
	if n.stalls++; n.stalls < stallProbes {
		return
	}
	n.stalls = 0
	ctx, cancel := context.WithTimeout(n.ctx, 5*time.Second)
	defer cancel()
	cc, err := n.follow(ctx, n.stream, pos+1)
	if err != nil {
		n.opt.Logger.Warn("cluster: consumer stalled, could not make it again", "node", n.opt.Node, "at", pos, "stream", streamLast, "err", err)
		return
	}
	n.mu.Lock()
	if n.ctx.Err() != nil { // closing: Close has stopped the old one
		n.mu.Unlock()
		cc.Stop()
		return
	}
	old := n.cons
	n.cons = cc
	n.mu.Unlock()
	old.Stop()
	n.opt.Logger.Warn("cluster: consumer stalled, made again", "node", n.opt.Node, "from", pos+1, "stream", streamLast)
}

// Peer is one replica of the stream as the last probe saw it.
type Peer struct {
	Name    string  `json:"name"`
	Leader  bool    `json:"leader,omitempty"`
	Current bool    `json:"current"`
	Offline bool    `json:"offline,omitempty"`
	Active  float64 `json:"active_s"` // since it was last heard from
	Lag     uint64  `json:"lag,omitempty"`
}

// probe asks the stream's leader for the stream's state: while it answers,
// this node can store.
func (n *Node) probe() {
	ctx, cancel := context.WithTimeout(n.ctx, n.opt.Beat+time.Second)
	defer cancel()
	info, err := n.stream.Info(ctx)
	if err != nil {
		if n.ctx.Err() == nil {
			n.probeOK.Store(false)
			n.lastErr.Store("stream leader does not answer: " + err.Error())
		}
		return
	}
	var peers []Peer
	leader := ""
	if ci := info.Cluster; ci != nil {
		leader = ci.Leader
		if ci.Leader != "" {
			peers = append(peers, Peer{Name: ci.Leader, Leader: true, Current: true})
		}
		for _, p := range ci.Replicas {
			peers = append(peers, Peer{Name: p.Name, Current: p.Current, Offline: p.Offline, Active: p.Active.Seconds(), Lag: p.Lag})
		}
	}
	n.replicas.Store(peers)
	n.leader.Store(leader)
	n.unstall(info.State.LastSeq)
	ok := info.Cluster == nil || leader != ""
	n.probeOK.Store(ok)
	if ok {
		n.lastErr.Store("")
	} else {
		n.lastErr.Store("stream has no leader")
	}
}

// Health is this node's view of the cluster, for /healthz.
func (n *Node) Health() any {
	h := map[string]any{
		"ready":          n.Ready(),
		"jetstream":      n.set.Load() && n.probeOK.Load(),
		"nats_connected": n.nc.IsConnected(),
		"stream":         StreamName,
		"stream_leader":  n.leader.Load(),
		"replicas":       n.replicas.Load(),
		"nodes":          n.nodes.live(3 * n.opt.Beat),
		"consumer_seq":   n.pos.Load(),
	}
	if e, _ := n.lastErr.Load().(string); e != "" {
		h["error"] = e
	}
	if n.srv != nil {
		h["embedded"] = true
		h["routes"] = n.srv.NumRoutes()
	} else {
		h["nats_server"] = n.nc.ConnectedUrlRedacted()
	}
	st := n.nc.Stats()
	h["nats_client"] = map[string]uint64{"in_msgs": st.InMsgs, "out_msgs": st.OutMsgs, "in_bytes": st.InBytes, "out_bytes": st.OutBytes, "reconnects": st.Reconnects}
	if n.srv != nil {
		if vz, err := n.srv.Varz(nil); err == nil {
			h["nats_server_stats"] = map[string]int64{"in_msgs": vz.InMsgs, "out_msgs": vz.OutMsgs, "in_bytes": vz.InBytes, "out_bytes": vz.OutBytes}
		}
	}
	return h
}

// Close leaves the cluster: it stops following the stream, closes the
// NATS connection and shuts the embedded server down (its store is on
// disk: the node resumes from it when it starts again).
func (n *Node) Close() error {
	n.cancel()
	n.mu.Lock()
	if n.cons != nil {
		n.cons.Stop()
	}
	if n.watch != nil {
		n.watch.Stop()
	}
	n.mu.Unlock()
	for _, s := range n.subs {
		s.Unsubscribe()
	}
	n.nc.Close()
	n.done.Wait()
	n.shutdownServer()
	return nil
}

func (n *Node) shutdownServer() {
	if n.srv != nil {
		n.srv.Shutdown()
		n.srv.WaitForShutdown()
	}
}

// errCodeDuplicateInProcess is NATS's answer to a message whose id another
// publish in flight carries (2.11 and later).
const errCodeDuplicateInProcess = 10158

// isWrongLast reports a lost race for a user's next number: a failed
// expectation of the last sequence number, or another publish with the
// same number's id in flight.
func isWrongLast(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant || apiErr.ErrorCode == errCodeDuplicateInProcess)
}
