package cluster

import (
	"context"
	"encoding/json"
	"sort"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/wsd-dev/wsd/hub"
)

// Headers of a relayed message.
const (
	hdrChannel = "Wsd-Channel"
	hdrRoom    = "Wsd-Room"
	hdrFrom    = "Wsd-From"
)

// Relay publishes m once on the relay subject: NATS hands it to each
// node's one subscription (this node's too), and each hub fans it out to
// its own connections. A broadcast to any number of connections is so one
// NATS message per node.
func (n *Node) Relay(m hub.Relayed) error {
	if !n.nc.IsConnected() {
		return hub.ErrUnavailable
	}
	msg := nats.NewMsg(relaySubject)
	msg.Data = m.Body
	msg.Header.Set(hdrChannel, m.Channel)
	if m.Room != "" {
		msg.Header.Set(hdrRoom, m.Room)
	}
	if m.From != "" {
		msg.Header.Set(hdrFrom, m.From)
	}
	if m.Binary {
		msg.Header.Set(hdrBin, "1")
	}
	return n.nc.PublishMsg(msg)
}

func (n *Node) onRelay(msg *nats.Msg) {
	n.hub.Relayed(hub.Relayed{
		Channel: msg.Header.Get(hdrChannel),
		Room:    msg.Header.Get(hdrRoom),
		From:    msg.Header.Get(hdrFrom),
		Body:    msg.Data,
		Binary:  msg.Header.Get(hdrBin) == "1",
	})
}

// Gather asks every node for its figures (and a user's connections there)
// and collects the answers until every node known from the heartbeats
// answered or ctx ends.
func (n *Node) Gather(ctx context.Context, user string) []hub.NodeInfo {
	want := len(n.nodes.live(3 * n.opt.Beat))
	inbox := n.nc.NewRespInbox()
	ch := make(chan *nats.Msg, 64)
	sub, err := n.nc.ChanSubscribe(inbox, ch)
	if err != nil {
		return []hub.NodeInfo{n.local(user)}
	}
	defer sub.Unsubscribe()
	if err := n.nc.PublishRequest(gatherSubj, inbox, []byte(user)); err != nil {
		return []hub.NodeInfo{n.local(user)}
	}
	seen := map[string]bool{}
	var out []hub.NodeInfo
	for len(out) < max(want, 1) {
		select {
		case m := <-ch:
			var ni hub.NodeInfo
			if json.Unmarshal(m.Data, &ni) == nil && !seen[ni.Node] {
				seen[ni.Node] = true
				out = append(out, ni)
			}
		case <-ctx.Done():
			if !seen[n.opt.Node] { // our own answer never fails to count
				out = append(out, n.local(user))
			}
			return out
		}
	}
	return out
}

func (n *Node) local(user string) hub.NodeInfo {
	ni := hub.NodeInfo{Node: n.opt.Node, Counts: n.hub.LocalCounts()}
	if user != "" {
		ni.Online = n.hub.LocalOnline(user)
	}
	return ni
}

func (n *Node) onGather(msg *nats.Msg) {
	b, _ := json.Marshal(n.local(string(msg.Data)))
	msg.Respond(b)
}

// Connections sums the hub connections of the live nodes' last heartbeats.
func (n *Node) Connections() (total int64) {
	for _, v := range n.nodes.live(3 * n.opt.Beat) {
		total += v.Conns
	}
	return total
}

// beat is a node's heartbeat: who it is and how many connections it holds.
type beat struct {
	Node  string `json:"node"`
	Conns int64  `json:"conns"`
	Ready bool   `json:"ready"`
}

// beatLoop announces this node every beat: the others learn whom to wait
// for in Gather, and /healthz lists who is alive.
func (n *Node) beatLoop() {
	defer n.done.Done()
	t := time.NewTicker(n.opt.Beat)
	defer t.Stop()
	for {
		me := beat{Node: n.opt.Node, Conns: n.hub.LocalCounts().Connections, Ready: n.Ready()}
		b, _ := json.Marshal(me)
		n.nc.Publish(beatSubject, b)
		n.nodes.seen(me) // ourselves, even while NATS is away
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (n *Node) onBeat(msg *nats.Msg) {
	var b beat
	if json.Unmarshal(msg.Data, &b) == nil && b.Node != "" {
		n.nodes.seen(b)
	}
}

// nodeTable remembers when each node was last heard from.
type nodeTable struct {
	mu   sync.Mutex
	last map[string]nodeSeen
}

type nodeSeen struct {
	at    time.Time
	ready bool
	conns int64
}

// NodeView is a node as heartbeats show it, for /healthz.
type NodeView struct {
	Node  string  `json:"node"`
	Ready bool    `json:"ready"`
	Conns int64   `json:"conns"`
	Ago   float64 `json:"seen_s_ago"`
}

func (t *nodeTable) init() { t.last = map[string]nodeSeen{} }

func (t *nodeTable) seen(b beat) {
	t.mu.Lock()
	t.last[b.Node] = nodeSeen{at: time.Now(), ready: b.Ready, conns: b.Conns}
	t.mu.Unlock()
}

// live lists the nodes heard from within d, by name.
func (t *nodeTable) live(d time.Duration) []NodeView {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []NodeView
	now := time.Now()
	for name, s := range t.last {
		if ago := now.Sub(s.at); ago <= d {
			out = append(out, NodeView{Node: name, Ready: s.ready, Conns: s.conns, Ago: ago.Seconds()})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Node < out[j].Node })
	return out
}
