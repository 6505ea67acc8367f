package load

import (
	"math/bits"
	"time"
)

// Histogram records durations (nanoseconds) in log-linear buckets, as HDR
// histograms do: 128 linear steps per power of two, so any recorded value
// is reported within 1/128 (0.8%) of itself, from 1 ns to hours, in a
// fixed 46 KiB. Not safe for concurrent use: keep one per loop and Merge.
type Histogram struct {
	counts [subBuckets * 45]uint64
	n      uint64
	sum    float64
	min    int64
	max    int64
	win    window // since the last takeWindow: per-second extremes (series.go)
}

// window is what a histogram recorded since the last takeWindow: its
// extremes, which the per-second buckets (a difference of the counts)
// cannot give exactly.
type window struct {
	n        uint64
	min, max int64
}

const (
	subBits    = 7
	subBuckets = 1 << subBits
)

func bucket(v int64) int {
	if v < subBuckets {
		return int(max(v, 0))
	}
	e := bits.Len64(uint64(v)) - subBits // ≥ 1
	sub := int(v >> e)                   // in [64, 128)
	return subBuckets + (e-1)*subBuckets/2 + sub - subBuckets/2
}

// bucketValue is the highest value a bucket holds: percentiles never
// understate.
func bucketValue(i int) int64 {
	if i < subBuckets {
		return int64(i)
	}
	i -= subBuckets
	e := i/(subBuckets/2) + 1
	sub := int64(i%(subBuckets/2) + subBuckets/2)
	return (sub+1)<<e - 1
}

// Record adds one value.
func (h *Histogram) Record(d time.Duration) {
	v := int64(d)
	i := bucket(v)
	if i >= len(h.counts) {
		i = len(h.counts) - 1
	}
	h.counts[i]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	h.n++
	h.sum += float64(v)
	h.max = max(h.max, v)
	if h.win.n == 0 || v < h.win.min {
		h.win.min = v
	}
	if h.win.n == 0 || v > h.win.max {
		h.win.max = v
	}
	h.win.n++
}

// takeWindow returns the extremes recorded since the last call, and starts
// a new window.
func (h *Histogram) takeWindow() window {
	w := h.win
	h.win = window{}
	return w
}

// Merge adds o's values to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.n += o.n
	h.sum += o.sum
	h.max = max(h.max, o.max)
}

// Count returns the number of values recorded.
func (h *Histogram) Count() uint64 { return h.n }

// Max returns the largest value recorded.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) }

// Mean returns the average.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.n))
}

// Percentile returns the value at or below which p percent of the values
// fall (p in [0, 100]).
func (h *Histogram) Percentile(p float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(p / 100 * float64(h.n))
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return time.Duration(min(bucketValue(i), h.max))
		}
	}
	return time.Duration(h.max)
}

// Reset empties the histogram.
func (h *Histogram) Reset() { *h = Histogram{} }

// Export returns the non-empty buckets, for merging histograms across
// processes (Import adds them back).
func (h *Histogram) Export() HistogramData {
	d := HistogramData{Buckets: map[int]uint64{}, Min: h.min, Max: h.max, Sum: h.sum}
	for i, c := range h.counts {
		if c > 0 {
			d.Buckets[i] = c
		}
	}
	return d
}

// HistogramData is a histogram in transit (JSON).
type HistogramData struct {
	Buckets map[int]uint64 `json:"buckets"`
	Min     int64          `json:"min"`
	Max     int64          `json:"max"`
	Sum     float64        `json:"sum"`
}

// Import adds exported values to h.
func (h *Histogram) Import(d HistogramData) {
	var o Histogram
	for i, c := range d.Buckets {
		if i >= 0 && i < len(o.counts) {
			o.counts[i] = c
			o.n += c
		}
	}
	o.min, o.max, o.sum = d.Min, d.Max, d.Sum
	h.Merge(&o)
}

// BucketBounds returns the lowest and the highest value bucket i holds
// (the buckets of HistogramData), for drawing them.
func BucketBounds(i int) (lo, hi int64) {
	if i <= 0 {
		return 0, 0
	}
	return bucketValue(i-1) + 1, bucketValue(i)
}
