package hub

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/internal/browser"
	"github.com/wsd-dev/wsd/internal/wstest"
	"github.com/wsd-dev/wsd/wsconn"
)

// pageWait bounds every wait on the page: a sample a second, so a few.
const pageWait = 6 * time.Second

// dashText is what the page shows in an element.
func dashText(id string) string { return `document.getElementById('` + id + `').textContent` }

// dashState sums up the tiles a test checks, in one string.
const dashState = `['conns','loop-0','loop-1','user-conns','viewers','users-online','msgs-in-total','broadcasts-total','queue-drops-total']
  .map(id => id + ' ' + (document.getElementById(id) || {textContent: '(none)'}).textContent).join(', ')`

func waitDash(t *testing.T, tab context.Context, want, why string) {
	t.Helper()
	require.NoError(t, browser.WaitTrue(tab, dashState+` === `+strconv.Quote(want), dashState, pageWait), why)
}

// wantDash is the page's expected state: the connection counts the server
// has now (per loop as its loops count them), users online, and totals.
func (e *env) wantDash(users int, msgsIn, broadcasts, drops int64) string {
	loops := e.srv.ConnsByLoop()
	total := loops[0].Open + loops[1].Open
	return fmt.Sprintf("conns %d, loop-0 %d, loop-1 %d, user-conns %d, viewers 1, users-online %d, msgs-in-total %d, broadcasts-total %d, queue-drops-total %d",
		total, loops[0].Open, loops[1].Open, e.hub.online.Load(), users, msgsIn, broadcasts, drops)
}

// samplers counts the dashboard sampler goroutines.
func samplers() int {
	buf := make([]byte, 4<<20)
	return strings.Count(string(buf[:runtime.Stack(buf, true)]), "hub.(*dashboard).run(")
}

func samplerRunning() bool { return samplers() > 0 }

// The page follows the server: connections opened and closed (per loop,
// users online), messages in with their rate, a broadcast and its fan-out
// time, queue drops, RSS. The sampler runs only while the page is open.
func TestDashboardInChromium(t *testing.T) {
	e := start(t, Options{}, func(o *wsconn.Options) { o.Loops = 2; o.QueueCap = 64 << 10; o.DropOldest = true })
	require.False(t, samplerRunning(), "a sampler runs with no dashboard open")
	tab := browser.New(t)
	require.NoError(t, browser.Navigate(tab, "http://"+e.addr+DashboardPath))
	require.NoError(t, browser.WaitTrue(tab, dashText("status")+` === 'live'`, dashText("status"), pageWait))
	eventually(t, func() bool { return e.hub.Viewers() == 1 }, "the page's socket is not a viewer")
	require.True(t, samplerRunning(), "no sampler with a dashboard open")
	waitDash(t, tab, e.wantDash(0, 0, 0, 0), "only the page's own socket")

	// Five connections of three users.
	var cs []*wstest.Client
	for _, u := range []string{"ann", "ann", "bob", "cat", "cat"} {
		c := e.dial("/ws/" + u)
		msg(t, c)
		cs = append(cs, c)
	}
	waitDash(t, tab, e.wantDash(3, 0, 0, 0), "five user connections")

	// cat's two close: three connections of two users.
	for _, c := range cs[3:] {
		c.Write(wstest.CloseFrame(1000, ""))
		c.ExpectEOF(3 * time.Second)
	}
	cs = cs[:3]
	eventually(t, func() bool { return e.hub.online.Load() == 3 && e.srv.Conns() == 4 }, "closes not seen by the hub")
	waitDash(t, tab, e.wantDash(2, 0, 0, 0), "after two closed")

	// Seven messages in: the total, and rates that add up to them over
	// the samples the page holds; the tile shows a rate while they flow.
	for i := range 7 {
		c := cs[i%len(cs)]
		require.NoError(t, c.Send(true, frame.OpText, []byte(`{"type":"nothing"}`)))
		assert.Equal(t, "error", msg(t, c)["type"])
	}
	require.NoError(t, browser.WaitTrue(tab, `parseFloat(`+dashText("msgs-in")+`) > 0`, dashText("msgs-in"), pageWait), "no message rate shown")
	waitDash(t, tab, e.wantDash(2, 7, 0, 0), "seven messages in")
	integral, err := browser.Eval[float64](tab, `dash.samples.reduce((a, x) => a + (x.rate ? x.rate.msgs_in * x.rate.dt : 0), 0)`)
	require.NoError(t, err)
	assert.InDelta(t, 7, integral, 0.05, "the rates shown add up to the messages sent")

	// A broadcast: the total and its fan-out time as the hub timed it.
	st, _ := e.request("POST", "/broadcast", "hello all")
	require.Equal(t, 202, st)
	for _, c := range cs {
		assert.Equal(t, "broadcast", msg(t, c)["type"])
	}
	eventually(t, func() bool { return e.hub.everyone.Fanout().Count == 1 }, "fan-out not timed")
	waitDash(t, tab, e.wantDash(2, 7, 1, 0), "one broadcast")
	shown, err := browser.Eval[string](tab, dashText("fanout-last"))
	require.NoError(t, err)
	got, err := strconv.ParseFloat(strings.TrimSuffix(shown, " ms"), 64)
	require.NoError(t, err, "fan-out time shown: %q", shown)
	assert.InDelta(t, float64(e.hub.everyone.Fanout().Last)/1e6, got, 0.01, "fan-out time shown: %q", shown)

	// Queue drops: a user that never reads, published to past its socket
	// buffers and its 64 KiB queue, loses its oldest messages.
	slow := e.dial("/ws/slow")
	msg(t, slow)
	body := []byte(strings.Repeat("d", 16<<10))
	for i := 0; e.srv.Stats().QueueDrops == 0; i++ {
		require.Less(t, i, 4000, "no queue drops after 64 MB")
		e.hub.Publish("slow", body, false)
	}
	drops := e.srv.Stats().QueueDrops
	waitDash(t, tab, e.wantDash(3, 7, 1, drops), "queue drops")

	// RSS: this process's, as /proc has it now (within 20%).
	shown, err = browser.Eval[string](tab, dashText("rss"))
	require.NoError(t, err)
	assert.InEpsilon(t, float64(rssBytes()), parseSI(t, shown), 0.2, "RSS shown: %q", shown)

	// The page gone: the sampler stops.
	require.NoError(t, browser.Navigate(tab, "about:blank"))
	eventually(t, func() bool { return e.hub.Viewers() == 0 && !samplerRunning() }, "the sampler still runs with no dashboard open")
}

