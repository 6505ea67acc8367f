package cluster_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/wsd-dev/wsd/cluster"
	"github.com/wsd-dev/wsd/demo"
	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/hub"
	"github.com/wsd-dev/wsd/internal/wstest"
	"github.com/wsd-dev/wsd/wsconn"
)

// testNode is one in-process wsd node: its server, hub and cluster node.
type testNode struct {
	name string
	addr string
	srv  *wsconn.Server
	hub  *hub.Hub
	node *cluster.Node
}

type testCluster struct {
	t     testing.TB
	nodes []*testNode
}

// freePort returns a loopback port nothing listens on now (the NATS route
// listener cannot take a listener of ours).
func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().String()
}

func testLogger() *slog.Logger {
	if os.Getenv("WSD_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// startCluster starts n nodes with embedded NATS joined to each other, and
// waits until every one can store.
func startCluster(t testing.TB, n int, history int) *testCluster {
	t.Helper()
	routes := make([]string, n)
	for i := range routes {
		routes[i] = freePort(t)
	}
	tc := &testCluster{t: t}
	for i := range n {
		var peers []string
		for j, r := range routes {
			if j != i {
				peers = append(peers, r)
			}
		}
		tc.nodes = append(tc.nodes, startNode(t, fmt.Sprintf("n%d", i+1), history, cluster.Options{
			Listen: routes[i], Peers: peers, DataDir: t.TempDir(),
		}))
	}
	tc.waitReady()
	return tc
}

// startNode starts one node with the cluster options o (Node, History and
// Logger filled in here).
func startNode(t testing.TB, name string, history int, o cluster.Options) *testNode {
	t.Helper()
	log := testLogger().With("node", name)
	srv, err := wsconn.New(wsconn.Options{Addr: "127.0.0.1:0", Logger: log})
	require.NoError(t, err)
	h := hub.New(srv, hub.Options{History: history, Logger: log})
	o.Node, o.History, o.Logger = name, history, log
	node, err := cluster.Start(h, o)
	require.NoError(t, err)
	require.NoError(t, srv.Start(demo.New(h, srv).Routes()))
	tn := &testNode{name: name, addr: srv.Addr().String(), srv: srv, hub: h, node: node}
	t.Cleanup(tn.stop)
	return tn
}

func (tn *testNode) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	tn.srv.Shutdown(ctx)
	tn.node.Close()
}

func (tc *testCluster) waitReady() {
	tc.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, n := range tc.nodes {
		require.NoError(tc.t, n.node.WaitReady(ctx))
	}
	// Every node hears every other's heartbeat before Gather counts them.
	require.Eventually(tc.t, func() bool {
		for _, n := range tc.nodes {
			var h struct {
				Cluster struct {
					Nodes []any `json:"nodes"`
				} `json:"cluster"`
			}
			if code := n.getJSON("/healthz", &h); code != 200 || len(h.Cluster.Nodes) != len(tc.nodes) {
				return false
			}
		}
		return true
	}, 20*time.Second, 50*time.Millisecond, "every node sees the others")
}

// dial opens a WebSocket to uri on the node.
func (tn *testNode) dial(t testing.TB, uri string) *wstest.Client {
	t.Helper()
	c, err := wstest.Dial(tn.addr, uri, "")
	require.NoError(t, err, "dial %s%s", tn.addr, uri)
	t.Cleanup(func() { c.Close() })
	return c
}

// post makes a POST and returns the status and the decoded answer.
func (tn *testNode) post(t testing.TB, path, body string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post("http://"+tn.addr+path, "text/plain", strings.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	require.NoError(t, json.Unmarshal(raw, &out), "POST %s answered %q", path, raw)
	return resp.StatusCode, out
}

// getJSON makes a GET, decodes the answer into v and returns the status.
func (tn *testNode) getJSON(path string, v any) int {
	resp, err := http.Get("http://" + tn.addr + path)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if json.Unmarshal(raw, v) != nil {
		return -resp.StatusCode
	}
	return resp.StatusCode
}

// msg reads the next text message as JSON.
func msg(t testing.TB, c *wstest.Client) map[string]any {
	t.Helper()
	op, p, err := c.ReadMessage(10 * time.Second)
	require.NoError(t, err)
	require.Equal(t, frame.OpText, op, "payload %q", p)
	var m map[string]any
	require.NoError(t, json.Unmarshal(p, &m), "payload %q", p)
	return m
}

// expectType reads the next message and checks its type.
func expectType(t testing.TB, c *wstest.Client, typ string) map[string]any {
	t.Helper()
	m := msg(t, c)
	require.Equal(t, typ, m["type"], "message %v", m)
	return m
}

// seqOf reads a message envelope's seq.
func seqOf(m map[string]any) uint64 {
	f, _ := m["seq"].(float64)
	return uint64(f)
}

func num(v any) int64 {
	f, _ := v.(float64)
	return int64(f)
}

func sendJSON(t testing.TB, c *wstest.Client, v string) {
	t.Helper()
	require.NoError(t, c.Send(true, frame.OpText, []byte(v)))
}

type wstestClient = wstest.Client
