package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

var palette = []string{"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"}

// writeCharts draws bytes per second against clients (per mode, log-log)
// and latency per mode, for each notification rate.
func writeCharts(rs []result, dir string) {
	rates := map[float64]bool{}
	for _, r := range rs {
		rates[r.Rate] = true
	}
	for rate := range rates {
		suffix := strings.ReplaceAll(fmt.Sprintf("%g", 1/rate), ".", "_")
		os.WriteFile(filepath.Join(dir, "polling-bytes-every-"+suffix+"s.svg"), []byte(bytesChart(rs, rate)), 0o644)
		os.WriteFile(filepath.Join(dir, "polling-latency-every-"+suffix+"s.svg"), []byte(latencyChart(rs, rate)), 0o644)
	}
}

func modes(rs []result) []string {
	seen := map[string]bool{}
	var out []string
	for _, r := range rs {
		if !seen[r.Mode] {
			seen[r.Mode] = true
			out = append(out, r.Mode)
		}
	}
	return out
}

const (
	W, H         = 720, 420
	left, right  = 80, 170
	top, bottom  = 40, 60
	plotW, plotH = W - left - right, H - top - bottom
	fontAttr     = `font-family="sans-serif" font-size="12"`
	titleAttr    = `font-family="sans-serif" font-size="15"`
	smallAttr    = `font-family="sans-serif" font-size="10"`
)

func bytesChart(rs []result, rate float64) string {
	var pts []result
	for _, r := range rs {
		if r.Rate == rate && r.Window > 0 {
			pts = append(pts, r)
		}
	}
	if len(pts) == 0 {
		return "<svg xmlns=\"http://www.w3.org/2000/svg\"/>"
	}
	minX, maxX, minY, maxY := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for _, r := range pts {
		x, y := float64(r.Clients), r.wireBytesPerSec()
		minX, maxX = math.Min(minX, x), math.Max(maxX, x)
		minY, maxY = math.Min(minY, math.Max(y, 1)), math.Max(maxY, y)
	}
	lx0, lx1 := math.Floor(math.Log10(minX)), math.Ceil(math.Log10(maxX))
	if lx1 == lx0 {
		lx1++
	}
	ly0, ly1 := math.Floor(math.Log10(minY)), math.Ceil(math.Log10(maxY))
	if ly1 == ly0 {
		ly1++
	}
	px := func(x float64) float64 { return left + (math.Log10(x)-lx0)/(lx1-lx0)*plotW }
	py := func(y float64) float64 { return top + plotH - (math.Log10(math.Max(y, 1))-ly0)/(ly1-ly0)*plotH }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d">`, W, H, W, H)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/><text x="%d" y="22" %s>Bytes/s on the wire (payload + TCP/IP), a notification per client every %g s</text>`, left, titleAttr, 1/rate)
	for e := ly0; e <= ly1; e++ {
		y := py(math.Pow(10, e))
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/><text x="%d" y="%.1f" %s text-anchor="end">%s</text>`, left, left+plotW, y, y, left-6, y+4, fontAttr, si(math.Pow(10, e))+"B/s")
	}
	for e := lx0; e <= lx1; e++ {
		x := px(math.Pow(10, e))
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="#ddd"/><text x="%.1f" y="%d" %s text-anchor="middle">%s</text>`, x, x, top, top+plotH, x, top+plotH+18, fontAttr, si(math.Pow(10, e)))
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" %s text-anchor="middle">clients (log scale)</text>`, left+plotW/2, H-15, fontAttr)
	for i, m := range modes(pts) {
		var line []result
		for _, r := range pts {
			if r.Mode == m {
				line = append(line, r)
			}
		}
		sort.Slice(line, func(a, b int) bool { return line[a].Clients < line[b].Clients })
		color := palette[i%len(palette)]
		var path []string
		for _, r := range line {
			x, y := px(float64(r.Clients)), py(r.wireBytesPerSec())
			path = append(path, fmt.Sprintf("%.1f,%.1f", x, y))
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="4" fill="%s"/>`, x, y, color)
		}
		dash := []string{"", "8 4", "2 3", "10 3 2 3", "4 4", "1 2"}[i%6] // lines that overlap stay visible
		fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2" stroke-dasharray="%s"/>`, strings.Join(path, " "), color, dash)
		ly := top + 20 + i*20
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="%s" stroke-width="3" stroke-dasharray="%s"/><text x="%d" y="%d" %s>%s</text>`, left+plotW+12, left+plotW+34, ly-4, ly-4, color, dash, left+plotW+40, ly, fontAttr, m)
	}
	b.WriteString("</svg>\n")
	return b.String()
}

func latencyChart(rs []result, rate float64) string {
	var pts []result
	for _, r := range rs {
		if r.Rate == rate && r.Window > 0 {
			pts = append(pts, r)
		}
	}
	maxY := 1.0
	for _, r := range pts {
		maxY = math.Max(maxY, r.P99ms)
	}
	ly1 := math.Ceil(math.Log10(maxY))
	ly0 := -1.0
	py := func(ms float64) float64 {
		return top + plotH - (math.Log10(math.Max(ms, 0.1))-ly0)/(ly1-ly0)*plotH
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d">`, W, H, W, H)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/><text x="%d" y="22" %s>Delivery latency p50 (solid) and p99 (light), a notification per client every %g s</text>`, left, titleAttr, 1/rate)
	for e := ly0; e <= ly1; e++ {
		y := py(math.Pow(10, e))
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/><text x="%d" y="%.1f" %s text-anchor="end">%s</text>`, left, left+plotW, y, y, left-6, y+4, fontAttr, msStr(math.Pow(10, e)))
	}
	n := len(pts)
	if n == 0 {
		return b.String() + "</svg>\n"
	}
	slot := float64(plotW) / float64(n)
	for i, r := range pts {
		x := left + float64(i)*slot
		color := palette[indexOf(modes(pts), r.Mode)%len(palette)]
		bw := slot * 0.35
		y50, y99 := py(r.P50ms), py(r.P99ms)
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/>`, x+slot*0.12, y50, bw, top+plotH-y50, color)
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s" fill-opacity="0.35"/>`, x+slot*0.12+bw, y99, bw, top+plotH-y99, color)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" %s text-anchor="middle">%s</text>`, x+slot/2, top+plotH+14, smallAttr, r.Mode)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" %s text-anchor="middle">%s</text>`, x+slot/2, top+plotH+28, smallAttr, si(float64(r.Clients)))
	}
	b.WriteString("</svg>\n")
	return b.String()
}

func indexOf(l []string, s string) int {
	for i, x := range l {
		if x == s {
			return i
		}
	}
	return 0
}

// si writes 1000 as 1k, 1e6 as 1M.
func si(v float64) string {
	switch {
	case v >= 1e9:
		return fmt.Sprintf("%gG", v/1e9)
	case v >= 1e6:
		return fmt.Sprintf("%gM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%gk", v/1e3)
	}
	return fmt.Sprintf("%g", v)
}
