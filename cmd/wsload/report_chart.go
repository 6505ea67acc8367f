package main

import (
	"fmt"
	"html"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wsd-dev/wsd/load"
)

// The report's charts are SVG written here, whole: they need no script to
// be drawn. Every mark carries the value it shows (data-v, with data-t the
// Unix second or data-bucket the histogram bucket) and every chart its
// scales (data-x0/x1 → data-px0/px1, data-y0/y1 → data-py0/py1), so that
// a test can read a chart back and check each mark against the JSON result
// and against where it is drawn.

const (
	chartW, chartH               = 760, 230
	padL, padR, padT, padB       = 66, 40, 12, 30
	plotLeft, plotRight          = padL, chartW - padR
	plotTop, plotBottom          = padT, chartH - padB
	coord                        = 'f' // coordinates: 2 decimals
	linePointsVisibleUpTo        = 180 // more points than this: dots too small to see, still there to hover
	cumulativeColor              = "#94a3b8"
	gridColor, axisColor, txtCol = "#eef1f4", "#c9d0d8", "#66727f"
)

// scale maps a domain onto pixels, linearly or by log10.
type scale struct {
	d0, d1 float64
	p0, p1 float64
	log    bool
}

func (s scale) at(v float64) float64 {
	d0, d1 := s.d0, s.d1
	if s.log {
		v = math.Log10(math.Max(v, d0))
		d0, d1 = math.Log10(d0), math.Log10(d1)
	}
	return s.p0 + (v-d0)/(d1-d0)*(s.p1-s.p0)
}

func (s scale) kind() string {
	if s.log {
		return "log"
	}
	return "linear"
}

func px(v float64) string  { return strconv.FormatFloat(v, coord, 2, 64) }
func num(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
func esc(s string) string  { return html.EscapeString(s) }

// niceLinear returns a top and a step for 0..max in about four steps.
func niceLinear(top float64) (float64, float64) {
	if top <= 0 {
		return 1, 0.25
	}
	raw := top / 4
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	step := 10 * p
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*p >= raw*(1-1e-9) {
			step = m * p
			break
		}
	}
	return math.Ceil(top/step*(1-1e-12)) * step, step
}

// niceLog returns decades around [lo, hi] (both > 0) and its ticks.
func niceLog(lo, hi float64) (float64, float64, []float64) {
	d0 := math.Pow(10, math.Floor(math.Log10(lo)))
	d1 := math.Pow(10, math.Ceil(math.Log10(hi)))
	if d1 <= d0 {
		d1 = d0 * 10
	}
	decades := math.Round(math.Log10(d1 / d0))
	var ticks []float64
	for d := d0; d <= d1*(1+1e-9); d *= 10 {
		ticks = append(ticks, d)
		if decades <= 3 && d < d1*(1-1e-9) {
			ticks = append(ticks, 2*d, 5*d)
		}
	}
	return d0, d1, ticks
}

// countLabel writes a count or rate briefly: 950, 12.5k, 3.2M.
func countLabel(v float64) string {
	switch a := math.Abs(v); {
	case a >= 1e9:
		return num(round3(v/1e9)) + "G"
	case a >= 1e6:
		return num(round3(v/1e6)) + "M"
	case a >= 1e4:
		return num(round3(v/1e3)) + "k"
	}
	return num(round3(v))
}

func round3(v float64) float64 {
	if v == 0 {
		return 0
	}
	p := math.Pow(10, 2-math.Floor(math.Log10(math.Abs(v))))
	return math.Round(v*p) / p
}

// msLabel writes milliseconds at a readable unit.
func msLabel(ms float64) string {
	switch {
	case ms >= 1000:
		return num(round3(ms/1000)) + " s"
	case ms >= 1:
		return num(round3(ms)) + " ms"
	case ms >= 0.001:
		return num(round3(ms*1000)) + " µs"
	}
	return num(round3(ms*1e6)) + " ns"
}

func bytesLabel(v float64) string {
	switch a := math.Abs(v); {
	case a >= 1e9:
		return num(round3(v/1e9)) + " GB"
	case a >= 1e6:
		return num(round3(v/1e6)) + " MB"
	case a >= 1e3:
		return num(round3(v/1e3)) + " kB"
	}
	return num(v) + " B"
}

// secondsLabel writes a time since the run's first second.
func secondsLabel(s float64) string {
	if s >= 120 && math.Mod(s, 60) == 0 {
		return num(s/60) + " min"
	}
	return num(s) + " s"
}

