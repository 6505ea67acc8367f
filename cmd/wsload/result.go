package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/wsd-dev/wsd/load"
)

// result is what a run measured. Histograms travel whole so that -procs
// can merge workers exactly; the *Ms maps are their summaries.
type result struct {
	Scenario      string             `json:"scenario"`
	Connections   int                `json:"connections"`
	Procs         int                `json:"procs"`
	ConnectPhase  float64            `json:"connect_phase_s"`
	Elapsed       float64            `json:"elapsed_s"`
	Stats         load.Stats         `json:"stats"`
	ConnectHist   load.HistogramData `json:"connect_hist"`
	TLSHist       load.HistogramData `json:"tls_hist"`
	HandshakeHist load.HistogramData `json:"handshake_hist"`
	ConnectMs     map[string]float64 `json:"connect_ms"`
	TLSMs         map[string]float64 `json:"tls_ms,omitempty"`
	HandshakeMs   map[string]float64 `json:"handshake_ms"`
	RSSBase       int64              `json:"rss_base_bytes"`
	RSSHeld       int64              `json:"rss_held_bytes"` // once the connections were open
	HeldConns     int64              `json:"held_conns"`     // open at that moment
	BytesPerConn  float64            `json:"rss_bytes_per_conn"`
	// Extensions counts the connections that opened by the server's
	// Sec-WebSocket-Extensions answer ("none": answered without one).
	Extensions       map[string]int64 `json:"extensions"`
	Wire             wireResult       `json:"wire"`
	Echo             *echoResult      `json:"echo,omitempty"`
	Push             *pushResult      `json:"push,omitempty"`
	ThresholdsFailed []string         `json:"thresholds_failed,omitempty"`
	// Series is the run second by second (series.go); Server the
	// handshake -report probed (report_probe.go).
	Series []second      `json:"series"`
	Server *serverAnswer `json:"server,omitempty"`
}

// wireResult is the bytes on the wire beside the payloads they carried,
// each way: frames are every byte after the handshakes' heads (TCP
// payload, as compressed), payloads those of the data messages (received
// ones inflated). The ratio is frames ÷ payload.
type wireResult struct {
	FramesOut  int64   `json:"wire_bytes_out"`
	PayloadOut int64   `json:"payload_bytes_out"`
	RatioOut   float64 `json:"wire_to_payload_out"`
	FramesIn   int64   `json:"wire_bytes_in"`
	PayloadIn  int64   `json:"payload_bytes_in"`
	RatioIn    float64 `json:"wire_to_payload_in"`
	HeadsOut   int64   `json:"handshake_bytes_out"`
	HeadsIn    int64   `json:"handshake_bytes_in"`
}

func wireOf(w load.Wire) wireResult {
	return wireResult{FramesOut: w.FramesOut, PayloadOut: w.PayloadOut, FramesIn: w.FramesIn, PayloadIn: w.PayloadIn,
		HeadsOut: w.HeadsOut, HeadsIn: w.HeadsIn}
}

type echoResult struct {
	Sent          int64              `json:"sent"`
	Received      int64              `json:"received"`
	Bytes         int64              `json:"bytes"`
	Mismatched    int64              `json:"mismatched"`
	FirstMismatch string             `json:"first_mismatch,omitempty"`
	Hist          load.HistogramData `json:"latency_hist"`
	MsgsPerSec    float64            `json:"msgs_per_s"`
	MBPerSec      float64            `json:"mb_per_s"`
	LatencyMs     map[string]float64 `json:"latency_ms"`
}

type pushResult struct {
	load.PushResult
	Published publishStats                  `json:"published"`
	Summary   map[string]map[string]float64 `json:"latency_ms_by_kind"`
}

// summarize fills the derived figures from the raw ones.
func (r *result) summarize() {
	r.ConnectMs, r.HandshakeMs = pcts(r.ConnectHist), pcts(r.HandshakeHist)
	r.summarizeSeries()
	if tls := pcts(r.TLSHist); tls["count"] > 0 {
		r.TLSMs = tls
	}
	if r.HeldConns > 0 && r.RSSHeld > r.RSSBase {
		r.BytesPerConn = float64(r.RSSHeld-r.RSSBase) / float64(r.HeldConns)
	}
	ratio := func(a, b int64) float64 {
		if b == 0 {
			return 0
		}
		return float64(a) / float64(b)
	}
	r.Wire.RatioOut, r.Wire.RatioIn = ratio(r.Wire.FramesOut, r.Wire.PayloadOut), ratio(r.Wire.FramesIn, r.Wire.PayloadIn)
	if e := r.Echo; e != nil && r.Elapsed > 0 {
		e.MsgsPerSec = float64(e.Received) / r.Elapsed
		e.MBPerSec = float64(e.Bytes) / r.Elapsed / 1e6
		e.LatencyMs = pcts(e.Hist)
	}
	if p := r.Push; p != nil {
		p.Summary = map[string]map[string]float64{}
		for k, d := range p.Kinds {
			p.Summary[k] = pcts(d)
		}
	}
}

