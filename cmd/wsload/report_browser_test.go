package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsd-dev/wsd/internal/browser"
)

// browserTol is how far a mark Chromium laid out may be from where its
// value puts it (getBBox works in single precision).
const browserTol = 0.05

// readRendered collects from the page as Chromium laid it out what
// readReport reads from the file: each chart's scales and its marks with
// their values, tooltips and boxes as rendered (getBBox), the tiles, the
// table, the settings, the server, the JSON inside; and each chart's size
// on the screen.
const readRendered = `(() => {
  const data = el => { const o = {}; for (const a of el.attributes) if (a.name.startsWith('data-')) o[a.name.slice(5)] = a.value; return o; };
  const text = el => el ? el.textContent : '';
  const out = {charts: {}, tiles: {}, tile_text: {}, pcts: {}, pct_text: {}, settings: {}, server: {}, result: text(document.getElementById('wsload-result')), sizes: {}};
  for (const svg of document.querySelectorAll('svg.chart')) {
    const c = {attrs: data(svg), marks: []};
    for (const el of svg.querySelectorAll('.pt, .bar, .hbar, .pmark')) {
      const b = el.getBBox(), cls = el.getAttribute('class');
      const m = {class: cls, data: data(el), x: b.x, y: b.y, w: b.width, h: b.height, title: text(el.querySelector('title'))};
      if (cls === 'pt') Object.assign(m, {x: b.x + b.width / 2, y: b.y + b.height / 2, w: 0, h: 0});
      c.marks.push(m);
    }
    out.charts[svg.dataset.chart] = c;
    const r = svg.getBoundingClientRect();
    out.sizes[svg.dataset.chart] = {w: r.width, h: r.height, shown: getComputedStyle(svg).display !== 'none' && getComputedStyle(svg).visibility === 'visible',
      drawn: [...svg.querySelectorAll('path.line, rect.bar, rect.hbar, circle.pt')].filter(e => { const b = e.getBoundingClientRect(); return b.width > 0 || b.height > 0; }).length};
  }
  for (const t of document.querySelectorAll('.tile')) { const id = t.id.replace('tile-', ''); out.tiles[id] = t.dataset.v; out.tile_text[id] = text(t.querySelector('.v')); }
  for (const tr of document.querySelectorAll('tr[id^="pct-"]')) {
    const row = tr.id.replace('pct-', ''); out.pcts[row] = {}; out.pct_text[row] = {};
    for (const td of tr.querySelectorAll('td[data-k]')) { out.pcts[row][td.dataset.k] = td.dataset.v; out.pct_text[row][td.dataset.k] = td.textContent; }
  }
  out.by_ext = {}; for (const e of document.querySelectorAll('span.ext')) out.by_ext[e.dataset.ext] = e.dataset.v;
  for (const tr of document.querySelectorAll('tr[data-flag]')) out.settings[tr.dataset.flag] = tr.dataset.value;
  for (const dd of document.querySelectorAll('dd[id^="server-"]')) out.server[dd.id.replace('server-', '')] = dd.textContent;
  return JSON.stringify(out);
})()`

type renderedReport struct {
	shownReport
	Sizes map[string]struct {
		W, H  float64
		Shown bool
		Drawn int
	} `json:"sizes"`
}

