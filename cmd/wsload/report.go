package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/wsd-dev/wsd/load"
)

// writeReport writes -report's HTML file: one page with everything inline
// (styles, SVG charts, the JSON result), so that it opens offline and can
// be mailed or archived as it is. With -procs it is the parent's, from the
// merged result. It first asks the server for one more handshake (the
// server under test, as it answers).
func writeReport(o *options, r *result) error {
	if o.report == "" || o.worker {
		return nil
	}
	r.Server = probeServer(o)
	page, err := reportHTML(o, r)
	if err != nil {
		return err
	}
	if err := os.WriteFile(o.report, page, 0o644); err != nil {
		return fmt.Errorf("-report: %w", err)
	}
	return nil
}

var causeColors = map[string]string{
	"refused": "#dc2626", "timeout": "#f59e0b", "bad_status": "#a855f7", "bad_accept": "#db2777",
	"bad_response": "#7c3aed", "protocol_error": "#991b1b", "closed": "#fb923c", "other": "#78716c",
}

// causeOrder is load's order of failure causes, for stacking.
var causeOrder = []string{"refused", "timeout", "bad_status", "bad_accept", "bad_response", "protocol_error", "closed", "other"}

var latencyLines = []struct{ key, color string }{
	{"p50", "#16a34a"}, {"p90", "#2563eb"}, {"p99", "#f59e0b"}, {"max", "#dc2626"},
}

func reportHTML(o *options, r *result) ([]byte, error) {
	js, err := json.Marshal(r) // escapes <, > and &: safe inside the page
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	title := fmt.Sprintf("wsload %s against %s", r.Scenario, cutTokens(o.url))
	b.WriteString("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/>")
	b.WriteString(`<meta name="viewport" content="width=device-width, initial-scale=1"/>`)
	fmt.Fprintf(&b, "<title>%s</title><style>%s</style></head><body>", esc(title), reportCSS)
	var t0, t1 int64
	if n := len(r.Series); n > 0 {
		t0, t1 = r.Series[0].T, r.Series[n-1].T+1
	}
	fmt.Fprintf(&b, `<header><h1>wsload report</h1><span class="host">%s</span><span class="when">%s</span></header><main>`,
		esc(cutTokens(o.url)), esc(runWhen(t0, t1, r)))
	reportTiles(&b, r)
	reportServer(&b, r.Server, r.Extensions)

	b.WriteString(`<section class="charts">`)
	for _, c := range timeCharts(r, t0, t1) {
		fmt.Fprintf(&b, `<figure class="card wide" id="card-%s"><h2>%s</h2>`, c.id, esc(c.title))
		c.render(&b)
		b.WriteString(`</figure>`)
	}
	for _, c := range histCharts(r) {
		fmt.Fprintf(&b, `<figure class="card" id="card-%s"><h2>%s</h2>`, c.id, esc(c.title))
		c.render(&b)
		b.WriteString(`</figure>`)
	}
	b.WriteString(`</section>`)

	reportPercentiles(&b, r)
	reportFailures(&b, r)
	reportSettings(&b, o, r)
	fmt.Fprintf(&b, `<script type="application/json" id="wsload-result">%s</script>`, js)
	b.WriteString(`</main><footer>Made by wsload -report: one file, nothing fetched from elsewhere. The JSON result it was drawn from is inside it (element #wsload-result). Times are wall-clock seconds; the first and last seconds of a run are partial.</footer></body></html>`)
	b.WriteString("\n")
	return []byte(b.String()), nil
}

func runWhen(t0, t1 int64, r *result) string {
	if t0 == 0 {
		return fmt.Sprintf("%.1f s", r.Elapsed)
	}
	return fmt.Sprintf("%s, %s – %s (%d s)", time.Unix(t0, 0).Format("2006-01-02"), clock(t0), clock(t1), t1-t0)
}

// latencySummary is the scenario's latency over the whole run: echo round
// trips, or push deliveries of every kind together.
func latencySummary(r *result) (map[string]float64, string) {
	switch {
	case r.Echo != nil:
		return r.Echo.LatencyMs, "echo round trip"
	case r.Push != nil && len(r.Push.Kinds) > 0:
		var all load.HistogramData
		for _, k := range slices.Sorted(maps.Keys(r.Push.Kinds)) {
			all = mergeHist(all, r.Push.Kinds[k])
		}
		return pcts(all), "push delivery"
	}
	return nil, ""
}