func pcts(d load.HistogramData) map[string]float64 {
	var h load.Histogram
	h.Import(d)
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	return map[string]float64{
		"p50": ms(h.Percentile(50)), "p90": ms(h.Percentile(90)), "p99": ms(h.Percentile(99)),
		"p99.9": ms(h.Percentile(99.9)), "max": ms(h.Max()), "count": float64(h.Count()),
	}
}

// latencyP99 is the p99 the -max-p99 threshold applies to: echo round
// trips, or push deliveries of every kind.
func (r *result) latencyP99() (time.Duration, bool) {
	var h load.Histogram
	switch {
	case r.Echo != nil:
		h.Import(r.Echo.Hist)
	case r.Push != nil:
		for _, d := range r.Push.Kinds {
			h.Import(d)
		}
	}
	if h.Count() == 0 {
		return 0, false
	}
	return h.Percentile(99), true
}

func (r *result) checkThresholds(o *options) {
	if o.maxP99 > 0 {
		if p99, ok := r.latencyP99(); !ok {
			r.ThresholdsFailed = append(r.ThresholdsFailed, "max-p99: no latency was measured")
		} else if p99 > o.maxP99 {
			r.ThresholdsFailed = append(r.ThresholdsFailed, fmt.Sprintf("max-p99: p99 %v > %v", p99.Round(time.Microsecond), o.maxP99))
		}
	}
	if o.minSuccess > 0 {
		attempted := r.Stats.Opened + r.Stats.Failed() - r.failedAfterOpen()
		if attempted > 0 {
			if got := float64(r.Stats.Opened) / float64(attempted); got < o.minSuccess {
				r.ThresholdsFailed = append(r.ThresholdsFailed, fmt.Sprintf("min-success: %.4f of connections opened < %.4f", got, o.minSuccess))
			}
		}
	}
}

// failedAfterOpen counts failures of connections that had opened.
func (r *result) failedAfterOpen() int64 {
	return r.Stats.Failures["protocol_error"] + r.Stats.Failures["closed"]
}

// merge adds a worker's result to r.
func (r *result) merge(w result) {
	r.Procs++
	r.Connections += w.Connections
	r.ConnectPhase = max(r.ConnectPhase, w.ConnectPhase)
	r.Elapsed = max(r.Elapsed, w.Elapsed)
	r.Stats.Open += w.Stats.Open
	r.Stats.Opened += w.Stats.Opened
	r.Stats.Closed += w.Stats.Closed
	r.Stats.Pending += w.Stats.Pending
	if r.Stats.Failures == nil {
		r.Stats.Failures, r.Stats.Errors = map[string]int64{}, map[string]string{}
	}
	for k, v := range w.Stats.Failures {
		r.Stats.Failures[k] += v
	}
	for k, v := range w.Stats.Errors {
		r.Stats.Errors[k] = v
	}
	r.ConnectHist = mergeHist(r.ConnectHist, w.ConnectHist)
	r.TLSHist = mergeHist(r.TLSHist, w.TLSHist)
	r.HandshakeHist = mergeHist(r.HandshakeHist, w.HandshakeHist)
	r.Series = mergeSeries(r.Series, w.Series)
	if r.Extensions == nil {
		r.Extensions = map[string]int64{}
	}
	for k, v := range w.Extensions {
		r.Extensions[k] += v
	}
	r.Wire.FramesOut += w.Wire.FramesOut
	r.Wire.PayloadOut += w.Wire.PayloadOut
	r.Wire.FramesIn += w.Wire.FramesIn
	r.Wire.PayloadIn += w.Wire.PayloadIn
	r.Wire.HeadsOut += w.Wire.HeadsOut
	r.Wire.HeadsIn += w.Wire.HeadsIn
	r.RSSBase += w.RSSBase
	r.RSSHeld += w.RSSHeld
	r.HeldConns += w.HeldConns
	if w.Echo != nil {
		if r.Echo == nil {
			r.Echo = &echoResult{}
		}
		e := r.Echo
		e.Sent += w.Echo.Sent
		e.Received += w.Echo.Received
		e.Bytes += w.Echo.Bytes
		e.Mismatched += w.Echo.Mismatched
		if e.FirstMismatch == "" {
			e.FirstMismatch = w.Echo.FirstMismatch
		}
		e.Hist = mergeHist(e.Hist, w.Echo.Hist)
	}
	if w.Push != nil {
		if r.Push == nil {
			r.Push = &pushResult{PushResult: load.PushResult{Kinds: map[string]load.HistogramData{}, LastByID: map[int64]int64{}}}
		}
		p := r.Push
		p.Received += w.Push.Received
		p.Stamped += w.Push.Stamped
		p.Published.OK += w.Push.Published.OK
		p.Published.Failed += w.Push.Published.Failed
		for k, d := range w.Push.Kinds {
			p.Kinds[k] = mergeHist(p.Kinds[k], d)
		}
		for id, ns := range w.Push.LastByID {
			p.LastByID[id] = max(p.LastByID[id], ns)
		}
	}
}

