package load

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The seconds add up to the run: connects to the opened connections,
// messages to what the scenario counted, the seconds' latency buckets to
// the histogram Stop returns (bucket by bucket, with its extremes), and
// the keys are consecutive wall-clock seconds.
func TestSeriesAddsUpToTheRun(t *testing.T) {
	addr := startWSD(t)
	sc := &Echo{Size: 64, Rate: 200, Window: 4}
	e, err := New(Config{Target: addr, Path: "/echo"}, sc)
	require.NoError(t, err)
	rec := e.RecordSeries()
	begin := time.Now().Unix()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(t, e.Dial(ctx, 0, 20, 40)) // a ramp over half a second
	// Half a second into a third wall-clock second: the sampler has closed
	// the second one (Stop right at a boundary would take the second the
	// sampler is about to close as the last).
	for time.Now().Before(time.Unix(begin+2, 5e8)) {
		time.Sleep(20 * time.Millisecond)
	}
	sc.Stop()
	for e.cl.Stats().MessagesIn < sc.Stats().Sent { // the last echoes
		time.Sleep(5 * time.Millisecond)
	}
	seconds, connect, handshake, lat := rec.Stop()
	e.Close(5 * time.Second)

	require.GreaterOrEqual(t, seconds[len(seconds)-1].T, begin+2, "into a third second: %+v", seconds)
	var connects, msgsIn, msgsOut, n uint64
	var sum Histogram
	for i, s := range seconds {
		if i > 0 { // consecutive, or a late sample's span covers the gap
			assert.Equal(t, seconds[i-1].T+max(seconds[i-1].Span, 1), s.T, "second %d follows %d", i, i-1)
		}
		connects += uint64(s.Connects)
		msgsIn += uint64(s.MsgsIn)
		msgsOut += uint64(s.MsgsOut)
		assert.Empty(t, s.Failures)
		if s.Latency != nil {
			sum.Import(*s.Latency)
			var h Histogram
			h.Import(*s.Latency)
			n += h.Count()
			assert.Equal(t, time.Duration(s.Latency.Max), h.Percentile(100), "the second's maximum tops its buckets")
			assert.LessOrEqual(t, s.Latency.Min, s.Latency.Max)
		}
	}
	assert.Equal(t, seconds[0].T, begin, "the first second is the one the recorder started in")
	assert.Equal(t, uint64(20), connects)
	assert.Equal(t, uint64(20), connect.Count())
	assert.Equal(t, uint64(20), handshake.Count())
	assert.Equal(t, int64(20), seconds[len(seconds)-1].Open)
	st := sc.Stats()
	assert.Equal(t, uint64(st.Sent), msgsOut)
	assert.Equal(t, uint64(st.Received), msgsIn)
	assert.Equal(t, uint64(st.Received), n)
	assert.Equal(t, lat.Count(), n, "the seconds' latencies are the run's")
	assert.Equal(t, lat.counts, sum.counts, "bucket by bucket")
	assert.Equal(t, lat.Max(), sum.Max())
	assert.Equal(t, lat.min, sum.min)
	assert.Greater(t, len(seconds[1].Latency.Buckets), 1, "a second of echoes at 200/s on 20 connections")
}

// Failures are counted in the second they happened, by cause.
func TestSeriesCountsFailuresByCause(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	refused := netip.MustParseAddrPort(l.Addr().String())
	l.Close()
	e, err := New(Config{Target: refused}, Hold{})
	require.NoError(t, err)
	rec := e.RecordSeries()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, e.Dial(ctx, 0, 7, 0))
	seconds, _, _, lat := rec.Stop()
	e.Close(time.Second)
	var failed int64
	for _, s := range seconds {
		failed += s.Failures["refused"]
		assert.Len(t, s.Failures, map[bool]int{true: 1, false: 0}[s.Failures["refused"] > 0], "refusals only: %v", s.Failures)
		assert.Nil(t, s.Latency)
	}
	assert.Equal(t, int64(7), failed)
	assert.Zero(t, lat.Count())
}

// The series costs the message path nothing: echoes at full speed with the
// recorder sampling allocate nothing (a sample a second allocates a few
// maps; spread over 100 runs of 20 ms of echoes that rounds to zero, while
// one allocation per message would be thousands a run).
func TestSeriesEchoAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates on its own; make test runs the allocation tests without it")
	}
	addr := startWSD(t)
	sc := &Echo{Size: 64, Window: 4}
	e, err := New(Config{Target: addr, Path: "/echo"}, sc)
	require.NoError(t, err)
	rec := e.RecordSeries()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(t, e.Dial(ctx, 0, 20, 0))
	time.Sleep(200 * time.Millisecond) // buffers and pools warm
	before := sc.Stats().Received
	allocs := testing.AllocsPerRun(100, func() { time.Sleep(20 * time.Millisecond) })
	echoed := sc.Stats().Received - before
	sc.Stop()
	rec.Stop()
	e.Close(5 * time.Second)
	assert.Greater(t, echoed, int64(10000), "echoes ran while measured")
	assert.Zero(t, allocs, "allocations per 20 ms of echoes (%d echoes in all)", echoed)
}

// Recording keeps the window's extremes without allocating.
func TestHistogramRecordAllocatesNothing(t *testing.T) {
	var h Histogram
	v := time.Duration(0)
	assert.Zero(t, testing.AllocsPerRun(1000, func() { v += 977; h.Record(v) }))
	w := h.takeWindow()
	assert.Equal(t, int64(977), w.min)
	assert.Equal(t, int64(v), w.max)
	assert.Equal(t, uint64(1001), w.n)
	assert.Zero(t, h.takeWindow().n, "a new window")
}