func tile(b *strings.Builder, id, label string, v float64, shown, sub string) {
	fmt.Fprintf(b, `<div class="tile" id="tile-%s" data-v="%s"><div class="k">%s</div><div class="v">%s</div><div class="s">%s</div></div>`,
		id, num(v), esc(label), esc(shown), sub)
}

func reportTiles(b *strings.Builder, r *result) {
	var peak, in, out int64
	for _, s := range r.Series {
		peak = max(peak, s.Open)
		in += s.MsgsIn
		out += s.MsgsOut
	}
	b.WriteString(`<section class="tiles">`)
	tile(b, "opened", "Connections opened", float64(r.Stats.Opened), countLabel(float64(r.Stats.Opened)),
		fmt.Sprintf("%d process(es), connect phase %.2f s", r.Procs, r.ConnectPhase))
	var causes []string
	for _, c := range causeOrder {
		if v := r.Stats.Failures[c]; v > 0 {
			causes = append(causes, fmt.Sprintf(`<span>%s <b>%d</b></span>`, c, v))
		}
	}
	tile(b, "failed", "Failures", float64(r.Stats.Failed()), countLabel(float64(r.Stats.Failed())), strings.Join(causes, ""))
	tile(b, "peak-open", "Open at most", float64(peak), countLabel(float64(peak)), "in one second's sample")
	tile(b, "msgs-in", "Messages received", float64(in), countLabel(float64(in)), fmt.Sprintf("sent <b>%s</b>", countLabel(float64(out))))
	if lat, what := latencySummary(r); lat != nil {
		tile(b, "latency-p50", "Latency p50", lat["p50"], msLabel(lat["p50"]), esc(what))
		tile(b, "latency-p99", "Latency p99", lat["p99"], msLabel(lat["p99"]), fmt.Sprintf("max <b>%s</b>", esc(msLabel(lat["max"]))))
	}
	tile(b, "handshake-p99", "Handshake p99", r.HandshakeMs["p99"], msLabel(r.HandshakeMs["p99"]), fmt.Sprintf("p50 <b>%s</b>", esc(msLabel(r.HandshakeMs["p50"]))))
	tile(b, "elapsed", "Scenario time", r.Elapsed, fmt.Sprintf("%.1f s", r.Elapsed), esc(r.Scenario))
	b.WriteString(`</section>`)
}

func reportServer(b *strings.Builder, a *serverAnswer, byAnswer map[string]int64) {
	if a == nil {
		return
	}
	b.WriteString(`<section class="card server" id="server"><h2>Server under test</h2><dl>`)
	row := func(id, k, v string) {
		fmt.Fprintf(b, `<dt>%s</dt><dd id="server-%s">%s</dd>`, esc(k), id, esc(v))
	}
	row("url", "URL", cutTokens(a.URL))
	if a.Error != "" {
		row("error", "Handshake after the run", a.Error)
	} else {
		row("status", "Answer", fmt.Sprintf("%d, Sec-WebSocket-Accept %s, %.2f ms", a.Status, map[bool]string{true: "right", false: "WRONG"}[a.AcceptOK], a.Millis))
		ext := a.Extensions
		if ext == "" {
			ext = "none"
		}
		row("extensions", "Extensions agreed", ext)
		if a.Protocol != "" {
			row("protocol", "Subprotocol", a.Protocol)
		}
	}
	if len(byAnswer) > 0 {
		b.WriteString(`<dt>The run's connections, by extensions answered</dt><dd id="server-by-extensions">`)
		for _, k := range slices.Sorted(maps.Keys(byAnswer)) {
			fmt.Fprintf(b, `<span class="ext" data-ext="%s" data-v="%d">%s: %d</span>`, esc(k), byAnswer[k], esc(k), byAnswer[k])
		}
		b.WriteString(`</dd>`)
	}
	b.WriteString(`</dl><div class="heads">`)
	fmt.Fprintf(b, `<div><h3>Request (one handshake of its own, %s)</h3><pre id="server-request">%s</pre></div>`, esc(a.At), esc(a.Request))
	if a.Response != "" {
		fmt.Fprintf(b, `<div><h3>What the server answered</h3><pre id="server-response">%s</pre></div>`, esc(a.Response))
	}
	b.WriteString(`</div></section>`)
}