// openOffline opens a report from its file with the browser's network
// cut, and returns the page as laid out and every URL the page asked for.
func openOffline(t *testing.T, tab context.Context, path string) (*renderedReport, []string) {
	t.Helper()
	var mu sync.Mutex
	var urls []string
	ctx, stop := context.WithCancel(tab)
	defer stop()
	require.NoError(t, chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok {
			mu.Lock()
			urls = append(urls, e.Request.URL)
			mu.Unlock()
		}
	}))
	_, err := chromedp.Call(tab, network.Enable, network.EnableParams{})
	require.NoError(t, err)
	_, err = chromedp.Call(tab, network.EmulateNetworkConditionsByRule, network.EmulateNetworkConditionsByRuleParams{
		MatchedNetworkConditions: []*network.Conditions{{Offline: true, DownloadThroughput: -1, UploadThroughput: -1}}})
	require.NoError(t, err)
	_, err = chromedp.Call(tab, network.OverrideNetworkState, network.OverrideNetworkStateParams{Offline: true, DownloadThroughput: -1, UploadThroughput: -1})
	require.NoError(t, err)
	require.NoError(t, chromedp.Do(tab, chromedp.EmulateViewport(1400, 1000)))
	require.NoError(t, browser.Navigate(tab, "file://"+path))
	require.NoError(t, browser.WaitTrue(tab, `document.readyState === 'complete'`, `document.readyState`, 10*time.Second))
	js, err := browser.Eval[string](tab, readRendered)
	require.NoError(t, err)
	var r renderedReport
	require.NoError(t, json.Unmarshal([]byte(js), &r))
	// Every request the page made was announced before its load completed
	// (readyState 'complete' waits for every subresource), and the DevTools
	// connection hands its events to the listener in order, before the
	// answer that saw 'complete'; with no script, nothing asks later.
	mu.Lock()
	defer mu.Unlock()
	return &r, append([]string(nil), urls...)
}

func checkRendered(t *testing.T, tab context.Context, page []byte, res *result, given map[string]string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "report.html")
	require.NoError(t, os.WriteFile(path, page, 0o644))
	r, urls := openOffline(t, tab, path)
	assert.Equal(t, []string{"file://" + path}, urls, "the page asked for nothing but itself")
	assert.Empty(t, reportProblems(&r.shownReport, res, given, browserTol), "the page as Chromium laid it out, against the JSON result")
	require.NotEmpty(t, r.Sizes)
	for id, s := range r.Sizes {
		assert.True(t, s.Shown, "chart %s is shown", id)
		assert.Greater(t, s.W, 500.0, "chart %s's width on the screen", id)
		assert.Greater(t, s.H, 100.0, "chart %s's height on the screen", id)
		if len(r.Charts[id].Marks) > 0 {
			assert.Positive(t, s.Drawn, "chart %s draws its marks with a size on the screen", id)
		}
	}
}

// The report opens from its file with the network cut, asks for nothing
// else, and every chart Chromium draws carries the JSON result's values
// where its scales put them: one process, and -procs 2 merged.
func TestReportInChromium(t *testing.T) {
	addr := startWSD(t)
	tab := browser.New(t)

	url := "ws://" + addr + "/echo"
	code, res, page := runReport(t, "-url", url, "-c", "30", "-rate", "30", "-msg-rate", "20", "-duration", "3s")
	require.Equal(t, exitOK, code)
	checkRendered(t, tab, page, res, map[string]string{"url": url, "c": "30", "msg-rate": "20"})

	bin := buildWsload(t)
	url = "ws://" + addr + "/echo?p={i}"
	code, res, page = runReportBinary(t, bin, "-url", url, "-c", "40", "-rate", "40", "-msg-rate", "20", "-duration", "3s", "-procs", "2")
	require.Equal(t, exitOK, code)
	require.Equal(t, 2, res.Procs)
	checkRendered(t, tab, page, res, map[string]string{"url": url, "c": "40", "procs": "2"})

	// The checks can fail: a point moved 2 px in the page, and a page that
	// fetches an image, are both seen.
	moved := replaceFirst(string(page), `(data-series="open" [^>]*cy=")([\d.]+)`, func(m []string) string { return m[1] + addPx(m[2], 2) })
	require.NotEqual(t, string(page), moved)
	path := filepath.Join(t.TempDir(), "moved.html")
	require.NoError(t, os.WriteFile(path, []byte(moved), 0o644))
	r, _ := openOffline(t, tab, path)
	assert.NotEmpty(t, reportProblems(&r.shownReport, res, nil, browserTol), "a point drawn 2 px off goes unnoticed")

	fetching := strings.Replace(string(page), "</main>", `<img src="http://127.0.0.1:9/pixel.png" alt=""/></main>`, 1)
	path = filepath.Join(t.TempDir(), "fetching.html")
	require.NoError(t, os.WriteFile(path, []byte(fetching), 0o644))
	_, urls := openOffline(t, tab, path)
	assert.Contains(t, urls, "http://127.0.0.1:9/pixel.png", "a request for something else goes unseen")
}
