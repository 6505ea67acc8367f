package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A real partition: three nodes, each in its own network namespace. Their
// NATS routes meet on a bridge (10.200.0.1-3), each node's clients reach it
// over a link of its own (10.200.0.128/25, a /30 per node). Taking node 3's
// bridge link down cuts it from the cluster while its clients keep it.

// netlab is the namespaces and links one test made; remove undoes all of
// them, failed test or not.
type netlab struct {
	t      *testing.T
	prefix string
	ns     []string
	links  []string // root-side interfaces (deleting one deletes its peer)
	bridge string
}

func ipcmd(t *testing.T, args ...string) {
	t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	require.NoError(t, err, "ip %s: %s", strings.Join(args, " "), out)
}

// newNetlab makes n namespaces joined by a bridge, with a client link each.
func newNetlab(t *testing.T, n int) *netlab {
	t.Helper()
	require.Equal(t, 0, os.Geteuid(), "the partition test makes network namespaces: it runs as root")
	_, err := exec.LookPath("ip")
	require.NoError(t, err, "iproute2's ip is needed")
	l := &netlab{t: t, prefix: fmt.Sprintf("wp%04x", os.Getpid()&0xffff)}
	t.Cleanup(l.remove)
	l.bridge = l.prefix + "br"
	ipcmd(t, "link", "add", l.bridge, "type", "bridge")
	l.links = append(l.links, l.bridge)
	ipcmd(t, "link", "set", l.bridge, "up")
	for i := range n {
		ns := fmt.Sprintf("%s-n%d", l.prefix, i+1)
		ipcmd(t, "netns", "add", ns)
		l.ns = append(l.ns, ns)
		ipcmd(t, "-n", ns, "link", "set", "lo", "up")
		// The cluster link, on the bridge.
		c := fmt.Sprintf("%sc%d", l.prefix, i+1)
		ipcmd(t, "link", "add", c, "type", "veth", "peer", "name", "eth0", "netns", ns)
		l.links = append(l.links, c)
		ipcmd(t, "link", "set", c, "master", l.bridge)
		ipcmd(t, "link", "set", c, "up")
		ipcmd(t, "-n", ns, "addr", "add", l.clusterIP(i)+"/25", "dev", "eth0")
		ipcmd(t, "-n", ns, "link", "set", "eth0", "up")
		// The client link, point to point with the root namespace.
		k := fmt.Sprintf("%sk%d", l.prefix, i+1)
		ipcmd(t, "link", "add", k, "type", "veth", "peer", "name", "eth1", "netns", ns)
		l.links = append(l.links, k)
		ipcmd(t, "addr", "add", fmt.Sprintf("10.200.0.%d/30", 129+4*i), "dev", k)
		ipcmd(t, "link", "set", k, "up")
		ipcmd(t, "-n", ns, "addr", "add", l.clientIP(i)+"/30", "dev", "eth1")
		ipcmd(t, "-n", ns, "link", "set", "eth1", "up")
	}
	return l
}

func (l *netlab) clusterIP(i int) string { return fmt.Sprintf("10.200.0.%d", 1+i) }
func (l *netlab) clientIP(i int) string  { return fmt.Sprintf("10.200.0.%d", 130+4*i) }

// cut takes node i's bridge link down (or up again).
func (l *netlab) cut(i int, down bool) {
	state := "up"
	if down {
		state = "down"
	}
	ipcmd(l.t, "link", "set", fmt.Sprintf("%sc%d", l.prefix, i+1), state)
}

func (l *netlab) remove() {
	for _, ns := range l.ns {
		exec.Command("ip", "netns", "del", ns).Run()
	}
	for _, k := range l.links {
		exec.Command("ip", "link", "del", k).Run() // gone with its namespace already, mostly
	}
	out, _ := exec.Command("ip", "-o", "link").Output()
	if strings.Contains(string(out), l.prefix) {
		l.t.Errorf("links left behind with prefix %s:\n%s", l.prefix, out)
	}
	out, _ = exec.Command("ip", "netns", "list").Output()
	if strings.Contains(string(out), l.prefix) {
		l.t.Errorf("namespaces left behind with prefix %s:\n%s", l.prefix, out)
	}
}

