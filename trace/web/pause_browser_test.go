package web

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/internal/browser"
	"github.com/wsd-dev/wsd/internal/wstest"
	"github.com/wsd-dev/wsd/upgrade"
)

// Pause holds the page's events on the server, within its bound: a session
// of more events than that, and the page, resumed, shows the newest ones
// and says how many it lost.
func TestPauseDropsOldestAndSaysSoInChromium(t *testing.T) {
	const keep = 5
	web := startWeb(t, Options{MaxEvents: keep})
	addr := tracedWSD(t, web, upgrade.DeflateOff)
	tab := openPage(t, web)
	v := viewerOf(t, web)
	paused := func() bool { v.mu.Lock(); defer v.mu.Unlock(); return v.paused }

	require.NoError(t, browser.Click(tab, "#pause"))
	require.Eventually(t, paused, pageWait, time.Millisecond, "the server never heard the pause")
	status, err := browser.Eval[string](tab, `document.getElementById('status').textContent`)
	require.NoError(t, err)
	assert.Contains(t, status, "paused")

	// open, request, response, 3 frames and their echoes, 2 closes, end: 12.
	c, err := wstest.Dial(addr, "/echo", "")
	require.NoError(t, err)
	for i := range 3 {
		require.NoError(t, c.Send(true, frame.OpText, []byte(fmt.Sprint("message ", i))))
		_, _, err := c.ReadMessage(5 * time.Second)
		require.NoError(t, err)
	}
	c.Write(wstest.CloseFrame(frame.CloseNormal, ""))
	require.NoError(t, c.ExpectEOF(5*time.Second))
	c.Close()
	require.Eventually(t, func() bool {
		v.mu.Lock()
		defer v.mu.Unlock()
		return len(v.q) > 0 && bytes.Contains(v.q[len(v.q)-1], []byte(`"event":"end"`))
	}, pageWait, time.Millisecond, "the connection's end never reached the queue")
	dropped := web.Dropped()
	require.Equal(t, int64(12-keep), dropped)
	n, err := browser.Eval[int](tab, `wsview.events`)
	require.NoError(t, err)
	assert.Zero(t, n, "events reached the page while paused")

	require.NoError(t, browser.Click(tab, "#pause"))
	require.NoError(t, browser.WaitTrue(tab, `wsview.events === `+fmt.Sprint(keep), `wsview.events`, pageWait))
	note, err := browser.Eval[string](tab, `(() => { const d = document.getElementById('dropped'); return d.hidden ? '(hidden)' : d.textContent; })()`)
	require.NoError(t, err)
	assert.Equal(t, fmt.Sprintf("%d events dropped", dropped), note)
	late, err := browser.Eval[string](tab, `document.querySelector('#lane-1 .late').textContent`)
	require.NoError(t, err)
	assert.Contains(t, late, "its start is not shown", "the lane of a connection whose first events were dropped")
	require.NoError(t, browser.WaitTrue(tab, `!document.querySelector('#lane-1 footer').hidden`, `document.querySelector('#lane-1').textContent`, pageWait))
}

// Many connections: the page keeps its newest 100 lanes, dropping the
// oldest ended ones, and says how many it removed.
func TestLanesBoundedInChromium(t *testing.T) {
	web := startWeb(t, Options{})
	addr := tracedWSD(t, web, upgrade.DeflateOff)
	tab := openPage(t, web)
	const n = 103
	for range n {
		c, err := wstest.Dial(addr, "/echo", "")
		require.NoError(t, err)
		c.Write(wstest.CloseFrame(frame.CloseNormal, ""))
		require.NoError(t, c.ExpectEOF(5*time.Second))
		c.Close()
	}
	require.NoError(t, browser.WaitTrue(tab, fmt.Sprintf(`document.querySelector('#lane-%d footer') && !document.querySelector('#lane-%d footer').hidden`, n, n),
		`document.getElementById('count').textContent`, pageWait))
	lanes, err := browser.Eval[int](tab, `document.querySelectorAll('.lane').length`)
	require.NoError(t, err)
	assert.Equal(t, 100, lanes)
	note, err := browser.Eval[string](tab, `document.getElementById('lanes-removed').textContent`)
	require.NoError(t, err)
	assert.Equal(t, "3 earlier connections removed", note)
	for id, want := range map[int]bool{1: false, 3: false, 4: true, n: true} {
		there, err := browser.Eval[bool](tab, fmt.Sprintf(`!!document.getElementById('lane-%d')`, id))
		require.NoError(t, err)
		assert.Equal(t, want, there, "lane %d", id)
	}
}
