package main

import (
	"bytes"
	"cmp"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"maps"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/wsd-dev/wsd/load"
)

// shownReport is what a report shows, read back from its HTML (readReport)
// or from the page as Chromium laid it out (report_browser_test.go): each
// chart's scales and marks with the values they carry and where they are
// drawn, the tiles, the percentile table, the settings, the server's
// answer and the JSON result inside the page.
type shownReport struct {
	Charts   map[string]*shownChart       `json:"charts"`
	Tiles    map[string]string            `json:"tiles"`     // tile id → data-v
	TileText map[string]string            `json:"tile_text"` // tile id → the value as written
	Pcts     map[string]map[string]string `json:"pcts"`      // row → column → data-v
	PctText  map[string]map[string]string `json:"pct_text"`  // row → column → as written
	Settings map[string]string            `json:"settings"`  // flag → value shown
	Server   map[string]string            `json:"server"`    // field → text
	ByExt    map[string]string            `json:"by_ext"`    // extensions answered → connections (data-v)
	Result   string                       `json:"result"`    // the JSON inside the page
}

type shownChart struct {
	Attrs map[string]string `json:"attrs"`
	Marks []shownMark       `json:"marks"`
}

// shownMark is one mark: its class (pt, bar, hbar, pmark), its data-*
// attributes, and its geometry in the chart's own units: a point's
// centre, a bar's box, a percentile line's x.
type shownMark struct {
	Class string            `json:"class"`
	Data  map[string]string `json:"data"`
	X     float64           `json:"x"`
	Y     float64           `json:"y"`
	W     float64           `json:"w"`
	H     float64           `json:"h"`
	Title string            `json:"title"` // the tooltip: the value as written
}

// readReport parses the report as XML (it is written well-formed).
func readReport(page []byte) (*shownReport, error) {
	d := xml.NewDecoder(bytes.NewReader(page))
	d.Strict = true
	s := &shownReport{Charts: map[string]*shownChart{}, Tiles: map[string]string{}, TileText: map[string]string{},
		Pcts: map[string]map[string]string{}, PctText: map[string]map[string]string{}, Settings: map[string]string{}, Server: map[string]string{}, ByExt: map[string]string{}}
	var chart *shownChart
	var pctRow, pctKey, serverField, tileID string
	var inResult, inTitle, inTileValue bool
	var text strings.Builder
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return s, nil
		}
		if err != nil {
			return nil, fmt.Errorf("the report is not well-formed: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			a := map[string]string{}
			data := map[string]string{}
			for _, at := range t.Attr {
				a[at.Name.Local] = at.Value
				if k, ok := strings.CutPrefix(at.Name.Local, "data-"); ok {
					data[k] = at.Value
				}
			}
			f := func(k string) float64 { v, _ := strconv.ParseFloat(a[k], 64); return v }
			switch {
			case t.Name.Local == "svg" && a["class"] == "chart":
				chart = &shownChart{Attrs: data}
				s.Charts[data["chart"]] = chart
			case t.Name.Local == "circle" && a["class"] == "pt":
				chart.Marks = append(chart.Marks, shownMark{Class: "pt", Data: data, X: f("cx"), Y: f("cy")})
			case t.Name.Local == "rect" && (a["class"] == "bar" || a["class"] == "hbar"):
				chart.Marks = append(chart.Marks, shownMark{Class: a["class"], Data: data, X: f("x"), Y: f("y"), W: f("width"), H: f("height")})
			case t.Name.Local == "line" && a["class"] == "pmark":
				chart.Marks = append(chart.Marks, shownMark{Class: "pmark", Data: data, X: f("x1")})
			case t.Name.Local == "title" && chart != nil && len(chart.Marks) > 0:
				inTitle = true
				text.Reset()
			case t.Name.Local == "div" && a["class"] == "tile":
				tileID = strings.TrimPrefix(a["id"], "tile-")
				s.Tiles[tileID] = data["v"]
			case t.Name.Local == "div" && a["class"] == "v" && tileID != "":
				inTileValue = true
				text.Reset()
			case t.Name.Local == "tr" && strings.HasPrefix(a["id"], "pct-"):
				pctRow = strings.TrimPrefix(a["id"], "pct-")
				s.Pcts[pctRow], s.PctText[pctRow] = map[string]string{}, map[string]string{}
			case t.Name.Local == "td" && pctRow != "" && data["k"] != "":
				pctKey = data["k"]
				s.Pcts[pctRow][pctKey] = data["v"]
				text.Reset()
			case t.Name.Local == "span" && a["class"] == "ext":
				s.ByExt[data["ext"]] = data["v"]
			case t.Name.Local == "tr" && data["flag"] != "":
				s.Settings[data["flag"]] = data["value"]
			case t.Name.Local == "dd" && strings.HasPrefix(a["id"], "server-"):
				serverField = strings.TrimPrefix(a["id"], "server-")
				text.Reset()
			case t.Name.Local == "script" && a["id"] == "wsload-result":
				inResult = true
				text.Reset()
			}
		case xml.CharData:
			if serverField != "" || inResult || inTitle || inTileValue || pctKey != "" {
				text.Write(t)
			}
		case xml.EndElement:
			switch t.Name.Local {
			case "svg":
				chart = nil
			case "title":
				if inTitle {
					chart.Marks[len(chart.Marks)-1].Title, inTitle = text.String(), false
				}
			case "div":
				if inTileValue {
					s.TileText[tileID], inTileValue, tileID = text.String(), false, ""
				}
			case "td":
				if pctKey != "" {
					s.PctText[pctRow][pctKey], pctKey = text.String(), ""
				}
			case "tr":
				pctRow = ""
			case "dd":
				if serverField != "" {
					s.Server[serverField] = text.String()
					serverField = ""
				}
			case "script":
				if inResult {
					s.Result, inResult = text.String(), false
				}
			}
		}
	}
}

