package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/internal/wstest"
)

// Clusters of wsd processes: what only processes can show (a kill -9, a
// whole cluster stopped and started again on its stores).

// cnode is one wsd process of a test cluster; start runs it (again) with
// the same name, routes and store.
type cnode struct {
	t    *testing.T
	bin  string
	name string
	args []string
	// noAddr: args carry their own -addr (else 127.0.0.1:0 comes first).
	noAddr bool
	token  string // the API's Bearer token, if it wants one

	mu   sync.Mutex
	cmd  *exec.Cmd
	addr string
	logb strings.Builder
	done chan struct{}
}

// newEmbeddedCluster makes n nodes with embedded NATS (not started).
func newEmbeddedCluster(t *testing.T, bin string, n int, extra ...string) []*cnode {
	routes := make([]string, n)
	for i := range routes {
		routes[i] = freeAddr(t)
	}
	dir := t.TempDir()
	var nodes []*cnode
	for i := range n {
		var peers []string
		for j, r := range routes {
			if j != i {
				peers = append(peers, r)
			}
		}
		name := fmt.Sprintf("n%d", i+1)
		args := append([]string{"-node", name, "-cluster-listen", routes[i], "-cluster-peers", strings.Join(peers, ","),
			"-data", filepath.Join(dir, name)}, extra...)
		nodes = append(nodes, &cnode{t: t, bin: bin, name: name, args: args})
	}
	return nodes
}

// start runs the node and waits for its startup line.
func (c *cnode) start() {
	c.t.Helper()
	args := c.args
	if !c.noAddr {
		args = append([]string{"-addr", "127.0.0.1:0"}, args...)
	}
	cmd := exec.Command(c.bin, args...)
	pipe, err := cmd.StderrPipe()
	require.NoError(c.t, err)
	require.NoError(c.t, cmd.Start())
	done := make(chan struct{})
	c.mu.Lock()
	c.cmd, c.done = cmd, done
	c.mu.Unlock()
	c.t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
	})
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			if m := listenAddr.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			}
			c.mu.Lock()
			c.logb.WriteString(sc.Text() + "\n")
			c.mu.Unlock()
		}
		cmd.Wait()
		close(done)
	}()
	select {
	case a := <-addr:
		c.mu.Lock()
		c.addr = a
		c.mu.Unlock()
	case <-done:
		c.t.Fatalf("%s exited at start:\n%s", c.name, c.log())
	case <-time.After(20 * time.Second):
		c.t.Fatalf("%s: no startup line within 20 s:\n%s", c.name, c.log())
	}
}

func (c *cnode) log() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.logb.String()
}

func (c *cnode) url(path string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return "http://" + c.addr + path
}

func (c *cnode) wsAddr() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.addr
}

// stop sends SIGTERM and waits for a clean exit.
func (c *cnode) stop() {
	c.t.Helper()
	require.NoError(c.t, c.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-c.done:
	case <-time.After(20 * time.Second):
		c.t.Fatalf("%s did not exit within 20 s of SIGTERM:\n%s", c.name, c.log())
	}
	require.True(c.t, c.cmd.ProcessState.Success(), "%s exit: %v\n%s", c.name, c.cmd.ProcessState, c.log())
}

// health returns the node's /healthz status and body.
func (c *cnode) health() (int, map[string]any) {
	resp, err := http.Get(c.url("/healthz"))
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// waitReady waits until every node answers /healthz 200 and sees them all.
func waitReady(t *testing.T, nodes []*cnode, timeout time.Duration) {
	t.Helper()
	for _, c := range nodes {
		eventually(t, timeout, func() bool {
			code, h := c.health()
			cl, _ := h["cluster"].(map[string]any)
			seen, _ := cl["nodes"].([]any)
			return code == 200 && len(seen) == len(nodes)
		}, "%s never became ready:\n%s", c.name, c.log())
	}
}

// publish POSTs to /publish/{user} and returns the status and answer.
func (c *cnode) publish(user, body string) (int, map[string]any) {
	client := http.Client{Timeout: 10 * time.Second}
	req, _ := http.NewRequest("POST", c.url("/publish/"+user), strings.NewReader(body))
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, map[string]any{"error": err.Error()}
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	json.Unmarshal(raw, &out)
	return resp.StatusCode, out
}

// receiver is a user connection that records every message it gets and
// can move to another node, resuming with ?since=.
type receiver struct {
	t    *testing.T
	user string
	mu   sync.Mutex
	seqs []uint64
	data map[uint64]string
	c    *wstest.Client
	on   *cnode
}

func newReceiver(t *testing.T, user string) *receiver {
	return &receiver{t: t, user: user, data: map[uint64]string{}}
}

// connect dials the node with ?since= the last seen and reads the hello.
// A node that cannot read the user's state yet (a leader being elected)
// closes with 1013: it tries again, as wsd.js does.
func (r *receiver) connect(n *cnode) {
	r.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := wstest.Dial(n.wsAddr(), fmt.Sprintf("/ws/%s?since=%d", r.user, r.last()), "")
		require.NoError(r.t, err)
		r.c, r.on = c, n
		r.t.Cleanup(func() { c.Close() })
		m := r.read(10 * time.Second)
		if m["type"] == "hello" {
			return
		}
		c.Close()
		require.True(r.t, time.Now().Before(deadline), "no hello from %s: %v", n.name, m)
		time.Sleep(200 * time.Millisecond)
	}
}