func timeCharts(r *result, t0, t1 int64) []*timeChart {
	open := tsSeries{name: "open", label: "open connections", color: "#2563eb"}
	connects := tsSeries{name: "connects", label: "connects", color: "#16a34a"}
	closes := tsSeries{name: "closes", label: "closes", color: "#64748b"}
	fails := map[string]*tsSeries{}
	msgIn := tsSeries{name: "in", label: "received", color: "#2563eb"}
	msgOut := tsSeries{name: "out", label: "sent", color: "#0891b2"}
	bIn := tsSeries{name: "in", label: "read", color: "#2563eb"}
	bOut := tsSeries{name: "out", label: "written", color: "#0891b2"}
	lat := make([]tsSeries, len(latencyLines))
	for i, l := range latencyLines {
		lat[i] = tsSeries{name: l.key, label: l.key, color: l.color}
	}
	for _, s := range r.Series {
		open.points = append(open.points, tsPoint{s.T, float64(s.Open)})
		connects.points = append(connects.points, tsPoint{s.T, float64(s.Connects)})
		closes.points = append(closes.points, tsPoint{s.T, float64(s.Closes)})
		for c, v := range s.Failures {
			f := fails[c]
			if f == nil {
				color := causeColors[c]
				if color == "" {
					color = causeColors["other"]
				}
				f = &tsSeries{name: "fail-" + c, label: c, color: color}
				fails[c] = f
			}
			f.points = append(f.points, tsPoint{s.T, float64(v)})
		}
		msgIn.points = append(msgIn.points, tsPoint{s.T, float64(s.MsgsIn)})
		msgOut.points = append(msgOut.points, tsPoint{s.T, float64(s.MsgsOut)})
		bIn.points = append(bIn.points, tsPoint{s.T, float64(s.BytesIn)})
		bOut.points = append(bOut.points, tsPoint{s.T, float64(s.BytesOut)})
		for i, l := range latencyLines {
			if v, ok := s.LatencyMs[l.key]; ok {
				lat[i].points = append(lat[i].points, tsPoint{s.T, v})
			}
		}
	}
	bars := []tsSeries{connects}
	for _, c := range causeOrder {
		if f := fails[c]; f != nil {
			bars = append(bars, *f)
		}
	}
	for _, c := range slices.Sorted(maps.Keys(fails)) { // causes this wsload does not know (a newer worker)
		if !slices.Contains(causeOrder, c) {
			bars = append(bars, *fails[c])
		}
	}
	_, what := latencySummary(r)
	if what == "" {
		what = "no latencies in this scenario"
	}
	return []*timeChart{
		{id: "open", title: "Connections open over time", t0: t0, t1: t1, lines: []tsSeries{open}, area: true},
		{id: "connects", title: "Connects and failures per second, by cause", t0: t0, t1: t1, bars: bars, lines: []tsSeries{closes}},
		{id: "msgs", title: "Messages per second", t0: t0, t1: t1, lines: []tsSeries{msgIn, msgOut}},
		{id: "latency", title: "Latency per second: p50, p90, p99, max", note: what + ", log scale", t0: t0, t1: t1, lines: lat, log: true, label: msLabel},
		{id: "bytes", title: "Bytes per second on the sockets (handshakes and frames)", t0: t0, t1: t1, lines: []tsSeries{bIn, bOut}, label: bytesLabel},
	}
}

func histCharts(r *result) []*histChart {
	var out []*histChart
	if e := r.Echo; e != nil {
		out = append(out, &histChart{id: "hist-latency", title: "Echo round-trip latency (HDR histogram)", data: e.Hist, pcts: e.LatencyMs, color: "#2563eb"})
	}
	if p := r.Push; p != nil {
		for _, k := range slices.Sorted(maps.Keys(p.Kinds)) {
			out = append(out, &histChart{id: "hist-push-" + k, title: fmt.Sprintf("Push latency, kind %s (%s)", k, pushKindName(k)), data: p.Kinds[k], pcts: p.Summary[k], color: "#7c3aed"})
		}
	}
	return append(out,
		&histChart{id: "hist-connect", title: "TCP connect time", data: r.ConnectHist, pcts: r.ConnectMs, color: "#0891b2"},
		&histChart{id: "hist-handshake", title: "Handshake time (request sent to 101 checked)", data: r.HandshakeHist, pcts: r.HandshakeMs, color: "#16a34a"})
}

