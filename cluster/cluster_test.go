package cluster_test

import (
	"fmt"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/wsd-dev/wsd/frame"
)

// history is the test cluster's: the order test stays under it (a burst of
// more than history messages to one user may be dropped by the store
// before a node reads them, and is then a gap), the gap test goes over it.
const history = 50

// One cluster of three in-process nodes (embedded NATS, routes between
// them, a replicated stream) serves the subtests: a fresh cluster takes
// seconds to elect its leaders. Each subtest uses its own users.
func TestCluster(t *testing.T) {
	tc := startCluster(t, 3, history)
	n1, n2, n3 := tc.nodes[0], tc.nodes[1], tc.nodes[2]

	t.Run("PublishReachesEveryNodeOnceInOrder", func(t *testing.T) {
		// Connections of one user on every node (two on n2); publishes
		// from all three nodes at once.
		conns := []*tconn{
			{n1.dial(t, "/ws/order")}, {n2.dial(t, "/ws/order")}, {n2.dial(t, "/ws/order")}, {n3.dial(t, "/ws/order")},
		}
		for _, c := range conns {
			expectType(t, c.c, "hello")
		}
		const each = 15
		var mu sync.Mutex
		var seqs []uint64
		var wg sync.WaitGroup
		for k, n := range tc.nodes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					code, out := n.post(t, "/publish/order", fmt.Sprintf("from %d #%d", k, i))
					if code != 200 {
						t.Errorf("publish on %s: %d %v", n.name, code, out)
						return
					}
					mu.Lock()
					seqs = append(seqs, uint64(num(out["seq"])))
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		total := 3 * each
		// The numbers the publishes got are 1..total, each once.
		seen := map[uint64]bool{}
		for _, s := range seqs {
			require.False(t, seen[s], "seq %d given twice", s)
			require.True(t, s >= 1 && s <= uint64(total), "seq %d out of 1..%d", s, total)
			seen[s] = true
		}
		require.Len(t, seen, total)
		// Every connection gets every message once, in order; then the
		// next message is the next number (nothing extra came between).
		code, _ := n3.post(t, "/publish/order", "last")
		require.Equal(t, 200, code)
		for i, c := range conns {
			for want := uint64(1); want <= uint64(total)+1; want++ {
				m := expectType(t, c.c, "message")
				require.Equal(t, want, seqOf(m), "connection %d", i)
				require.Equal(t, int64(want), num(m["unread"]), "connection %d: unread", i)
			}
		}
	})

	t.Run("AStalledConsumerIsMadeAgain", func(t *testing.T) {
		// n3's consumer stops delivering (as after a kill -9 of the
		// stream's leader under load); its connection still gets the
		// messages published meanwhile, once, in order.
		c := n3.dial(t, "/ws/stalled")
		expectType(t, c, "hello")
		n3.node.StopConsumer()
		for i := 1; i <= 3; i++ {
			code, _ := n1.post(t, "/publish/stalled", fmt.Sprintf("s%d", i))
			require.Equal(t, 200, code)
		}
		for want := uint64(1); want <= 3; want++ {
			require.Equal(t, want, seqOf(expectType(t, c, "message")))
		}
	})

	t.Run("SinceOnAnyNode", func(t *testing.T) {
		for i := 1; i <= 4; i++ {
			code, out := tc.nodes[i%3].post(t, "/publish/resumer", fmt.Sprintf("m%d", i))
			require.Equal(t, 200, code, "%v", out)
			require.Equal(t, int64(i), num(out["seq"]))
		}
		for _, n := range tc.nodes {
			c := n.dial(t, "/ws/resumer?since=2")
			h := expectType(t, c, "hello")
			require.Equal(t, int64(4), num(h["seq"]), "hello on %s: %v", n.name, h)
			require.Equal(t, int64(4), num(h["unread"]))
			for want := 3; want <= 4; want++ {
				m := expectType(t, c, "message")
				require.Equal(t, uint64(want), seqOf(m), "on %s", n.name)
				require.Equal(t, fmt.Sprintf("m%d", want), m["data"])
			}
			var p struct {
				Seq      uint64           `json:"seq"`
				Gap      bool             `json:"gap"`
				Messages []map[string]any `json:"messages"`
			}
			require.Equal(t, 200, n.getJSON("/poll/resumer?since=2", &p))
			require.False(t, p.Gap)
			require.Len(t, p.Messages, 2, "poll on %s", n.name)
			require.Equal(t, uint64(3), seqOf(p.Messages[0]))
			require.Equal(t, uint64(4), seqOf(p.Messages[1]))
		}
		// A live message after the replay, once, on a node that had
		// loaded the user for an earlier connection.
		c := n2.dial(t, "/ws/resumer?since=3")
		expectType(t, c, "hello")
		require.Equal(t, uint64(4), seqOf(expectType(t, c, "message")))
		code, _ := n1.post(t, "/publish/resumer", "m5")
		require.Equal(t, 200, code)
		require.Equal(t, uint64(5), seqOf(expectType(t, c, "message")))
	})

	t.Run("GapExactlyWhenSomethingIsNoLongerKept", func(t *testing.T) {
		// After history+3 messages, 4.. are kept.
		const last = history + 3
		for i := 1; i <= last; i++ {
			code, _ := tc.nodes[i%3].post(t, "/publish/gappy", fmt.Sprintf("g%d", i))
			require.Equal(t, 200, code)
		}
		for _, tcase := range []struct {
			since uint64
			gap   bool
			first uint64
		}{{0, true, 4}, {1, true, 4}, {2, true, 4}, {3, false, 4}, {5, false, 6}, {last, false, 0}} {
			c := n3.dial(t, fmt.Sprintf("/ws/gappy?since=%d", tcase.since))
			h := expectType(t, c, "hello")
			require.Equal(t, int64(4), num(h["first"]), "hello %v", h)
			if tcase.gap {
				g := expectType(t, c, "gap")
				require.Equal(t, int64(tcase.since), num(g["since"]))
				require.Equal(t, int64(4), num(g["first"]))
			}
			if tcase.first > 0 {
				for want := tcase.first; want <= last; want++ {
					m := expectType(t, c, "message")
					require.Equal(t, want, seqOf(m), "since=%d", tcase.since)
				}
			}
			var p struct {
				First    uint64           `json:"first"`
				Gap      bool             `json:"gap"`
				Messages []map[string]any `json:"messages"`
			}
			require.Equal(t, 200, n1.getJSON(fmt.Sprintf("/poll/gappy?since=%d", tcase.since), &p))
			require.Equal(t, tcase.gap, p.Gap, "poll since=%d", tcase.since)
			require.Equal(t, uint64(4), p.First)
			if tcase.first > 0 {
				require.Len(t, p.Messages, int(last-tcase.first+1), "poll since=%d", tcase.since)
				require.Equal(t, tcase.first, seqOf(p.Messages[0]))
			} else {
				require.Empty(t, p.Messages)
			}
		}
	})

	t.Run("LongPollWakesOnAPublishElsewhere", func(t *testing.T) {
		done := make(chan map[string]any, 1)
		go func() {
			var p map[string]any
			n1.getJSON("/poll/waiter?since=0&wait=20s", &p)
			done <- p
		}()
		// The publish waits until the poll is waiting on n1, so that it is
		// the publish on n3 that wakes it.
		require.Eventually(t, func() bool {
			var st map[string]any
			return n1.getJSON("/stats", &st) == 200 && num(st["polls_waiting"]) == 1
		}, 10*time.Second, 10*time.Millisecond, "the long poll on n1 is not waiting")
		code, _ := n3.post(t, "/publish/waiter", "wake")
		require.Equal(t, 200, code)
		select {
		case p := <-done:
			msgs, _ := p["messages"].([]any)
			require.Len(t, msgs, 1, "poll answer %v", p)
		case <-time.After(10 * time.Second):
			t.Fatal("the long poll on n1 did not wake for a publish on n3")
		}
	})

	t.Run("ReadOnOneNodeReachesAll", func(t *testing.T) {
		a, b := n1.dial(t, "/ws/reader"), n3.dial(t, "/ws/reader")
		expectType(t, a, "hello")
		expectType(t, b, "hello")
		for i := 1; i <= 3; i++ {
			code, _ := n2.post(t, "/publish/reader", "r")
			require.Equal(t, 200, code)
		}
		for _, c := range []*wstestClient{a, b} {
			for i := 1; i <= 3; i++ {
				require.Equal(t, int64(i), num(expectType(t, c, "message")["unread"]))
			}
		}
		sendJSON(t, a, `{"type":"read"}`)
		for _, c := range []*wstestClient{a, b} {
			u := expectType(t, c, "unread")
			require.Equal(t, int64(0), num(u["unread"]))
			require.Equal(t, int64(3), num(u["seq"]))
		}
		c := n2.dial(t, "/ws/reader")
		require.Equal(t, int64(0), num(expectType(t, c, "hello")["unread"]))
		code, _ := n1.post(t, "/publish/reader", "after")
		require.Equal(t, 200, code)
		for _, c := range []*wstestClient{a, b, c} {
			require.Equal(t, int64(1), num(expectType(t, c, "message")["unread"]))
		}
		var info struct {
			Unread int64 `json:"unread"`
			Seq    int64 `json:"seq"`
		}
		require.Equal(t, 200, n2.getJSON("/users/reader", &info))
		require.Equal(t, int64(1), info.Unread)
		require.Equal(t, int64(4), info.Seq)
	})

	t.Run("UserNamesThatAreNotSubjectTokens", func(t *testing.T) {
		for _, name := range []string{"a.b", "x*y>z", "名前 with space", "ünï.cödé"} {
			c := n1.dial(t, "/ws/"+url.PathEscape(name))
			expectType(t, c, "hello")
			code, out := n2.post(t, "/publish/"+url.PathEscape(name), "hi")
			require.Equal(t, 200, code, "%v", out)
			m := expectType(t, c, "message")
			require.Equal(t, uint64(1), seqOf(m), "user %q", name)
		}
	})
}