// reportProblems checks what a report shows against the JSON result it
// came from: every chart there is to be, every mark with the value of its
// second or bucket and drawn where its chart's scales put that value, and
// nothing more; the tiles, the percentiles, the settings given and the
// JSON inside the page. tol is how far a drawn position may be off, in
// the chart's units (its coordinates are written with 2 decimals).
func reportProblems(s *shownReport, res *result, given map[string]string, tol float64) []string {
	var out []string
	bad := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	want := expectedMarks(res)
	if got, w := slices.Sorted(maps.Keys(s.Charts)), slices.Sorted(maps.Keys(want)); !slices.Equal(got, w) {
		bad("charts %v, want %v", got, w)
	}
	for id, c := range s.Charts {
		var keys []string
		for _, m := range c.Marks {
			keys = append(keys, markKey(m.Class, m.Data))
		}
		slices.Sort(keys)
		if w := want[id]; !slices.Equal(keys, w) {
			bad("chart %s shows %s", id, diffKeys(keys, w))
		}
		for _, m := range c.Marks {
			if want := markTitle(id, m); !strings.Contains(m.Title, want) {
				bad("chart %s: %s reads %q, not %q", id, markKey(m.Class, m.Data), m.Title, want)
			}
		}
		for _, p := range placementProblems(c, tol) {
			bad("chart %s: %s", id, p)
		}
	}
	if len(res.Series) > 0 {
		for _, id := range []string{"open", "connects", "msgs", "latency", "bytes"} {
			if c := s.Charts[id]; c != nil && c.Attrs["t0"] != strconv.FormatInt(res.Series[0].T, 10) {
				bad("chart %s starts at second %s, the series at %d", id, c.Attrs["t0"], res.Series[0].T)
			}
		}
	}
	wantTiles := expectedTiles(res)
	if got, w := slices.Sorted(maps.Keys(s.Tiles)), slices.Sorted(maps.Keys(wantTiles)); !slices.Equal(got, w) {
		bad("tiles %v, want %v", got, w)
	}
	for k, v := range wantTiles {
		if got, ok := s.Tiles[k]; ok && !sameNumber(got, v) {
			bad("tile %s shows %s, the JSON has %v", k, got, v)
		}
	}
	for k, text := range s.TileText {
		if want := tileText(k, s.Tiles[k]); text != want {
			bad("tile %s reads %q for its value %s (%q)", k, text, s.Tiles[k], want)
		}
	}
	for row, m := range s.PctText {
		for k, text := range m {
			if want := pctText(k, s.Pcts[row][k]); text != want {
				bad("percentile %s %s reads %q for its value %s (%q)", row, k, text, s.Pcts[row][k], want)
			}
		}
	}
	wantPcts := map[string]map[string]float64{"connect": res.ConnectMs, "handshake": res.HandshakeMs}
	if res.Echo != nil {
		wantPcts["latency"] = res.Echo.LatencyMs
	}
	if res.Push != nil {
		for k, m := range res.Push.Summary {
			wantPcts["push-"+k] = m
		}
	}
	if got, w := slices.Sorted(maps.Keys(s.Pcts)), slices.Sorted(maps.Keys(wantPcts)); !slices.Equal(got, w) {
		bad("percentile rows %v, want %v", got, w)
	}
	for row, m := range wantPcts {
		for _, k := range append(slices.Clone(pctMarks), "count") {
			if got := s.Pcts[row][k]; !sameNumber(got, m[k]) {
				bad("percentile %s %s shows %q, the JSON has %v", row, k, got, m[k])
			}
		}
	}
	for flag, v := range given {
		if got, ok := s.Settings[flag]; !ok || got != v {
			bad("setting -%s shows %q, given %q", flag, got, v)
		}
	}
	if s.Settings["worker"] != "" {
		bad("the internal -worker flag is shown")
	}
	switch {
	case res.Server != nil && res.Server.Error != "":
		if s.Server["error"] != res.Server.Error {
			bad("the server's error shows %q, want %q", s.Server["error"], res.Server.Error)
		}
	case res.Server != nil:
		if want := fmt.Sprintf("%d, Sec-WebSocket-Accept right, %.2f ms", res.Server.Status, res.Server.Millis); s.Server["status"] != want {
			bad("the server's answer shows %q, want %q", s.Server["status"], want)
		}
	}
	if got, w := slices.Sorted(maps.Keys(s.ByExt)), slices.Sorted(maps.Keys(res.Extensions)); !slices.Equal(got, w) {
		bad("connections by extensions answered for %v, the JSON has %v", got, w)
	}
	for k, v := range res.Extensions {
		if got, ok := s.ByExt[k]; ok && !sameNumber(got, float64(v)) {
			bad("%d connections answered %q shown as %s", v, k, got)
		}
	}
	var inPage, fromRun any
	js, _ := json.Marshal(res)
	if err := json.Unmarshal([]byte(s.Result), &inPage); err != nil {
		bad("the JSON inside the page: %v", err)
	} else if json.Unmarshal(js, &fromRun); !reflect.DeepEqual(inPage, fromRun) {
		bad("the JSON inside the page differs from the run's")
	}
	return out
}

