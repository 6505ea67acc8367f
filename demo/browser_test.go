package demo

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsd-dev/wsd/internal/browser"
)

const pageWait = 15 * time.Second

func TestEchoPageInChromium(t *testing.T) {
	e := start(t, "127.0.0.1:0", nil)
	tab := browser.New(t)
	require.NoError(t, browser.Navigate(tab, "http://"+e.addr+"/echo.html"))
	require.NoError(t, browser.Click(tab, "#run"))
	require.NoError(t, browser.WaitTrue(tab, `document.getElementById('log').textContent.includes('数据已接收: 发送数据')`, `document.getElementById('log').textContent`, pageWait))
	require.NoError(t, browser.Click(tab, "#close"))
	require.NoError(t, browser.WaitTrue(tab, `document.getElementById('status').textContent === 'closed'`, `document.getElementById('log').textContent`, pageWait))
	log, _ := browser.Eval[string](tab, `document.getElementById('log').textContent`)
	assert.Contains(t, log, "连接已关闭 (code 1000)")
}

func TestChatPageInChromium(t *testing.T) {
	e := start(t, "127.0.0.1:0", nil)
	b := browser.New(t)
	ann, bob := browser.NewTab(t, b), browser.NewTab(t, b)
	join := func(tab context.Context, nick string) {
		require.NoError(t, browser.Navigate(tab, "http://"+e.addr+"/chat.html"))
		require.NoError(t, browser.Type(tab, "#yourName", nick))
		require.NoError(t, browser.Click(tab, "#start"))
		require.NoError(t, browser.WaitTrue(tab, `!document.getElementById('sendMessage').disabled`, `document.getElementById('messages').textContent`, pageWait))
	}
	messages := `document.getElementById('messages').textContent`
	join(ann, "ann")
	join(bob, "小明")
	require.NoError(t, browser.WaitTrue(ann, messages+`.includes('System> 小明 has joined.')`, messages, pageWait))
	require.NoError(t, browser.Type(bob, "#MessageUN", "大家好"))
	require.NoError(t, browser.Click(bob, "#sendMessage"))
	require.NoError(t, browser.WaitTrue(ann, messages+`.includes('小明> 大家好')`, messages, pageWait))
	require.NoError(t, browser.Navigate(bob, "about:blank")) // leaving the page closes its socket
	require.NoError(t, browser.WaitTrue(ann, messages+`.includes('System> 小明 has disconnected.')`, messages, pageWait))
}

// The seed's shop: orders placed in one browser context pop the new-order
// modal in the admin's, with a count and the unread orders that stay right
// across a server restart (the page reconnects with backoff and resumes with
// ?since=).
func TestShopAdminInChromium(t *testing.T) {
	e := start(t, "127.0.0.1:0", nil)
	addr := e.addr
	b := browser.New(t)
	admin, shop := browser.NewTab(t, b), browser.NewTab(t, b)
	require.NoError(t, browser.Navigate(admin, "http://"+addr+"/admin.html"))
	require.NoError(t, browser.WaitTrue(admin, `document.getElementById('status').textContent === 'connected'`, `document.getElementById('status').textContent`, pageWait))
	require.NoError(t, browser.Navigate(shop, "http://"+addr+"/shop.html"))

	badge := `document.getElementById('badge').textContent`
	tee := func(ids ...int) string { // the popup's lines for these orders
		var s []string
		for _, id := range ids {
			s = append(s, "#"+itoa(id)+" WebSocket T-shirt × 1")
		}
		return strings.Join(s, ", ")
	}
	order := func(n int) {
		t.Helper()
		require.NoError(t, browser.Click(shop, "#order"))
		require.NoError(t, browser.WaitTrue(shop, `document.getElementById('result').dataset.placed === '`+itoa(n)+`'`, `document.getElementById('result').textContent`, pageWait))
	}
	for i := 1; i <= 3; i++ {
		order(i)
		require.NoError(t, browser.WaitTrue(admin, badge+` === '`+itoa(i)+`'`, badge, pageWait))
	}
	modal, _ := browser.Eval[string](admin, `document.getElementById('myModal').className + '|' + document.getElementById('modal-text').textContent`)
	assert.Equal(t, "modal show|您有 3 条新的订单！", modal)
	waitAdmin(t, admin, "3|orders 3 new 3|您有 3 条新的订单！|"+tee(3, 2, 1), "three orders placed")

	// Restart the server: state saved, a new hub and server on the same
	// address. The page backs off while the server is down.
	var state bytes.Buffer
	e.stop()
	require.NoError(t, e.hub.Save(&state))
	status := `document.getElementById('status').textContent`
	require.NoError(t, browser.WaitTrue(admin, status+`.startsWith('reconnecting in 1000')`, status, pageWait), "the page backs off")
	h2 := start(t, addr, &state).hub
	// Two orders while the admin page is still away: it must get them on resume.
	order(4)
	order(5)
	away, _ := browser.Eval[string](admin, status)
	require.NoError(t, browser.WaitTrue(admin, status+` === 'connected'`, status, pageWait))
	require.NoError(t, browser.WaitTrue(admin, badge+` === '5'`, badge, pageWait))
	// The popup lists the five unread orders, 4 and 5 from the resume.
	waitAdmin(t, admin, "5|orders 5 new 5|您有 5 条新的订单！|"+tee(5, 4, 3, 2, 1), "after the resume")
	orders, _ := browser.Eval[[]string](admin, `Array.from(document.querySelectorAll('#orders .order')).map(d => d.textContent)`)
	assert.Len(t, orders, 5, "each order shown once: %v", orders)
	assert.Contains(t, orders[0], "#5 ")
	assert.Contains(t, orders[0], "(seq 5)")
	reconnects, _ := browser.Eval[string](admin, `document.body.dataset.reconnects`)
	assert.NotEqual(t, "", reconnects)
	t.Logf("admin status while orders 4-5 were placed: %q; reconnect attempts: %s", away, reconnects)
	assert.Contains(t, away, "reconnecting", "orders 4 and 5 came through the resume, not live")

	// Mark read: the count goes to 0, on the server too.
	require.NoError(t, browser.Click(admin, "#view"))
	require.NoError(t, browser.WaitTrue(admin, badge+` === '0'`, badge, pageWait))
	waitAdmin(t, admin, "0|orders 5 new 0|hidden", "after the ack")
	assert.Equal(t, int64(0), h2.User("admin").Unread)
}

func itoa(n int) string { return string(rune('0' + n)) }