func mergeHist(a, b load.HistogramData) load.HistogramData {
	var h load.Histogram
	h.Import(a)
	h.Import(b)
	return h.Export()
}

func (r result) writeJSON(w io.Writer) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(r)
}

func (r result) print(w io.Writer) {
	fmt.Fprintf(w, "connections  %d opened, %d closed, %d failed %v (connect phase %.2fs, %d process(es))\n",
		r.Stats.Opened, r.Stats.Closed, r.Stats.Failed(), r.Stats.Failures, r.ConnectPhase, r.Procs)
	row := func(name string, m map[string]float64) {
		fmt.Fprintf(w, "%-12s p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f ms (n=%.0f)\n", name, m["p50"], m["p90"], m["p99"], m["p99.9"], m["max"], m["count"])
	}
	row("connect", r.ConnectMs)
	if r.TLSMs != nil {
		row("tls", r.TLSMs)
	}
	row("handshake", r.HandshakeMs)
	exts := make([]string, 0, len(r.Extensions))
	for k := range r.Extensions {
		exts = append(exts, k)
	}
	sort.Strings(exts)
	for i, k := range exts {
		label := ""
		if i == 0 {
			label = "extensions"
		}
		fmt.Fprintf(w, "%-12s %s: %d connection(s)\n", label, k, r.Extensions[k])
	}
	ww := r.Wire
	fmt.Fprintf(w, "wire         out %d B of frames for %d B of payload (%.3f), in %d B for %d B (%.3f); handshakes %d B out, %d B in\n",
		ww.FramesOut, ww.PayloadOut, ww.RatioOut, ww.FramesIn, ww.PayloadIn, ww.RatioIn, ww.HeadsOut, ww.HeadsIn)
	if r.BytesPerConn > 0 {
		fmt.Fprintf(w, "memory       %.1f MB RSS with the connections open: %.0f bytes per connection\n", float64(r.RSSHeld)/1e6, r.BytesPerConn)
	}
	if e := r.Echo; e != nil {
		fmt.Fprintf(w, "echo         %d sent, %d received, %d mismatched in %.2fs: %.0f msgs/s, %.2f MB/s\n", e.Sent, e.Received, e.Mismatched, r.Elapsed, e.MsgsPerSec, e.MBPerSec)
		row("latency", e.LatencyMs)
		if e.FirstMismatch != "" {
			fmt.Fprintf(w, "first mismatch: %s\n", e.FirstMismatch)
		}
	}
	if p := r.Push; p != nil {
		fmt.Fprintf(w, "push         %d published (%d failed), %d received, %d stamped\n", p.Published.OK, p.Published.Failed, p.Received, p.Stamped)
		kinds := make([]string, 0, len(p.Summary))
		for k := range p.Summary {
			kinds = append(kinds, k)
		}
		sort.Strings(kinds)
		for _, k := range kinds {
			row("latency "+k, p.Summary[k])
		}
	}
	if r.Scenario == "churn" {
		fmt.Fprintf(w, "churn        %d connect/close cycles in %.2fs: %.0f per second\n", r.Stats.Closed, r.Elapsed, float64(r.Stats.Closed)/max(r.Elapsed, 1e-9))
	}
	for k, v := range r.Stats.Errors {
		fmt.Fprintf(w, "last %s error: %s\n", k, v)
	}
	for _, t := range r.ThresholdsFailed {
		fmt.Fprintf(w, "THRESHOLD FAILED: %s\n", t)
	}
}