// expectedMarks derives every chart's marks from the JSON result alone.
func expectedMarks(res *result) map[string][]string {
	w := map[string][]string{"open": {}, "connects": {}, "msgs": {}, "latency": {}, "bytes": {}}
	pt := func(chart, series string, t int64, v float64) {
		w[chart] = append(w[chart], markKey("pt", map[string]string{"series": series, "t": strconv.FormatInt(t, 10), "v": num(v)}))
	}
	bar := func(series string, t int64, v int64) {
		if v > 0 {
			w["connects"] = append(w["connects"], markKey("bar", map[string]string{"series": series, "t": strconv.FormatInt(t, 10), "v": num(float64(v))}))
		}
	}
	for _, s := range res.Series {
		pt("open", "open", s.T, float64(s.Open))
		pt("connects", "closes", s.T, float64(s.Closes))
		bar("connects", s.T, s.Connects)
		for c, v := range s.Failures {
			bar("fail-"+c, s.T, v)
		}
		pt("msgs", "in", s.T, float64(s.MsgsIn))
		pt("msgs", "out", s.T, float64(s.MsgsOut))
		pt("bytes", "in", s.T, float64(s.BytesIn))
		pt("bytes", "out", s.T, float64(s.BytesOut))
		for _, k := range []string{"p50", "p90", "p99", "max"} {
			if v, ok := s.LatencyMs[k]; ok {
				pt("latency", k, s.T, v)
			}
		}
	}
	hist := func(id string, d load.HistogramData, p map[string]float64) {
		w[id] = []string{}
		for i, c := range d.Buckets {
			lo, hi := load.BucketBounds(i)
			w[id] = append(w[id], markKey("hbar", map[string]string{"bucket": strconv.Itoa(i), "lo": strconv.FormatInt(lo, 10),
				"hi": strconv.FormatInt(hi, 10), "v": strconv.FormatUint(c, 10)}))
		}
		if len(d.Buckets) > 0 {
			for _, k := range pctMarks {
				w[id] = append(w[id], markKey("pmark", map[string]string{"p": k, "v": num(p[k])}))
			}
		}
	}
	if res.Echo != nil {
		hist("hist-latency", res.Echo.Hist, res.Echo.LatencyMs)
	}
	if res.Push != nil {
		for k, d := range res.Push.Kinds {
			hist("hist-push-"+k, d, res.Push.Summary[k])
		}
	}
	hist("hist-connect", res.ConnectHist, res.ConnectMs)
	hist("hist-handshake", res.HandshakeHist, res.HandshakeMs)
	for _, v := range w {
		slices.Sort(v)
	}
	return w
}

