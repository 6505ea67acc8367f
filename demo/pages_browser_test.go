package demo

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/wsd-dev/wsd/internal/browser"
)

// serverStats reads GET /stats: the hub's counts and the server's.
func serverStats(t *testing.T, e *env) (st struct {
	Connections int64 `json:"connections"`
	Server      struct {
		Connections int64 `json:"connections"`
		Upgrades    int64 `json:"upgrades"`
	} `json:"server"`
}) {
	t.Helper()
	resp, err := http.Get("http://" + e.addr + "/stats")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&st))
	return st
}

// waitServerConns waits until /stats counts n connections on the server
// (handshaking ones included: a browser's spare preconnect is one until
// the handshake timeout).
func waitServerConns(t *testing.T, e *env, n int64, msg string) {
	t.Helper()
	deadline := time.Now().Add(pageWait)
	for {
		got := serverStats(t, e).Server.Connections
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: /stats server.connections = %d after %v, want %d", msg, got, pageWait, n)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// js quotes s as a JavaScript string literal.
func js(s string) string { b, _ := json.Marshal(s); return string(b) }

// Running the example again while connected must not leak the first
// socket: after Close the server holds none.
func TestEchoPageOneSocketInChromium(t *testing.T) {
	e := start(t, "127.0.0.1:0", nil)
	tab := browser.New(t)
	require.NoError(t, browser.Navigate(tab, "http://"+e.addr+"/echo.html"))
	log := `document.getElementById('log').textContent`
	received := `(` + log + `.match(/数据已接收: 发送数据/g) || []).length`
	require.NoError(t, browser.Click(tab, "#run"))
	require.NoError(t, browser.WaitTrue(tab, received+` === 1`, log, pageWait))
	require.NoError(t, browser.Click(tab, "#run"))
	require.NoError(t, browser.WaitTrue(tab, received+` === 2 && document.getElementById('status').textContent === 'open'`, log, pageWait))
	require.NoError(t, browser.Click(tab, "#close"))
	require.NoError(t, browser.WaitTrue(tab, `document.getElementById('status').textContent === 'closed'`, log, pageWait))
	waitServerConns(t, e, 0, "after Close")
	text, _ := browser.Eval[string](tab, log)
	require.True(t, strings.Contains(text, "连接已关闭 (code 1000)"), text)
}

// An empty or 0 quantity gets a human message and places nothing; what
// the page cannot check (here an item the server refuses) still shows
// the server's message.
func TestShopPageValidatesInChromium(t *testing.T) {
	e := start(t, "127.0.0.1:0", nil)
	tab := browser.New(t)
	require.NoError(t, browser.Navigate(tab, "http://"+e.addr+"/shop.html"))
	result := `document.getElementById('result')`
	text := result + `.textContent`
	human := `请输入 1 到 1000 之间的整数数量`
	qty := func(keys string) { // clear the field, then type
		t.Helper()
		_, err := browser.Eval[any](tab, `document.getElementById('qty').value = ''`)
		require.NoError(t, err)
		if keys != "" {
			require.NoError(t, browser.Type(tab, "#qty", keys))
		}
	}
	qty("")
	require.NoError(t, browser.Click(tab, "#order"))
	require.NoError(t, browser.WaitTrue(tab, text+`.includes(`+js(human)+`)`, text, pageWait), "empty quantity")
	for _, bad := range []string{"0", "1001", "1.5"} {
		qty(bad)
		_, err := browser.Eval[any](tab, result+`.textContent = ''`)
		require.NoError(t, err)
		require.NoError(t, browser.Click(tab, "#order"))
		require.NoError(t, browser.WaitTrue(tab, text+`.includes(`+js(human)+`)`, text, pageWait), "quantity %s", bad)
		got, _ := browser.Eval[string](tab, text)
		require.NotContains(t, got, `"item"`, "no raw API error")
	}
	require.Equal(t, uint64(0), e.hub.User(AdminUser).Seq, "nothing was ordered")

	// A valid quantity goes through.
	qty("2")
	require.NoError(t, browser.Click(tab, "#order"))
	require.NoError(t, browser.WaitTrue(tab, result+`.dataset.placed === '1'`, text, pageWait))

	// The server's own refusals are still shown: an item it does not take.
	_, err := browser.Eval[any](tab, `(function () { var s = document.getElementById('item'); s.add(new Option('(none)', '')); s.value = ''; })()`)
	require.NoError(t, err)
	require.NoError(t, browser.Click(tab, "#order"))
	require.NoError(t, browser.WaitTrue(tab, text+`.includes('qty":1..1000}')`, text, pageWait), "the server's message")
}