func (r *receiver) last() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.seqs) == 0 {
		return 0
	}
	return r.seqs[len(r.seqs)-1]
}

func (r *receiver) read(timeout time.Duration) map[string]any {
	op, p, err := r.c.ReadMessage(timeout)
	if err != nil {
		return map[string]any{"error": err.Error()}
	}
	if op != frame.OpText {
		return map[string]any{"type": "control", "op": int(op)}
	}
	var m map[string]any
	require.NoError(r.t, json.Unmarshal(p, &m), "%q", p)
	return m
}

// until reads messages until it has seen seq, recording each; it stops at
// a read error (the node went away) and reports whether it got there.
func (r *receiver) until(seq uint64, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for r.last() < seq {
		left := time.Until(deadline)
		if left <= 0 {
			return false
		}
		m := r.read(left)
		switch m["type"] {
		case "message":
			s := uint64(m["seq"].(float64))
			r.mu.Lock()
			r.seqs = append(r.seqs, s)
			r.data[s], _ = m["data"].(string)
			r.mu.Unlock()
		case "gap":
			r.t.Errorf("%s got a gap: %v", r.user, m)
		case "broadcast", "unread":
		default:
			return false
		}
	}
	return true
}

// TestClusterKill9LosesNoAcknowledgedMessage kills the stream's leader with
// SIGKILL while publishes go on through every node: every publish answered
// 200 reaches every receiver once, in order, the killed node's receiver
// moving to another node with ?since=.
func TestClusterKill9LosesNoAcknowledgedMessage(t *testing.T) {
	bin := buildWSD(t)
	nodes := newEmbeddedCluster(t, bin, 3, "-history", "1000")
	for _, n := range nodes {
		n.start()
	}
	waitReady(t, nodes, 60*time.Second)

	recv := make([]*receiver, 3)
	for i, n := range nodes {
		recv[i] = newReceiver(t, "k")
		recv[i].connect(n)
	}
	// The victim: the stream's leader, the node whose loss hurts most.
	_, h := nodes[0].health()
	leader, _ := h["cluster"].(map[string]any)["stream_leader"].(string)
	victim := 0
	for i, n := range nodes {
		if n.name == leader {
			victim = i
		}
	}
	t.Logf("killing %s, the stream's leader", nodes[victim].name)

	var mu sync.Mutex
	acked := map[uint64]string{}
	alive := []*cnode{nodes[0], nodes[1], nodes[2]}
	var killed sync.WaitGroup
	killed.Add(1)
	const total = 240
	var refused int
	finished, didKill := false, false
	stop, pubDone := make(chan struct{}), make(chan struct{})
	defer func() { close(stop); <-pubDone }() // no publisher outlives the test
	go func() {
		defer close(pubDone)
		for i := 0; i < total; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if i == total/3 && !didKill {
				didKill = true
				nodes[victim].cmd.Process.Signal(syscall.SIGKILL)
				<-nodes[victim].done
				mu.Lock()
				alive = append(append([]*cnode{}, nodes[:victim]...), nodes[victim+1:]...)
				mu.Unlock()
				killed.Done()
			}
			mu.Lock()
			n := alive[(i+refused)%len(alive)]
			mu.Unlock()
			body := fmt.Sprintf("msg %d via %s", i, n.name)
			code, out := n.publish("k", body)
			mu.Lock()
			if code != 200 && refused < 2000 {
				// As a client would: try again a little later (on the
				// next node), until the cluster has a leader again.
				refused++
				mu.Unlock()
				time.Sleep(20 * time.Millisecond)
				i--
				continue
			}
			if code == 200 {
				s := uint64(out["seq"].(float64))
				if prev, dup := acked[s]; dup {
					t.Errorf("seq %d acknowledged twice: %q and %q", s, prev, body)
				}
				acked[s] = body
			} else {
				t.Errorf("publish %d still refused after 2000 tries: %d %v", i, code, out)
			}
			mu.Unlock()
		}
		mu.Lock()
		finished = true
		mu.Unlock()
	}()
	killed.Wait()
	// The victim's receiver loses its connection and resumes elsewhere.
	v := recv[victim]
	v.until(1<<62, 15*time.Second) // reads until the connection ends
	v.c.Close()
	other := nodes[(victim+1)%3]
	eventually(t, 30*time.Second, func() bool { code, _ := other.health(); return code == 200 }, "%s not ready after the kill", other.name)
	v.connect(other)

	// Wait for the publisher, then one last message marks the end.
	eventually(t, 120*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return finished
	}, "publishes did not finish")
	var last uint64
	eventually(t, 30*time.Second, func() bool {
		code, out := other.publish("k", "the end")
		if code == 200 {
			last = uint64(out["seq"].(float64))
		}
		return code == 200
	}, "the last publish was refused")
	mu.Lock()
	t.Logf("%d publishes acknowledged, %d refusals (answered non-200 around the kill, tried again)", len(acked), refused)
	require.Len(t, acked, total)
	mu.Unlock()

	for i, r := range recv {
		require.True(t, r.until(last, 60*time.Second), "receiver %d (%s) stopped at %d of %d", i, r.on.name, r.last(), last)
		r.mu.Lock()
		for k := 1; k < len(r.seqs); k++ {
			require.Less(t, r.seqs[k-1], r.seqs[k], "receiver %d: seq %d after %d (twice or out of order)", i, r.seqs[k], r.seqs[k-1])
		}
		got := map[uint64]bool{}
		for _, s := range r.seqs {
			got[s] = true
		}
		mu.Lock()
		for s, body := range acked {
			require.True(t, got[s], "receiver %d lacks acknowledged seq %d", i, s)
			require.Equal(t, body, r.data[s], "receiver %d seq %d", i, s)
		}
		mu.Unlock()
		r.mu.Unlock()
	}
	// Numbers strictly increase across the cluster: the ones handed out
	// are 1..last, none twice (checked as they came), none skipped.
	for i, r := range recv {
		r.mu.Lock()
		require.Len(t, r.seqs, int(last), "receiver %d", i)
		r.mu.Unlock()
	}
}