func expectedTiles(res *result) map[string]float64 {
	var peak, in int64
	for _, s := range res.Series {
		peak = max(peak, s.Open)
		in += s.MsgsIn
	}
	t := map[string]float64{"opened": float64(res.Stats.Opened), "failed": float64(res.Stats.Failed()), "peak-open": float64(peak),
		"msgs-in": float64(in), "handshake-p99": res.HandshakeMs["p99"], "elapsed": res.Elapsed}
	var lat *load.Histogram
	switch {
	case res.Echo != nil:
		lat = &load.Histogram{}
		lat.Import(res.Echo.Hist)
	case res.Push != nil && len(res.Push.Kinds) > 0:
		lat = &load.Histogram{}
		for _, d := range res.Push.Kinds {
			lat.Import(d)
		}
	}
	if lat != nil {
		t["latency-p50"] = float64(lat.Percentile(50)) / 1e6
		t["latency-p99"] = float64(lat.Percentile(99)) / 1e6
	}
	return t
}

// markKey names a mark by its class and the values it carries.
func markKey(class string, data map[string]string) string {
	var parts []string
	for _, k := range []string{"series", "t", "p", "bucket", "lo", "hi", "v"} {
		if v, ok := data[k]; ok {
			if k == "v" {
				if f, err := strconv.ParseFloat(v, 64); err == nil {
					v = num(f) // one spelling per number
				}
			}
			parts = append(parts, k+"="+v)
		}
	}
	return class + " " + strings.Join(parts, " ")
}

func diffKeys(got, want []string) string {
	g, w := map[string]bool{}, map[string]bool{}
	for _, k := range got {
		g[k] = true
	}
	for _, k := range want {
		w[k] = true
	}
	var extra, missing []string
	for _, k := range got {
		if !w[k] {
			extra = append(extra, k)
		}
	}
	for _, k := range want {
		if !g[k] {
			missing = append(missing, k)
		}
	}
	clip := func(a []string) []string { return a[:min(len(a), 5)] }
	return fmt.Sprintf("%d marks for %d: %d not in the JSON %q, %d missing %q", len(got), len(want), len(extra), clip(extra), len(missing), clip(missing))
}

func sameNumber(shown string, v float64) bool {
	f, err := strconv.ParseFloat(shown, 64)
	return err == nil && f == v
}