// tsPoint is one second's value.
type tsPoint struct {
	t int64
	v float64
}

// tsSeries is a named series over seconds: a line, or bars stacked in the
// order given.
type tsSeries struct {
	name, label, color string
	points             []tsPoint
}

// timeChart is a chart over the run's seconds.
type timeChart struct {
	id, title, note string
	t0, t1          int64 // the first second and one past the last
	log             bool  // a log10 value axis
	label           func(float64) string
	bars, lines     []tsSeries
	area            bool // the first line filled down to zero
}

func (c *timeChart) render(b *strings.Builder) {
	if c.label == nil {
		c.label = countLabel
	}
	x := scale{d0: 0, d1: float64(c.t1 - c.t0), p0: plotLeft, p1: plotRight}
	// The value axis: from the stacks' tops and the lines' values.
	top, lo := 0.0, math.Inf(1)
	stackTop := map[int64]float64{}
	for _, s := range c.bars {
		for _, p := range s.points {
			stackTop[p.t] += p.v
			top = max(top, stackTop[p.t])
		}
	}
	for _, s := range c.lines {
		for _, p := range s.points {
			top = max(top, p.v)
			if p.v > 0 {
				lo = min(lo, p.v)
			}
		}
	}
	y := scale{p0: plotBottom, p1: plotTop}
	var ticks []float64
	if c.log {
		if math.IsInf(lo, 1) {
			lo, top = 0.1, 1
		}
		y.log = true
		y.d0, y.d1, ticks = niceLog(lo, top)
	} else {
		var step float64
		y.d1, step = niceLinear(top)
		for v := 0.0; v <= y.d1*(1+1e-9); v += step {
			ticks = append(ticks, v)
		}
	}
	c.legend(b)
	fmt.Fprintf(b, `<svg class="chart" id="chart-%s" data-chart="%s" viewBox="0 0 %d %d" role="img" aria-label="%s" data-t0="%d" data-x0="%s" data-x1="%s" data-px0="%s" data-px1="%s" data-xscale="linear" data-y0="%s" data-y1="%s" data-py0="%s" data-py1="%s" data-yscale="%s">`,
		c.id, c.id, chartW, chartH, esc(c.title), c.t0, num(x.d0), num(x.d1), px(x.p0), px(x.p1), num(y.d0), num(y.d1), px(y.p0), px(y.p1), y.kind())
	for i, v := range ticks {
		py := y.at(v)
		stroke := gridColor
		if i == 0 {
			stroke = axisColor
		}
		fmt.Fprintf(b, `<line x1="%d" x2="%d" y1="%s" y2="%s" stroke="%s"/>`, plotLeft, plotRight, px(py), px(py), stroke)
		fmt.Fprintf(b, `<text class="ytick" x="%d" y="%s" text-anchor="end" data-v="%s">%s</text>`, plotLeft-6, px(py+3.5), num(v), esc(c.label(v)))
	}
	step := timeStep(x.d1)
	for s := 0.0; s <= x.d1+1e-9; s += step {
		fmt.Fprintf(b, `<text class="xtick" x="%s" y="%d" text-anchor="middle">%s</text>`, px(x.at(s)), chartH-10, secondsLabel(s))
	}
	if len(c.bars) == 0 && len(c.lines) == 0 || top == 0 && len(c.lines) == 0 {
		fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="middle" class="none">nothing in this run</text>`, (plotLeft+plotRight)/2, (plotTop+plotBottom)/2)
	}
	base := map[int64]float64{}
	for _, s := range c.bars {
		for _, p := range s.points {
			if p.v == 0 {
				continue
			}
			x0, x1 := x.at(float64(p.t-c.t0)), x.at(float64(p.t-c.t0+1))
			gap := min(1, (x1-x0)/4)
			y0, y1 := y.at(base[p.t]), y.at(base[p.t]+p.v)
			fmt.Fprintf(b, `<rect class="bar" data-series="%s" data-t="%d" data-v="%s" data-base="%s" x="%s" y="%s" width="%s" height="%s" fill="%s"><title>%s: %s in second %s</title></rect>`,
				s.name, p.t, num(p.v), num(base[p.t]), px(x0+gap), px(y1), px(x1-x0-2*gap), px(y0-y1), s.color,
				esc(s.label), esc(c.label(p.v)), secondsLabel(float64(p.t-c.t0)))
			base[p.t] += p.v
		}
	}
	for i, s := range c.lines {
		var d strings.Builder
		prev := int64(math.MinInt64)
		for _, p := range s.points {
			cmd := "L"
			if p.t != prev+1 {
				cmd = "M"
			}
			fmt.Fprintf(&d, "%s%s %s", cmd, px(x.at(float64(p.t-c.t0)+0.5)), px(y.at(p.v)))
			prev = p.t
		}
		if c.area && i == 0 && len(s.points) > 0 {
			first, last := s.points[0], s.points[len(s.points)-1]
			fmt.Fprintf(b, `<path class="area" d="%sL%s %sL%s %sZ" fill="%s" fill-opacity="0.12" stroke="none"/>`, d.String(),
				px(x.at(float64(last.t-c.t0)+0.5)), px(y.p0), px(x.at(float64(first.t-c.t0)+0.5)), px(y.p0), s.color)
		}
		fmt.Fprintf(b, `<path class="line" data-series="%s" d="%s" fill="none" stroke="%s" stroke-width="1.7" stroke-linejoin="round"/>`, s.name, d.String(), s.color)
		r, op := "2.2", "1"
		if len(s.points) > linePointsVisibleUpTo {
			r, op = "1.6", "0"
		}
		fmt.Fprintf(b, `<g class="pts" fill="%s" fill-opacity="%s">`, s.color, op)
		for _, p := range s.points {
			fmt.Fprintf(b, `<circle class="pt" data-series="%s" data-t="%d" data-v="%s" cx="%s" cy="%s" r="%s"><title>%s: %s in second %s</title></circle>`,
				s.name, p.t, num(p.v), px(x.at(float64(p.t-c.t0)+0.5)), px(y.at(p.v)), r,
				esc(s.label), esc(c.label(p.v)), secondsLabel(float64(p.t-c.t0)))
		}
		b.WriteString(`</g>`)
	}
	b.WriteString(`</svg>`)
}

func (c *timeChart) legend(b *strings.Builder) {
	b.WriteString(`<div class="legend">`)
	for _, s := range append(append([]tsSeries{}, c.lines...), c.bars...) {
		fmt.Fprintf(b, `<span><i style="background:%s"></i>%s</span>`, s.color, esc(s.label))
	}
	if c.note != "" {
		fmt.Fprintf(b, `<span class="note">%s</span>`, esc(c.note))
	}
	b.WriteString(`</div>`)
}

// timeStep picks a tick step for a span of seconds: at most about eight.
func timeStep(span float64) float64 {
	for _, s := range []float64{1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200} {
		if span/s <= 8 {
			return s
		}
	}
	return math.Ceil(span/8/3600) * 3600
}

// histChart draws a histogram's HDR buckets as they are (log10 latency
// across, counts up), the share of values at or below each bucket as a
// line on the right-hand scale, and the percentiles as marks.
type histChart struct {
	id, title string
	data      load.HistogramData
	pcts      map[string]float64 // the result's summary (ms)
	color     string
}

var pctMarks = []string{"p50", "p90", "p99", "p99.9", "max"}

func (c *histChart) render(b *strings.Builder) {
	var h load.Histogram
	h.Import(c.data)
	idx := make([]int, 0, len(c.data.Buckets))
	for i := range c.data.Buckets {
		idx = append(idx, i)
	}
	slices.Sort(idx)
	fmt.Fprintf(b, `<div class="legend"><span><i style="background:%s"></i>values per HDR bucket (%s in all)</span><span><i style="background:%s"></i>share at or below, right-hand scale</span></div>`,
		c.color, countLabel(float64(h.Count())), cumulativeColor)
	if len(idx) == 0 {
		fmt.Fprintf(b, `<svg class="chart" id="chart-%s" data-chart="%s" viewBox="0 0 %d %d"><text x="%d" y="%d" text-anchor="middle" class="none">nothing recorded</text></svg>`,
			c.id, c.id, chartW, chartH, (plotLeft+plotRight)/2, (plotTop+plotBottom)/2)
		return
	}
	loNs, _ := load.BucketBounds(idx[0])
	_, hiNs := load.BucketBounds(idx[len(idx)-1])
	d0, d1, ticks := niceLog(math.Max(float64(loNs), 1)/1e6, float64(hiNs+1)/1e6)
	x := scale{d0: d0, d1: d1, p0: plotLeft, p1: plotRight, log: true}
	var top uint64
	for _, i := range idx {
		top = max(top, c.data.Buckets[i])
	}
	y := scale{p0: plotBottom, p1: plotTop}
	var step float64
	y.d1, step = niceLinear(float64(top))
	fmt.Fprintf(b, `<svg class="chart" id="chart-%s" data-chart="%s" viewBox="0 0 %d %d" role="img" aria-label="%s" data-x0="%s" data-x1="%s" data-px0="%s" data-px1="%s" data-xscale="log" data-y0="%s" data-y1="%s" data-py0="%s" data-py1="%s" data-yscale="linear">`,
		c.id, c.id, chartW, chartH, esc(c.title), num(x.d0), num(x.d1), px(x.p0), px(x.p1), num(y.d0), num(y.d1), px(y.p0), px(y.p1))
	for v, k := 0.0, 0; v <= y.d1*(1+1e-9); v, k = v+step, k+1 {
		stroke := gridColor
		if k == 0 {
			stroke = axisColor
		}
		fmt.Fprintf(b, `<line x1="%d" x2="%d" y1="%s" y2="%s" stroke="%s"/>`, plotLeft, plotRight, px(y.at(v)), px(y.at(v)), stroke)
		fmt.Fprintf(b, `<text class="ytick" x="%d" y="%s" text-anchor="end" data-v="%s">%s</text>`, plotLeft-6, px(y.at(v)+3.5), num(v), countLabel(v))
		fmt.Fprintf(b, `<text x="%d" y="%s" text-anchor="start">%s%%</text>`, plotRight+4, px(y.at(v)+3.5), num(round3(v/y.d1*100)))
	}
	for _, t := range ticks {
		fmt.Fprintf(b, `<line x1="%s" x2="%s" y1="%d" y2="%d" stroke="%s"/>`, px(x.at(t)), px(x.at(t)), plotTop, plotBottom, gridColor)
		fmt.Fprintf(b, `<text class="xtick" x="%s" y="%d" text-anchor="middle">%s</text>`, px(x.at(t)), chartH-10, esc(msLabel(t)))
	}
	var cum strings.Builder
	var seen uint64
	n := h.Count()
	for k, i := range idx {
		cnt := c.data.Buckets[i]
		lo, hi := load.BucketBounds(i)
		x0, x1 := x.at(float64(lo)/1e6), x.at(float64(hi+1)/1e6)
		fmt.Fprintf(b, `<rect class="hbar" data-bucket="%d" data-lo="%d" data-hi="%d" data-v="%d" x="%s" y="%s" width="%s" height="%s" fill="%s"><title>%s – %s: %d</title></rect>`,
			i, lo, hi, cnt, px(x0), px(y.at(float64(cnt))), px(max(x1-x0, 0.6)), px(y.p0-y.at(float64(cnt))), c.color,
			esc(msLabel(float64(lo)/1e6)), esc(msLabel(float64(hi)/1e6)), cnt)
		seen += cnt
		if k == 0 {
			fmt.Fprintf(&cum, "M%s %s", px(x0), px(y.p0))
		}
		fmt.Fprintf(&cum, "L%s %s", px(x1), px(y.p0+(y.p1-y.p0)*float64(seen)/float64(n)))
	}
	fmt.Fprintf(b, `<path class="cumulative" d="%s" fill="none" stroke="%s" stroke-width="1.4"/>`, cum.String(), cumulativeColor)
	for k, name := range pctMarks {
		v, ok := c.pcts[name]
		if !ok {
			continue
		}
		xv := x.at(v)
		fmt.Fprintf(b, `<line class="pmark" data-p="%s" data-v="%s" x1="%s" x2="%s" y1="%d" y2="%d" stroke="#1f2933" stroke-dasharray="3 3"><title>%s %s</title></line>`,
			name, num(v), px(xv), px(xv), plotTop+12+10*k, plotBottom, name, esc(msLabel(v)))
		fmt.Fprintf(b, `<text class="plabel" x="%s" y="%d" text-anchor="middle">%s</text>`, px(xv), plotTop+9+10*k, name)
	}
	b.WriteString(`</svg>`)
}

// clock writes a Unix second as the time of day.
func clock(t int64) string { return time.Unix(t, 0).Format("15:04:05") }