func pushKindName(k string) string {
	switch k {
	case "B":
		return "broadcast to everyone"
	case "U":
		return "to one user"
	}
	return "as stamped"
}

func reportPercentiles(b *strings.Builder, r *result) {
	type row struct {
		id, name string
		m        map[string]float64
	}
	var rows []row
	if r.Echo != nil {
		rows = append(rows, row{"latency", "echo round trip", r.Echo.LatencyMs})
	}
	if p := r.Push; p != nil {
		for _, k := range slices.Sorted(maps.Keys(p.Summary)) {
			rows = append(rows, row{"push-" + k, "push " + k + " (" + pushKindName(k) + ")", p.Summary[k]})
		}
	}
	rows = append(rows, row{"connect", "TCP connect", r.ConnectMs}, row{"handshake", "handshake", r.HandshakeMs})
	b.WriteString(`<section class="card"><h2>Percentiles over the whole run</h2><table class="pcts"><thead><tr><th></th>`)
	for _, k := range pctMarks {
		fmt.Fprintf(b, "<th>%s</th>", k)
	}
	b.WriteString(`<th>count</th></tr></thead><tbody>`)
	for _, rw := range rows {
		fmt.Fprintf(b, `<tr id="pct-%s"><th>%s</th>`, rw.id, esc(rw.name))
		for _, k := range append(slices.Clone(pctMarks), "count") {
			v := rw.m[k]
			shown := msLabel(v)
			if k == "count" {
				shown = fmt.Sprintf("%.0f", v)
			}
			fmt.Fprintf(b, `<td data-k="%s" data-v="%s">%s</td>`, k, num(v), esc(shown))
		}
		b.WriteString(`</tr>`)
	}
	b.WriteString(`</tbody></table></section>`)
}

func reportFailures(b *strings.Builder, r *result) {
	if r.Stats.Failed() == 0 && (r.Echo == nil || r.Echo.Mismatched == 0) && len(r.ThresholdsFailed) == 0 {
		return
	}
	b.WriteString(`<section class="card" id="failures"><h2>What went wrong</h2><table>`)
	for _, c := range slices.Sorted(maps.Keys(r.Stats.Failures)) {
		fmt.Fprintf(b, `<tr data-cause="%s" data-v="%d"><th>%s</th><td>%d</td><td class="mono">%s</td></tr>`,
			esc(c), r.Stats.Failures[c], esc(c), r.Stats.Failures[c], esc(r.Stats.Errors[c]))
	}
	if e := r.Echo; e != nil && e.Mismatched > 0 {
		fmt.Fprintf(b, `<tr><th>wrong echoes</th><td>%d</td><td class="mono">%s</td></tr>`, e.Mismatched, esc(e.FirstMismatch))
	}
	for _, t := range r.ThresholdsFailed {
		fmt.Fprintf(b, `<tr><th>threshold</th><td></td><td class="mono">%s</td></tr>`, esc(t))
	}
	b.WriteString(`</table></section>`)
}

// hiddenFlags are shown as set or not, never by value.
var hiddenFlags = map[string]bool{"publish-token": true}