// TestClusterRestartKeepsHistoryAndUnread stops all three nodes with
// SIGTERM and starts them again on their stores: every user's history,
// sequence numbers and unread count are still there.
func TestClusterRestartKeepsHistoryAndUnread(t *testing.T) {
	bin := buildWSD(t)
	nodes := newEmbeddedCluster(t, bin, 3)
	for _, n := range nodes {
		n.start()
	}
	waitReady(t, nodes, 60*time.Second)
	for i := 1; i <= 5; i++ {
		code, out := nodes[i%3].publish("keeper", fmt.Sprintf("k%d", i))
		require.Equal(t, 200, code, "%v", out)
	}
	for i := 1; i <= 3; i++ {
		code, _ := nodes[i%3].publish("reader", fmt.Sprintf("r%d", i))
		require.Equal(t, 200, code)
	}
	// reader reads up to 3 on n2, then gets one more: unread 1.
	c, err := wstest.Dial(nodes[1].wsAddr(), "/ws/reader", "")
	require.NoError(t, err)
	_, _, err = c.ReadMessage(5 * time.Second) // hello
	require.NoError(t, err)
	require.NoError(t, c.Send(true, frame.OpText, []byte(`{"type":"read"}`)))
	_, p, err := c.ReadMessage(10 * time.Second)
	require.NoError(t, err)
	require.Contains(t, string(p), `"type":"unread","unread":0`)
	c.Close()
	code, _ := nodes[0].publish("reader", "r4")
	require.Equal(t, 200, code)

	for _, n := range nodes {
		n.stop()
	}
	for _, n := range nodes {
		n.start()
	}
	waitReady(t, nodes, 90*time.Second)

	r := newReceiver(t, "keeper")
	r.c, err = wstest.Dial(nodes[2].wsAddr(), "/ws/keeper?since=0", "")
	require.NoError(t, err)
	hello := r.read(10 * time.Second)
	require.Equal(t, "hello", hello["type"])
	require.Equal(t, float64(5), hello["seq"])
	require.Equal(t, float64(5), hello["unread"])
	require.True(t, r.until(5, 10*time.Second))
	require.Equal(t, []uint64{1, 2, 3, 4, 5}, r.seqs)
	require.Equal(t, "k1", r.data[1])

	var info map[string]any
	resp, err := http.Get(nodes[0].url("/users/reader"))
	require.NoError(t, err)
	json.NewDecoder(resp.Body).Decode(&info)
	resp.Body.Close()
	require.Equal(t, float64(4), info["seq"], "%v", info)
	require.Equal(t, float64(1), info["unread"], "%v", info)

	code, out := nodes[1].publish("keeper", "k6")
	require.Equal(t, 200, code, "%v", out)
	require.Equal(t, float64(6), out["seq"])
	require.True(t, r.until(6, 10*time.Second))
}
