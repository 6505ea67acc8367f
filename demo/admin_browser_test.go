package demo

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/wsd-dev/wsd/internal/browser"
)

// placeOrder checks out an order as the shop page does.
func placeOrder(t *testing.T, e *env, item string, qty int) {
	t.Helper()
	resp, err := http.Post("http://"+e.addr+"/shop/orders", "application/json",
		strings.NewReader(`{"item":`+js(item)+`,"qty":`+itoa(qty)+`}`))
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusCreated, resp.StatusCode, string(body))
}

// adminState sums up what an admin tab shows: the badge, the orders listed
// and how many are marked new, and the popup — hidden, or its text and the
// orders in it.
const adminState = `((q, t) => t('#badge') + '|orders ' + q('#orders .order').length + ' new ' + q('#orders .order.new').length +
  (q('#myModal.show').length ? '|' + t('#modal-text') + '|' + q('#modal-orders li').map(li => li.textContent).join(', ') : '|hidden'))(
  s => Array.from(document.querySelectorAll(s)), s => document.querySelector(s).textContent)`

func waitAdmin(t *testing.T, tab context.Context, want, msg string) {
	t.Helper()
	require.NoError(t, browser.WaitTrue(tab, adminState+` === `+js(want), adminState, pageWait), msg)
}

// The popup shows exactly the unread orders, with their count, in every
// admin tab; acknowledging in one closes it in all; a new tab or a reload
// shows the unread ones (and only those) from the history it replays.
func TestAdminPopupInChromium(t *testing.T) {
	e := start(t, "127.0.0.1:0", nil)
	b := browser.New(t)
	a, bb, c := browser.NewTab(t, b), browser.NewTab(t, b), browser.NewTab(t, b)
	url := "http://" + e.addr + "/admin.html"
	placeOrder(t, e, "tea", 1)
	placeOrder(t, e, "mug", 2)

	// Opened with two unread orders: both in the popup.
	two := "2|orders 2 new 2|您有 2 条新的订单！|#2 mug × 2, #1 tea × 1"
	require.NoError(t, browser.Navigate(a, url))
	waitAdmin(t, a, two, "tab A opened with 2 unread")
	require.NoError(t, browser.Navigate(bb, url))
	waitAdmin(t, bb, two, "tab B opened with 2 unread")

	// Acknowledged in A: closed in A and in B.
	require.NoError(t, browser.Click(a, "#view"))
	waitAdmin(t, a, "0|orders 2 new 0|hidden", "tab A after its ack")
	waitAdmin(t, bb, "0|orders 2 new 0|hidden", "tab B after A's ack")

	// A new tab with everything acknowledged: history, no popup.
	require.NoError(t, browser.Navigate(c, url))
	require.NoError(t, browser.WaitTrue(c, `document.getElementById('status').textContent === 'connected'`, `document.getElementById('status').textContent`, pageWait))
	waitAdmin(t, c, "0|orders 2 new 0|hidden", "a new tab after the ack")

	// One more order: the one-order popup everywhere, with that order only.
	placeOrder(t, e, "cake", 3)
	one := "1|orders 3 new 1|您有一条新的订单！|#3 cake × 3"
	for name, tab := range map[string]context.Context{"A": a, "B": bb, "C": c} {
		waitAdmin(t, tab, one, "tab "+name+" after order 3")
	}

	// 忽略 hides it in that tab only, until the next order.
	require.NoError(t, browser.Click(bb, "#ignore"))
	waitAdmin(t, bb, "1|orders 3 new 1|hidden", "tab B ignored it")
	waitAdmin(t, a, one, "tab A still shows it")

	// A reload shows the unread order at once, not at the next order.
	require.NoError(t, browser.Navigate(a, url))
	waitAdmin(t, a, one, "tab A reloaded")

	placeOrder(t, e, "pie", 4)
	two = "2|orders 4 new 2|您有 2 条新的订单！|#4 pie × 4, #3 cake × 3"
	for name, tab := range map[string]context.Context{"A": a, "B": bb, "C": c} {
		waitAdmin(t, tab, two, "tab "+name+" after order 4")
	}

	// Mark all read in C (its popup, an overlay, first put aside): closed
	// everywhere, on the server too.
	require.NoError(t, browser.Click(c, "#ignore"))
	require.NoError(t, browser.Click(c, "#read"))
	for name, tab := range map[string]context.Context{"A": a, "B": bb, "C": c} {
		waitAdmin(t, tab, "0|orders 4 new 0|hidden", "tab "+name+" after C's ack")
	}
	require.Equal(t, int64(0), e.hub.User(AdminUser).Unread)
}
