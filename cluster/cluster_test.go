package cluster_test

import (
	"fmt"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
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
		// The poll registers its wait before it reads the store, so a
		// publish at any time after the request reaches it.
		time.Sleep(50 * time.Millisecond)
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