func reportSettings(b *strings.Builder, o *options, r *result) {
	shown := func(f *flag.Flag) string {
		v := f.Value.String()
		switch {
		case hiddenFlags[f.Name] && v != "":
			return "(given, not shown)"
		case f.Name == "url":
			return cutTokens(v)
		}
		return v
	}
	var cmd []string
	o.flags.Visit(func(f *flag.Flag) {
		if f.Name == "worker" {
			return
		}
		v := shown(f)
		if strings.ContainsAny(v, " \t\"'{}&?*") {
			v = "'" + strings.ReplaceAll(v, "'", `'\''`) + "'"
		}
		if _, isBool := f.Value.(interface{ IsBoolFlag() bool }); isBool && v == "true" {
			cmd = append(cmd, "-"+f.Name)
			return
		}
		cmd = append(cmd, "-"+f.Name, v)
	})
	b.WriteString(`<section class="card" id="settings"><h2>Settings</h2>`)
	fmt.Fprintf(b, `<p>The command (flags as given, from the command line or -config):</p><pre id="command">wsload %s</pre>`, esc(strings.Join(cmd, " ")))
	b.WriteString(`<table class="settings"><thead><tr><th>flag</th><th>value</th><th>default</th><th>what it does</th></tr></thead><tbody>`)
	o.flags.VisitAll(func(f *flag.Flag) {
		if f.Name == "worker" {
			return
		}
		given := false
		o.flags.Visit(func(g *flag.Flag) { given = given || g.Name == f.Name })
		cls := "default"
		if given {
			cls = "given"
		}
		fmt.Fprintf(b, `<tr class="%s" data-flag="%s" data-value="%s"><td>-%s</td><td>%s</td><td>%s</td><td>%s</td></tr>`,
			cls, esc(f.Name), esc(shown(f)), esc(f.Name), esc(shown(f)), esc(f.DefValue), esc(f.Usage))
	})
	b.WriteString(`</tbody></table>`)
	host, _ := os.Hostname()
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	fmt.Fprintf(b, `<p class="env">Load from %s (Linux %s, %d CPUs, %s %s/%s): %d process(es) of %d event loop(s). wsload's own memory with the connections open: %s (%s per connection).</p>`,
		esc(host), esc(strings.TrimSpace(string(kernel))), runtime.NumCPU(), runtime.Version(), runtime.GOOS, runtime.GOARCH,
		r.Procs, o.loops, bytesLabel(float64(r.RSSHeld)), bytesLabel(r.BytesPerConn))
	b.WriteString(`</section>`)
}

const reportCSS = `
:root { --bg: #f6f7f9; --card: #fff; --ink: #1f2933; --muted: #66727f; --line: #e3e7ec; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink); font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif; }
header { display: flex; align-items: baseline; gap: 14px; padding: 12px 20px; background: var(--card); border-bottom: 1px solid var(--line); }
header h1 { font-size: 17px; margin: 0; font-weight: 600; }
header .host { font-family: ui-monospace, monospace; }
header .when { color: var(--muted); margin-left: auto; }
main { padding: 16px 20px 8px; }
.tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(160px, 1fr)); gap: 10px; margin-bottom: 12px; }
.tile { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; }
.tile .k { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .03em; }
.tile .v { font-size: 24px; font-weight: 600; font-variant-numeric: tabular-nums; }
.tile .s { color: var(--muted); font-size: 12px; min-height: 1.4em; }
.tile .s span + span::before { content: " · "; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(520px, 1fr)); gap: 10px; margin: 12px 0; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px 8px; margin: 0 0 12px; }
.charts .card { margin: 0; }
.card h2 { font-size: 13px; margin: 0 0 2px; font-weight: 600; }
.card h3 { font-size: 12px; margin: 6px 0 2px; font-weight: 600; color: var(--muted); }
.legend { font-size: 12px; color: var(--muted); min-height: 1.4em; }
.legend i { display: inline-block; width: 10px; height: 3px; margin: 0 4px 3px 10px; vertical-align: middle; }
.legend span:first-child i { margin-left: 0; }
.legend .note { margin-left: 12px; font-style: italic; }
svg.chart { width: 100%; height: auto; display: block; }
svg text { font-size: 10px; fill: #66727f; font-family: system-ui, sans-serif; }
svg text.none { font-size: 13px; }
svg text.plabel { fill: #1f2933; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; margin: 6px 0; }
dt { color: var(--muted); }
dd { margin: 0; font-family: ui-monospace, monospace; }
dd span.ext { display: block; }
.heads { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 10px; }
pre { background: #f3f4f6; border-radius: 6px; padding: 8px 10px; margin: 0; font-size: 12px; overflow-x: auto; white-space: pre-wrap; word-break: break-all; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { text-align: left; padding: 3px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
table.pcts td { font-variant-numeric: tabular-nums; text-align: right; }
table.pcts thead th { text-align: right; }
table.settings tr.default td { color: var(--muted); }
table.settings tr.given td:first-child { font-weight: 600; }
.mono, table.settings td:nth-child(-n+3) { font-family: ui-monospace, monospace; font-size: 12px; }
.env { color: var(--muted); font-size: 12px; }
footer { color: var(--muted); font-size: 12px; padding: 0 20px 16px; }
`
