package demo

import (
	"context"
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

// joinChat loads the chat page in tab, types nick and clicks start.
func joinChat(t *testing.T, e *env, tab context.Context, nick string) {
	t.Helper()
	require.NoError(t, browser.Navigate(tab, "http://"+e.addr+"/chat.html"))
	require.NoError(t, browser.Type(tab, "#yourName", nick))
	require.NoError(t, browser.Click(tab, "#start"))
}

const chatLines = `document.getElementById('messages').textContent`

// While connected, start is disabled: a second click opens no second
// socket, and every line shows once.
func TestChatPageOneConnectionInChromium(t *testing.T) {
	e := start(t, "127.0.0.1:0", nil)
	tab := browser.New(t)
	status := `document.getElementById('status').textContent`
	joinChat(t, e, tab, "ann")
	require.NoError(t, browser.WaitTrue(tab, status+` === 'online as ann'`, status, pageWait))
	require.NoError(t, browser.WaitTrue(tab, `document.getElementById('start').disabled && document.getElementById('yourName').disabled`, `document.getElementById('start').outerHTML`, pageWait), "start is disabled while connected")
	require.NoError(t, browser.Click(tab, "#start")) // does nothing
	require.NoError(t, browser.Type(tab, "#MessageUN", "hi"))
	require.NoError(t, browser.Click(tab, "#sendMessage"))
	require.NoError(t, browser.WaitTrue(tab, chatLines+`.includes('ann> hi')`, chatLines, pageWait))
	lines, _ := browser.Eval[string](tab, chatLines)
	require.Equal(t, 1, strings.Count(lines, "ann> hi"), lines)
	require.Equal(t, 1, strings.Count(lines, "System> ann has joined."), lines)
	st, _ := browser.Eval[string](tab, status)
	require.Equal(t, "online as ann", st)
}

// A nickname the server would refuse is caught before connecting; one
// that is taken is refused by the server, and the page shows its reason
// and lets the user try another.
func TestChatPageNicknamesInChromium(t *testing.T) {
	e := start(t, "127.0.0.1:0", nil)
	b := browser.New(t)
	ann, other := browser.NewTab(t, b), browser.NewTab(t, b)
	status := `document.getElementById('status').textContent`
	shown := `document.body.innerText` // what the user sees
	joinChat(t, e, ann, "ann")
	require.NoError(t, browser.WaitTrue(ann, status+` === 'online as ann'`, status, pageWait))
	upgrades := serverStats(t, e).Server.Upgrades

	require.NoError(t, browser.Navigate(other, "http://"+e.addr+"/chat.html"))
	try := func(nick string) {
		t.Helper()
		_, err := browser.Eval[any](other, `document.getElementById('yourName').value = ''`)
		require.NoError(t, err)
		if nick != "" {
			require.NoError(t, browser.Type(other, "#yourName", nick))
		}
		require.NoError(t, browser.Click(other, "#start"))
	}
	for _, c := range []struct{ nick, want string }{
		{"a/b", "不能包含 '/'"},
		{strings.Repeat("名", 43), "最多 128 字节"}, // 129 bytes of UTF-8
		{"", "请输入昵称"},
	} {
		nick, want := c.nick, c.want
		try(nick)
		require.NoError(t, browser.WaitTrue(other, shown+`.includes(`+js(want)+`)`, shown, pageWait), "nickname %q", nick)
	}
	require.Equal(t, upgrades, serverStats(t, e).Server.Upgrades, "no connection for a nickname the page refuses")

	try("ann")
	require.NoError(t, browser.WaitTrue(other, shown+`.includes('nickname ann is taken')`, shown, pageWait), "the server's reason is shown")
	require.NoError(t, browser.WaitTrue(other, status+` === 'offline' && !document.getElementById('start').disabled && document.getElementById('sendMessage').disabled`, status, pageWait))

	try("bob")
	require.NoError(t, browser.WaitTrue(other, status+` === 'online as bob'`, status, pageWait))
	require.NoError(t, browser.WaitTrue(ann, chatLines+`.includes('System> bob has joined.')`, chatLines, pageWait))
	n, _ := browser.Eval[string](other, shown)
	require.NotContains(t, n, "is taken", "the notice is cleared on success")
}
