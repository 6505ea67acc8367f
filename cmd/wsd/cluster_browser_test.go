package main

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/wsd-dev/wsd/internal/browser"
)

// pageOrders is the admin page's listed orders, by seq, newest first.
const pageOrders = `Array.from(document.querySelectorAll('#orders .order')).map(d => +d.dataset.seq)`

// order publishes a shop order to the admin through node n, trying again
// (on the next live node) until one stores it.
func order(t *testing.T, nodes []*cnode, id int) {
	t.Helper()
	body := fmt.Sprintf(`{"type":"order","id":%d,"item":"cluster","qty":1}`, id)
	eventually(t, 60*time.Second, func() bool {
		for _, n := range nodes {
			if code, _ := n.publish("admin", body); code == 200 {
				return true
			}
		}
		time.Sleep(20 * time.Millisecond)
		return false
	}, "order %d never stored", id)
}

// TestAdminPageSurvivesANodeKillInChromium opens the admin page (wsd.js,
// given every node) in Chromium, kills the node its connection is on with
// SIGKILL while orders keep coming, and checks that the page lists every
// order once: wsd.js reconnects to another node and resumes with ?since=.
func TestAdminPageSurvivesANodeKillInChromium(t *testing.T) {
	bin := buildWSD(t)
	nodes := newEmbeddedCluster(t, bin, 3)
	for _, n := range nodes {
		n.start()
	}
	waitReady(t, nodes, 60*time.Second)
	var list []string
	for _, n := range nodes {
		list = append(list, n.wsAddr())
	}
	for id := 1; id <= 5; id++ {
		order(t, nodes, id)
	}
	tab := browser.New(t)
	require.NoError(t, browser.Navigate(tab, nodes[0].url("/admin.html?nodes="+strings.Join(list, ","))))
	state := `document.body.dataset.state`
	require.NoError(t, browser.WaitTrue(tab, state+` === 'open' && `+pageOrders+`.length === 5`, pageOrders, 20*time.Second))
	on, err := browser.Eval[string](tab, `document.body.dataset.node`)
	require.NoError(t, err)
	victim := -1
	for i, n := range nodes {
		if n.wsAddr() == on {
			victim = i
		}
	}
	require.NotEqual(t, -1, victim, "the page is on %q, not one of %v", on, list)
	t.Logf("the page is on %s (%s): killing it", nodes[victim].name, on)
	for id := 6; id <= 8; id++ {
		order(t, nodes, id)
	}
	require.NoError(t, nodes[victim].cmd.Process.Signal(syscall.SIGKILL))
	<-nodes[victim].done
	alive := append(append([]*cnode{}, nodes[:victim]...), nodes[victim+1:]...)
	for id := 9; id <= 15; id++ {
		order(t, alive, id)
	}
	require.NoError(t, browser.WaitTrue(tab, pageOrders+`.length >= 15 && `+state+` === 'open'`, pageOrders, 60*time.Second))
	var got []int
	require.NoError(t, browser.WaitJSON(tab, pageOrders, &got, time.Second))
	want := []int{}
	for s := 15; s >= 1; s-- {
		want = append(want, s)
	}
	require.Equal(t, want, got, "every order once, newest first")
	now, _ := browser.Eval[string](tab, `document.body.dataset.node`)
	require.NotEqual(t, on, now, "the page moved to another node")
	t.Logf("the page moved to %s", now)
}

// TestWsdJSFallsBackToPollingInChromium serves the admin page from a node
// that refuses the page's WebSocket upgrades (another -origins): wsd.js
// falls back to long polling and still lists every order once.
func TestWsdJSFallsBackToPollingInChromium(t *testing.T) {
	bin := buildWSD(t)
	p := runWSD(t, bin, "-origins", "http://elsewhere.invalid")
	post := func(id int) {
		code, out := p.request("POST", "/publish/admin", fmt.Sprintf(`{"type":"order","id":%d,"item":"poll","qty":1}`, id))
		require.Equal(t, 200, code, "%v", out)
	}
	post(1)
	post(2)
	tab := browser.New(t)
	require.NoError(t, browser.Navigate(tab, "http://"+p.addr+"/admin.html"))
	state := `document.body.dataset.state`
	require.NoError(t, browser.WaitTrue(tab, state+` === 'polling' && `+pageOrders+`.length === 2`, state, 30*time.Second))
	post(3) // reaches the waiting long poll
	post(4)
	require.NoError(t, browser.WaitTrue(tab, pageOrders+`.length === 4`, pageOrders, 30*time.Second))
	var got []int
	require.NoError(t, browser.WaitJSON(tab, pageOrders, &got, time.Second))
	require.Equal(t, []int{4, 3, 2, 1}, got)
	_, st := p.request("GET", "/stats", "")
	refused, _ := st["server"].(map[string]any)["handshake_errors"].(float64)
	require.GreaterOrEqual(t, refused, float64(3), "the page's upgrades were refused (403) before it polled: %v", st["server"])
}