// TestClusterPartition cuts node 3 off the cluster: it keeps its
// connections, answers publishes 503 and /healthz 503 while the other two
// go on storing; when the link comes back it catches up, and its
// connections get every message published meanwhile, once, in order.
func TestClusterPartition(t *testing.T) {
	bin := buildWSD(t)
	lab := newNetlab(t, 3)
	dir := t.TempDir()
	const token = "partition-test-token"
	var nodes []*cnode
	for i := range 3 {
		var peers []string
		for j := range 3 {
			if j != i {
				peers = append(peers, lab.clusterIP(j)+":7422")
			}
		}
		name := fmt.Sprintf("n%d", i+1)
		n := &cnode{t: t, bin: "ip", name: name, args: []string{"netns", "exec", lab.ns[i], bin,
			"-addr", lab.clientIP(i) + ":8080", "-api-token", token, "-node", name,
			"-cluster-listen", lab.clusterIP(i) + ":7422", "-cluster-peers", strings.Join(peers, ","),
			"-data", filepath.Join(dir, name)}}
		n.noAddr = true
		nodes = append(nodes, n)
	}
	for _, n := range nodes {
		n.start()
	}
	waitReady(t, nodes, 90*time.Second)
	n1, n3 := nodes[0], nodes[2]
	n1.token, nodes[1].token, n3.token = token, token, token

	recv := make([]*receiver, 3)
	for i, n := range nodes {
		recv[i] = newReceiver(t, "p")
		recv[i].connect(n)
	}
	for i := 1; i <= 3; i++ {
		code, out := nodes[i%3].publish("p", fmt.Sprintf("before %d", i))
		require.Equal(t, 200, code, "%v", out)
	}
	for i, r := range recv {
		require.True(t, r.until(3, 10*time.Second), "receiver %d", i)
	}

	lab.cut(2, true)
	eventually(t, 30*time.Second, func() bool { code, _ := n3.health(); return code == 503 }, "n3's /healthz stayed 200 when cut off")
	code, out := n3.publish("p", "from the cut-off node")
	require.Equal(t, 503, code, "a publish on the cut-off node: %v", out)
	// The majority goes on (after electing a leader if n3 led).
	var during []uint64
	for i := 0; len(during) < 5; i++ {
		require.Less(t, i, 3000, "the majority side never stored")
		code, out := nodes[i%2].publish("p", fmt.Sprintf("during %d", len(during)+1))
		if code == 200 {
			during = append(during, uint64(out["seq"].(float64)))
		} else {
			time.Sleep(20 * time.Millisecond)
		}
	}
	require.Equal(t, []uint64{4, 5, 6, 7, 8}, during)
	// If n3 held the stream's leader or a consumer, the majority's consumers
	// move to the new leader first (the client library's reset, or the
	// node's unstall after six probes): as long as n3's catching up below.
	require.True(t, recv[0].until(8, 30*time.Second), "n1's receiver at %d", recv[0].last())
	require.True(t, recv[1].until(8, 30*time.Second), "n2's receiver at %d", recv[1].last())
	require.Equal(t, uint64(3), recv[2].last(), "n3's receiver cannot have them yet")

	lab.cut(2, false)
	eventually(t, 60*time.Second, func() bool { code, _ := n3.health(); return code == 200 }, "n3 did not come back")
	// Its connection, never closed, catches up: 4..8 once, in order.
	require.True(t, recv[2].until(8, 30*time.Second), "n3's receiver at %d", recv[2].last())
	require.Equal(t, []uint64{1, 2, 3, 4, 5, 6, 7, 8}, recv[2].seqs)
	require.Equal(t, "during 5", recv[2].data[8])
	eventually(t, 30*time.Second, func() bool { code, _ := n3.publish("p", "after"); return code == 200 }, "n3 never stored again")
	for i, r := range recv {
		require.True(t, r.until(9, 10*time.Second), "receiver %d", i)
		require.Len(t, r.seqs, 9, "receiver %d: %v", i, r.seqs)
	}
}
