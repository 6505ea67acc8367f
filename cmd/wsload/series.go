package main

import (
	"maps"
	"slices"

	"github.com/wsd-dev/wsd/load"
)

// second is one wall-clock second of the run as the result carries it: the
// engine's counts (summed over -procs workers second by second) and the
// percentiles of its latencies, made from its merged buckets.
type second struct {
	load.Second
	LatencyMs map[string]float64 `json:"latency_ms,omitempty"`
}

func seriesOf(seconds []load.Second) []second {
	out := make([]second, len(seconds))
	for i, s := range seconds {
		out[i].Second = s
	}
	return out
}

// mergeSeries adds two processes' seconds by their wall-clock second:
// counts and the open connections are summed, failures cause by cause,
// latencies bucket by bucket (so percentiles of the sum are exact).
func mergeSeries(a, b []second) []second {
	by := map[int64]*second{}
	for _, list := range [][]second{a, b} {
		for _, s := range list {
			m := by[s.T]
			if m == nil {
				m = &second{Second: load.Second{T: s.T}}
				by[s.T] = m
			}
			m.Span = max(m.Span, s.Span)
			m.Open += s.Open
			m.Connects += s.Connects
			m.Closes += s.Closes
			m.MsgsIn += s.MsgsIn
			m.MsgsOut += s.MsgsOut
			m.BytesIn += s.BytesIn
			m.BytesOut += s.BytesOut
			for k, v := range s.Failures {
				if m.Failures == nil {
					m.Failures = map[string]int64{}
				}
				m.Failures[k] += v
			}
			if s.Latency != nil {
				var d load.HistogramData
				if m.Latency != nil {
					d = *m.Latency
				}
				d = mergeHist(d, *s.Latency)
				m.Latency = &d
			}
		}
	}
	out := make([]second, 0, len(by))
	for _, t := range slices.Sorted(maps.Keys(by)) {
		out = append(out, *by[t])
	}
	return out
}

// summarizeSeries fills each second's latency percentiles.
func (r *result) summarizeSeries() {
	for i := range r.Series {
		s := &r.Series[i]
		s.LatencyMs = nil
		if s.Latency != nil {
			s.LatencyMs = pcts(*s.Latency)
		}
	}
}
