package load

import (
	"sync"
	"time"
)

// Second is what one process saw in one wall-clock second of a run: the
// second starting at T (Unix seconds). Seconds key on the wall clock so
// that the series of several processes on one machine add up second by
// second (wsload -procs); the first and the last second of a run are
// partial.
type Second struct {
	T int64 `json:"t"`
	// Span is the seconds the counts cover when the sampler was late by a
	// second or more (a stalled machine); 0 means one second or less.
	Span     int64            `json:"span,omitempty"`
	Open     int64            `json:"open"`     // connections open when the second was sampled
	Connects int64            `json:"connects"` // handshakes that succeeded in it
	Closes   int64            `json:"closes"`   // opened connections that ended in it
	Failures map[string]int64 `json:"failures,omitempty"`
	MsgsIn   int64            `json:"msgs_in"`  // data messages received
	MsgsOut  int64            `json:"msgs_out"` // data messages sent
	BytesIn  int64            `json:"bytes_in"` // TCP payload read (heads and frames)
	BytesOut int64            `json:"bytes_out"`
	// Latency holds the scenario latencies (echo round trips, push
	// deliveries of every kind) recorded in the second: the difference of
	// the loops' histograms, bucket by bucket, with the second's own
	// minimum and maximum. Nil when none were recorded.
	Latency *HistogramData `json:"latency,omitempty"`
}

// SeriesRecorder samples an engine once a wall-clock second into Seconds:
// one goroutine per engine reads counters the engine and its connection
// core keep anyway and the loops' latency histograms (on their loops), so
// nothing is added per message but the histograms' window extremes.
type SeriesRecorder struct {
	e    *Engine
	stop chan struct{}
	done chan struct{}

	from      int64 // the Unix second being counted
	last      seriesCounters
	prev, cur *Histogram // the loops' latencies merged: at the last sample, now
	seconds   []Second
}

type seriesCounters struct {
	opened, closed                     int64
	failures                           [numCauses]int64
	msgsIn, msgsOut, bytesIn, bytesOut int64
}

// RecordSeries starts sampling; Stop ends it. Counts before the call are
// not in the series.
func (e *Engine) RecordSeries() *SeriesRecorder {
	r := &SeriesRecorder{e: e, stop: make(chan struct{}), done: make(chan struct{}),
		prev: &Histogram{}, cur: &Histogram{}}
	r.from = time.Now().Unix()
	r.last = r.counters()
	r.collect(r.prev, nil, nil)
	go r.run()
	return r
}

func (r *SeriesRecorder) run() {
	defer close(r.done)
	t := time.NewTimer(time.Until(time.Unix(r.from+1, 0)))
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
		}
		if now := time.Now().Unix(); now > r.from {
			r.sample(now, nil, nil)
		}
		t.Reset(time.Until(time.Unix(r.from+1, 0)))
	}
}

// Stop takes the last (partial) second and returns the series with the
// engine's histograms as that last sample saw them: the latency histogram
// is exactly the sum of the seconds'. Call it before the engine's Close
// (it runs on the loops).
func (r *SeriesRecorder) Stop() (seconds []Second, connect, handshake, latency Histogram) {
	close(r.stop)
	<-r.done
	r.sample(max(time.Now().Unix(), r.from), &connect, &handshake)
	return r.seconds, connect, handshake, *r.prev
}

func (r *SeriesRecorder) counters() seriesCounters {
	e := r.e
	st := e.cl.Stats()
	c := seriesCounters{opened: e.opened.Load(), closed: e.closed.Load(),
		msgsIn: st.MessagesIn, msgsOut: st.MessagesOut, bytesIn: st.BytesIn, bytesOut: st.BytesOut}
	for i := range c.failures {
		c.failures[i] = e.failures[i].Load()
	}
	return c
}

// collect merges the loops' latency histograms into lat, and their
// connect and handshake histograms into the others when given, and
// returns the latencies' extremes since the last collect.
func (r *SeriesRecorder) collect(lat, connect, handshake *Histogram) window {
	var mu sync.Mutex
	var w window
	lat.Reset()
	r.e.OnLoops(func(l *Loop) {
		lw := l.Hist.takeWindow()
		mu.Lock()
		defer mu.Unlock()
		lat.Merge(&l.Hist)
		if connect != nil {
			connect.Merge(&l.ConnectHist)
			handshake.Merge(&l.HandshakeHist)
		}
		if lw.n == 0 {
			return
		}
		if w.n == 0 || lw.min < w.min {
			w.min = lw.min
		}
		if w.n == 0 || lw.max > w.max {
			w.max = lw.max
		}
		w.n += lw.n
	})
	return w
}

// sample closes the second being counted at now.
func (r *SeriesRecorder) sample(now int64, connect, handshake *Histogram) {
	open := r.e.open.Load() // before the counters: no second shows more open than its connects made
	c := r.counters()
	w := r.collect(r.cur, connect, handshake)
	s := Second{T: r.from, Open: open,
		Connects: c.opened - r.last.opened, Closes: c.closed - r.last.closed,
		MsgsIn: c.msgsIn - r.last.msgsIn, MsgsOut: c.msgsOut - r.last.msgsOut,
		BytesIn: c.bytesIn - r.last.bytesIn, BytesOut: c.bytesOut - r.last.bytesOut}
	if now-r.from > 1 {
		s.Span = now - r.from
	}
	for i := range c.failures {
		if d := c.failures[i] - r.last.failures[i]; d > 0 {
			if s.Failures == nil {
				s.Failures = map[string]int64{}
			}
			s.Failures[Cause(i).String()] = d
		}
	}
	if r.cur.n > r.prev.n {
		d := r.cur.since(r.prev)
		d.Min, d.Max = w.min, w.max
		s.Latency = &d
	}
	r.seconds = append(r.seconds, s)
	r.prev, r.cur = r.cur, r.prev
	r.last = c
	r.from = now
}

// since returns the values h holds beyond prev, an earlier state of the
// same histogram: the counts bucket by bucket and the sum (the extremes
// are not known from the counts).
func (h *Histogram) since(prev *Histogram) HistogramData {
	d := HistogramData{Buckets: map[int]uint64{}, Sum: h.sum - prev.sum}
	for i, c := range h.counts {
		if c > prev.counts[i] {
			d.Buckets[i] = c - prev.counts[i]
		}
	}
	return d
}
