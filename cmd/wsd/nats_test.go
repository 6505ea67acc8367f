package main

import (
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/internal/wstest"
)

// natsServers starts n of Debian's nats-server (scripts/test-deps.sh
// installs it) as one cluster with JetStream, each on its own ports and
// store; it returns their client URLs.
func natsServers(t *testing.T, n int) []string {
	t.Helper()
	bin, err := exec.LookPath("nats-server")
	require.NoError(t, err, "Debian's nats-server is needed (make deps installs it)")
	clients, routes := make([]string, n), make([]string, n)
	for i := range n {
		clients[i], routes[i] = "nats://"+freeAddr(t), "nats://"+freeAddr(t)
	}
	dir := t.TempDir()
	for i := range n {
		var peers []string
		for j, r := range routes {
			if j != i {
				peers = append(peers, r)
			}
		}
		host, port, _ := strings.Cut(strings.TrimPrefix(clients[i], "nats://"), ":")
		cmd := exec.Command(bin, "-js", "-sd", filepath.Join(dir, fmt.Sprint(i)), "-a", host, "-p", port,
			"--server_name", fmt.Sprintf("s%d", i+1), "--cluster_name", "wsdtest", "--cluster", routes[i],
			"--routes", strings.Join(peers, ","))
		var out strings.Builder
		cmd.Stderr, cmd.Stdout = &out, &out
		require.NoError(t, cmd.Start())
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		t.Cleanup(func() {
			cmd.Process.Kill()
			<-done
		})
	}
	return clients
}

// TestClusterOverDebianNATS runs three wsd nodes joined through a cluster
// of three of Debian's nats-server (-nats): publishes from every node reach
// every connection once, in order; ?since= works on another node;
// a broadcast reaches every connection once.
func TestClusterOverDebianNATS(t *testing.T) {
	urls := natsServers(t, 3)
	bin := buildWSD(t)
	var nodes []*cnode
	for i := range 3 {
		// Each node lists its own server first and keeps that order.
		list := append([]string{urls[i]}, append(append([]string{}, urls[:i]...), urls[i+1:]...)...)
		nodes = append(nodes, &cnode{t: t, bin: bin, name: fmt.Sprintf("w%d", i+1),
			args: []string{"-node", fmt.Sprintf("w%d", i+1), "-nats", strings.Join(list, ","), "-replicas", "3"}})
	}
	for _, n := range nodes {
		n.start()
	}
	waitReady(t, nodes, 90*time.Second)

	recv := make([]*receiver, 3)
	for i, n := range nodes {
		recv[i] = newReceiver(t, "d")
		recv[i].connect(n)
	}
	const each = 20
	var wg sync.WaitGroup
	var mu sync.Mutex
	seqs := map[uint64]bool{}
	for _, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				code, out := n.publish("d", fmt.Sprintf("%s #%d", n.name, i))
				if code != 200 {
					t.Errorf("publish on %s: %d %v", n.name, code, out)
					return
				}
				mu.Lock()
				seqs[uint64(out["seq"].(float64))] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	require.Len(t, seqs, 3*each, "every publish its own number")
	for i, r := range recv {
		require.True(t, r.until(3*each, 20*time.Second), "receiver %d at %d", i, r.last())
		for k, s := range r.seqs {
			require.Equal(t, uint64(k+1), s, "receiver %d", i)
		}
	}
	// Resume on another node.
	late := newReceiver(t, "d")
	late.seqs = []uint64{3*each - 2}
	late.connect(nodes[2])
	require.True(t, late.until(3*each, 10*time.Second))
	require.Equal(t, []uint64{3*each - 2, 3*each - 1, 3 * each}, late.seqs)

	// A broadcast reaches every connection once.
	resp, err := httpPost(nodes[1].url("/broadcast"), "all")
	require.NoError(t, err)
	require.Equal(t, 202, resp)
	for i, r := range recv {
		m := r.read(10 * time.Second)
		require.Equal(t, "broadcast", m["type"], "receiver %d: %v", i, m)
	}
	c, err := wstest.Dial(nodes[0].wsAddr(), "/ws/d?since=0", "")
	require.NoError(t, err)
	defer c.Close()
	op, p, err := c.ReadMessage(5 * time.Second)
	require.NoError(t, err)
	require.Equal(t, frame.OpText, op)
	require.Contains(t, string(p), fmt.Sprintf(`"seq":%d`, 3*each))
}

func httpPost(url, body string) (int, error) {
	resp, err := http.Post(url, "text/plain", strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}