// tconn is a test client in a table.
type tconn struct{ c *wstestClient }

// The fan-out side: broadcasts, rooms, chat, and the cluster-wide figures.
func TestClusterFanOut(t *testing.T) {
	tc := startCluster(t, 3, history)
	n1, n2, n3 := tc.nodes[0], tc.nodes[1], tc.nodes[2]

	t.Run("BroadcastIsOneNATSMessagePerNode", func(t *testing.T) {
		// 1, 3 and 5 connections: each node handles the broadcast once
		// however many it holds, and every connection gets it once.
		var conns []*wstestClient
		for i, n := range tc.nodes {
			for k := range 2*i + 1 {
				c := n.dial(t, fmt.Sprintf("/ws/b%d-%d", i, k))
				expectType(t, c, "hello")
				conns = append(conns, c)
			}
		}
		before := make([]int64, 3)
		for i, n := range tc.nodes {
			before[i] = n.hub.RelayedCount()
		}
		// The count in the answer comes from the nodes' heartbeats.
		require.Eventually(t, func() bool { return n2.node.Connections() == int64(len(conns)) }, 10*time.Second, 20*time.Millisecond)
		code, out := n2.post(t, "/broadcast", "to all")
		require.Equal(t, 202, code, "%v", out)
		require.Equal(t, int64(len(conns)), num(out["recipients"]))
		for i, c := range conns {
			m := expectType(t, c, "broadcast")
			require.Equal(t, "to all", m["data"], "connection %d", i)
		}
		for i, n := range tc.nodes {
			require.Equal(t, before[i]+1, n.hub.RelayedCount(), "relayed messages handled by %s for one broadcast", n.name)
		}
		// Nothing twice: the next message each gets is the next broadcast.
		code, _ = n3.post(t, "/broadcast", "second")
		require.Equal(t, 202, code)
		for _, c := range conns {
			require.Equal(t, "second", expectType(t, c, "broadcast")["data"])
		}
	})

	t.Run("RoomsAcrossNodes", func(t *testing.T) {
		a, b, c := n1.dial(t, "/ws/ra"), n3.dial(t, "/ws/rb"), n2.dial(t, "/ws/rc")
		for _, x := range []*wstestClient{a, b, c} {
			expectType(t, x, "hello")
		}
		for _, x := range []*wstestClient{a, b} {
			sendJSON(t, x, `{"type":"join","room":"lobby"}`)
			expectType(t, x, "joined")
		}
		sendJSON(t, a, `{"type":"say","room":"lobby","data":"hi from n1"}`)
		for _, x := range []*wstestClient{a, b} {
			m := expectType(t, x, "room")
			require.Equal(t, "lobby", m["room"])
			require.Equal(t, "ra", m["from"])
			require.Equal(t, "hi from n1", m["data"])
		}
		code, out := n2.post(t, "/rooms/lobby/publish", "from the API on n2")
		require.Equal(t, 200, code, "%v", out)
		for _, x := range []*wstestClient{a, b} {
			m := expectType(t, x, "room")
			require.Equal(t, "from the API on n2", m["data"])
			require.Nil(t, m["from"])
		}
		// c joined nothing: its next message is the broadcast.
		code, _ = n1.post(t, "/broadcast", "marker")
		require.Equal(t, 202, code)
		require.Equal(t, "marker", expectType(t, c, "broadcast")["data"])
	})

	t.Run("ChatAcrossNodes", func(t *testing.T) {
		alice := n1.dial(t, "/ws/chat/alice")
		requireText(t, alice, "System> alice has joined.")
		bob := n3.dial(t, "/ws/chat/bob")
		requireText(t, alice, "System> bob has joined.")
		requireText(t, bob, "System> bob has joined.")
		require.NoError(t, bob.Send(true, frame.OpText, []byte("hello alice")))
		requireText(t, alice, "bob> hello alice")
		requireText(t, bob, "bob> hello alice")
		bob.Close()
		requireText(t, alice, "System> bob has disconnected.")
	})

	t.Run("UsersStatsAndHealthAreClusterWide", func(t *testing.T) {
		a := n1.dial(t, "/ws/counted")
		b, c := n3.dial(t, "/ws/counted"), n3.dial(t, "/ws/counted")
		for _, x := range []*wstestClient{a, b, c} {
			expectType(t, x, "hello")
		}
		var info struct {
			Online int            `json:"online"`
			Nodes  map[string]int `json:"nodes"`
		}
		require.Equal(t, 200, n2.getJSON("/users/counted", &info))
		require.Equal(t, 3, info.Online)
		require.Equal(t, map[string]int{"n1": 1, "n2": 0, "n3": 2}, info.Nodes)

		var st struct {
			Connections int64 `json:"hub_connections"`
			Cluster     struct {
				Nodes []struct {
					Node        string `json:"node"`
					Connections int64  `json:"hub_connections"`
				} `json:"nodes"`
				Total int64 `json:"hub_connections_total"`
			} `json:"cluster"`
		}
		require.Equal(t, 200, n2.getJSON("/stats", &st))
		require.Len(t, st.Cluster.Nodes, 3)
		var sum int64
		for i, ni := range st.Cluster.Nodes {
			require.Equal(t, tc.nodes[i].name, ni.Node)
			require.Equal(t, tc.nodes[i].hub.Counts().Connections, ni.Connections, "node %s", ni.Node)
			sum += ni.Connections
		}
		require.Equal(t, sum, st.Cluster.Total)
		require.Equal(t, n2.hub.Counts().Connections, st.Connections)
		require.GreaterOrEqual(t, st.Cluster.Total, int64(3))

		for _, n := range tc.nodes {
			var h struct {
				Status  string `json:"status"`
				Node    string `json:"node"`
				Cluster struct {
					Ready    bool             `json:"ready"`
					Leader   string           `json:"stream_leader"`
					Replicas []map[string]any `json:"replicas"`
					Nodes    []map[string]any `json:"nodes"`
				} `json:"cluster"`
			}
			require.Equal(t, 200, n.getJSON("/healthz", &h))
			require.Equal(t, "ok", h.Status)
			require.Equal(t, n.name, h.Node)
			require.True(t, h.Cluster.Ready)
			require.NotEmpty(t, h.Cluster.Leader)
			require.Len(t, h.Cluster.Replicas, 3, "the stream's leader and two followers")
			require.Len(t, h.Cluster.Nodes, 3)
		}
	})
}

func requireText(t testing.TB, c *wstestClient, want string) {
	t.Helper()
	op, p, err := c.ReadMessage(10 * time.Second)
	require.NoError(t, err)
	require.Equal(t, frame.OpText, op)
	require.Equal(t, want, string(p))
}
