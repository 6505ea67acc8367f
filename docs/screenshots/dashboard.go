package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/wsd-dev/wsd/internal/browser"
)

func init() {
	shots["dashboard"] = shot{"GET /dashboard while wsload ramps users up and down, echoes and broadcasts", dashboard}
}

// dashboard opens the page first (sampling runs only while one is open),
// then drives about a minute of traffic through wsload: 3,000 users
// ramping up at 100/s, 1,000 more that come and go, 40 echo connections at
// 25 messages/s each, and 500 push clients whose publisher broadcasts
// twice a second to every user.
func dashboard(r *run) ([]byte, error) {
	var b [16]byte
	rand.Read(b[:])
	token := hex.EncodeToString(b[:])
	addr, err := r.startWSD("-loops", "2", "-api-token", token)
	if err != nil {
		return nil, err
	}
	if err := browser.Navigate(r.tab, "http://"+addr+"/dashboard?token="+token); err != nil {
		return nil, err
	}
	if err := browser.WaitTrue(r.tab, `document.getElementById('status').textContent === 'live'`, `document.getElementById('status').textContent`, 10*time.Second); err != nil {
		return nil, err
	}
	ws := "ws://" + addr
	steps := []struct {
		at   time.Duration
		args []string
	}{
		{0, []string{"-url", ws + "/ws/u{i}", "-scenario", "hold", "-c", "3000", "-rate", "100", "-duration", "80s"}},
		{3 * time.Second, []string{"-url", ws + "/echo", "-scenario", "echo", "-c", "40", "-msg-rate", "25", "-duration", "70s"}},
		{8 * time.Second, []string{"-url", ws + "/ws/p{i}", "-scenario", "push", "-c", "500", "-publish-url", "http://" + addr + "/broadcast",
			"-publish-rate", "2", "-publish-token", token, "-duration", "70s"}},
		{12 * time.Second, []string{"-url", ws + "/ws/v{i}", "-scenario", "hold", "-c", "1000", "-rate", "200", "-duration", "25s"}},
	}
	begin := time.Now()
	for _, s := range steps {
		time.Sleep(time.Until(begin.Add(s.at)))
		if _, err := r.start("wsload", append(s.args, "-progress", "off")...); err != nil {
			return nil, err
		}
	}
	const length = 65 * time.Second
	time.Sleep(time.Until(begin.Add(length)))
	n, err := browser.Eval[int](r.tab, `dash.samples.length`)
	if err != nil {
		return nil, err
	}
	// A loaded, shared machine may stall the sampler now and then (the
	// chart shows the gap); most seconds must be there.
	if n < int(length/time.Second)*2/3 {
		return nil, fmt.Errorf("the page holds %d samples after %v", n, length)
	}
	return r.screenshot(1400, 900)
}