// parseSI reads "12.3 MB" (decimal units, as the page shows them).
func parseSI(t *testing.T, s string) float64 {
	t.Helper()
	num, unit, ok := strings.Cut(s, " ")
	require.True(t, ok, "%q", s)
	v, err := strconv.ParseFloat(num, 64)
	require.NoError(t, err, "%q", s)
	mult := map[string]float64{"B": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9}[unit]
	require.NotZero(t, mult, "unit of %q", s)
	return v * mult
}

// With -api-token the page refuses a browser without the token (401, JSON)
// and works after /dashboard?token=, which leaves the token out of the
// address.
func TestDashboardTokenInChromium(t *testing.T) {
	e := start(t, Options{APIToken: "s3cret"}, func(o *wsconn.Options) { o.Loops = 2 })
	tab := browser.New(t)
	resp, err := chromedp.RunResponse(tab, chromedp.Navigate("http://"+e.addr+DashboardPath))
	require.NoError(t, err)
	assert.Equal(t, int64(http.StatusUnauthorized), resp.Status)
	body, err := browser.Eval[string](tab, `document.body.innerText`)
	require.NoError(t, err)
	assert.Contains(t, body, `{"error":"missing or wrong API token`)
	assert.Zero(t, e.hub.Viewers())

	resp, err = chromedp.RunResponse(tab, chromedp.Navigate("http://"+e.addr+DashboardPath+"?token=s3cret"))
	require.NoError(t, err)
	assert.Equal(t, int64(200), resp.Status)
	require.NoError(t, browser.WaitTrue(tab, dashText("status")+` === 'live'`, dashText("status"), pageWait))
	href, err := browser.Eval[string](tab, `location.href`)
	require.NoError(t, err)
	assert.Equal(t, "http://"+e.addr+DashboardPath, href, "the token left the address")
	c := e.dial("/ws/ann")
	msg(t, c)
	require.NoError(t, browser.WaitTrue(tab, dashText("user-conns")+` === '1' && `+dashText("conns")+` === '2'`, dashState, pageWait))
	cookieJS, err := browser.Eval[string](tab, `document.cookie`)
	require.NoError(t, err)
	assert.NotContains(t, cookieJS, DashboardCookie, "the ticket is HttpOnly")

	// A wrong token: 401 again.
	resp, err = chromedp.RunResponse(browser.NewTab(t, tab), chromedp.Navigate("http://"+e.addr+DashboardPath+"?token=wrong"))
	require.NoError(t, err)
	assert.Equal(t, int64(http.StatusUnauthorized), resp.Status)
}