// placementProblems checks that each mark is drawn where the chart's own
// scales put its value, and inside the plot.
func placementProblems(c *shownChart, tol float64) []string {
	f := func(k string) float64 { v, _ := strconv.ParseFloat(c.Attrs[k], 64); return v }
	x := scale{d0: f("x0"), d1: f("x1"), p0: f("px0"), p1: f("px1"), log: c.Attrs["xscale"] == "log"}
	y := scale{d0: f("y0"), d1: f("y1"), p0: f("py0"), p1: f("py1"), log: c.Attrs["yscale"] == "log"}
	t0, _ := strconv.ParseInt(c.Attrs["t0"], 10, 64)
	var out []string
	off := func(m shownMark, what string, got, want float64) {
		if math.Abs(got-want) > tol || math.IsNaN(got) {
			out = append(out, fmt.Sprintf("%s: %s at %.3f, its value puts it at %.3f", markKey(m.Class, m.Data), what, got, want))
		}
	}
	dv := func(m shownMark, k string) float64 { v, _ := strconv.ParseFloat(m.Data[k], 64); return v }
	stacks := map[string]float64{} // t → sum of the bars so far, by base
	var bars []shownMark
	for _, m := range c.Marks {
		v := dv(m, "v")
		switch m.Class {
		case "pt":
			t, _ := strconv.ParseInt(m.Data["t"], 10, 64)
			off(m, "x", m.X, x.at(float64(t-t0)+0.5))
			off(m, "y", m.Y, y.at(v))
		case "bar":
			t, _ := strconv.ParseInt(m.Data["t"], 10, 64)
			base := dv(m, "base")
			off(m, "centre", m.X+m.W/2, x.at(float64(t-t0)+0.5))
			off(m, "top", m.Y, y.at(base+v))
			off(m, "bottom", m.Y+m.H, y.at(base))
			bars = append(bars, m)
		case "hbar":
			off(m, "left", m.X, x.at(dv(m, "lo")/1e6))
			if right := x.at((dv(m, "hi") + 1) / 1e6); m.X+m.W < right-tol {
				out = append(out, fmt.Sprintf("%s: ends at %.3f before its bucket's end %.3f", markKey(m.Class, m.Data), m.X+m.W, right))
			}
			off(m, "top", m.Y, y.at(v))
			off(m, "bottom", m.Y+m.H, y.p0)
		case "pmark":
			off(m, "x", m.X, x.at(v))
		}
		if m.Class != "pmark" && (m.Y < y.p1-tol || m.Y+m.H > y.p0+tol) {
			out = append(out, fmt.Sprintf("%s: outside the plot (y %.2f..%.2f, plot %.2f..%.2f)", markKey(m.Class, m.Data), m.Y, m.Y+m.H, y.p1, y.p0))
		}
	}
	// Stacked bars: each one's base is the sum of those under it.
	slices.SortStableFunc(bars, func(a, b shownMark) int { return cmp.Compare(dv(a, "base"), dv(b, "base")) })
	for _, m := range bars {
		t := m.Data["t"]
		if base := dv(m, "base"); base != stacks[t] {
			out = append(out, fmt.Sprintf("%s: stacked on %v, the bars under it sum to %v", markKey(m.Class, m.Data), base, stacks[t]))
		}
		stacks[t] += dv(m, "v")
	}
	return out
}

// The values as the page writes them for people: a mark's tooltip, a
// tile, a table cell, each from the value the element carries.
func markTitle(chart string, m shownMark) string {
	v, _ := strconv.ParseFloat(m.Data["v"], 64)
	switch {
	case m.Class == "hbar":
		return ": " + m.Data["v"]
	case m.Class == "pmark":
		return m.Data["p"] + " " + msLabel(v)
	case chart == "latency":
		return ": " + msLabel(v) + " in second"
	case chart == "bytes":
		return ": " + bytesLabel(v) + " in second"
	}
	return ": " + countLabel(v) + " in second"
}

func tileText(id, dataV string) string {
	v, _ := strconv.ParseFloat(dataV, 64)
	switch id {
	case "latency-p50", "latency-p99", "handshake-p99":
		return msLabel(v)
	case "elapsed":
		return fmt.Sprintf("%.1f s", v)
	}
	return countLabel(v)
}

func pctText(k, dataV string) string {
	v, _ := strconv.ParseFloat(dataV, 64)
	if k == "count" {
		return fmt.Sprintf("%.0f", v)
	}
	return msLabel(v)
}
