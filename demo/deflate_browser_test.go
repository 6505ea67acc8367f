package demo

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsd-dev/wsd/internal/browser"
)

// The answer of -deflate on (wsd's default) to Chromium's offer
// (permessage-deflate; client_max_window_bits).
const deflateOnAnswer = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"

// The pages with a WebSocket show the extensions the server agreed to,
// and with Chromium's default offer against deflate on that is
// permessage-deflate; each page still works, and what the server sends
// them goes compressed (the echo of a long message, the hub's JSON).
func TestPagesShowDeflateInChromium(t *testing.T) {
	e := start(t, "127.0.0.1:0", nil)
	b := browser.New(t)
	extensions := `document.getElementById('extensions').textContent`

	// Echo: a long message comes back whole (compressed on the way).
	echo := browser.NewTab(t, b)
	require.NoError(t, browser.Navigate(echo, "http://"+e.addr+"/echo.html"))
	got, err := browser.Eval[string](echo, extensions)
	require.NoError(t, err)
	assert.Equal(t, "—", got, "nothing agreed before connecting")
	require.NoError(t, browser.Click(echo, "#run"))
	require.NoError(t, browser.WaitTrue(echo, extensions+` === '`+deflateOnAnswer+`'`, extensions, pageWait))
	log := `document.getElementById('log').textContent`
	require.NoError(t, browser.WaitTrue(echo, log+`.includes('数据已接收: 发送数据')`, log, pageWait))
	long := `'发送数据 ' + 'compress me '.repeat(50)`
	before := e.compressed.Load()
	_, err = browser.Eval[bool](echo, `(document.getElementById('text').value = `+long+`, document.getElementById('send').click(), true)`)
	require.NoError(t, err)
	require.NoError(t, browser.WaitTrue(echo, log+`.includes('数据已接收: ' + `+long+`)`, log, pageWait))
	assert.Greater(t, e.compressed.Load(), before, "the long echo went compressed")

	// Chat: two people, a message from one reaches the other.
	ann, bob := browser.NewTab(t, b), browser.NewTab(t, b)
	messages := `document.getElementById('messages').textContent`
	join := func(tab context.Context, nick string) {
		require.NoError(t, browser.Navigate(tab, "http://"+e.addr+"/chat.html"))
		require.NoError(t, browser.Type(tab, "#yourName", nick))
		require.NoError(t, browser.Click(tab, "#start"))
		require.NoError(t, browser.WaitTrue(tab, `!document.getElementById('sendMessage').disabled`, messages, pageWait))
		require.NoError(t, browser.WaitTrue(tab, extensions+` === '`+deflateOnAnswer+`'`, extensions, pageWait))
	}
	join(ann, "ann")
	join(bob, "小明")
	require.NoError(t, browser.WaitTrue(ann, messages+`.includes('System> 小明 has joined.')`, messages, pageWait))
	require.NoError(t, browser.Type(bob, "#MessageUN", "大家好，这条消息经过压缩传送。大家好，这条消息经过压缩传送。"))
	require.NoError(t, browser.Click(bob, "#sendMessage"))
	require.NoError(t, browser.WaitTrue(ann, messages+`.includes('小明> 大家好，这条消息经过压缩传送。')`, messages, pageWait))

	// Shop and admin: an order placed in the shop pops up on the admin
	// page, whose hub messages (JSON) go compressed.
	admin, shop := browser.NewTab(t, b), browser.NewTab(t, b)
	require.NoError(t, browser.Navigate(admin, "http://"+e.addr+"/admin.html"))
	status := `document.getElementById('status').textContent`
	require.NoError(t, browser.WaitTrue(admin, status+` === 'connected'`, status, pageWait))
	require.NoError(t, browser.WaitTrue(admin, extensions+` === '`+deflateOnAnswer+`'`, extensions, pageWait))
	before = e.compressed.Load()
	require.NoError(t, browser.Navigate(shop, "http://"+e.addr+"/shop.html"))
	require.NoError(t, browser.Click(shop, "#order"))
	require.NoError(t, browser.WaitTrue(shop, `document.getElementById('result').dataset.placed === '1'`, `document.getElementById('result').textContent`, pageWait))
	badge := `document.getElementById('badge').textContent`
	require.NoError(t, browser.WaitTrue(admin, badge+` === '1'`, badge, pageWait))
	require.NoError(t, browser.WaitTrue(admin, `document.getElementById('myModal').className === 'modal show'`, `document.getElementById('myModal').className`, pageWait))
	assert.Greater(t, e.compressed.Load(), before, "the order reached the admin compressed")
}
