package wsconn

import (
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsd-dev/wsd/frame"
)

// The ring: a send is recorded once, by the last of its loops, with the
// time from begin to that loop's end; a send whose slot is busy goes
// untimed without disturbing the one in the slot.
func TestFanoutRing(t *testing.T) {
	e := &engine{start: time.Now()}
	var f fanout
	f.begin(e.since(), 2) // send 0
	f.end(0, e)
	assert.Zero(t, f.count.Load(), "one loop of two has finished")
	f.end(0, e)
	assert.Equal(t, int64(1), f.count.Load())

	// 64 sends in flight on the second loop: send 64 finds send 0's slot
	// free again (both loops finished it) but send 65 finds send 1's busy.
	for range fanoutSlots {
		f.begin(e.since(), 2) // sends 1..64
	}
	for seq := uint64(1); seq <= fanoutSlots; seq++ {
		f.end(seq, e) // the first loop finishes them all
	}
	f.begin(e.since(), 2) // send 65: slot 1 still has send 1 (one loop left)
	assert.Equal(t, uint64(2), f.slots[1].seq.Load(), "send 65 must not take send 1's slot")
	f.end(65, e)
	for seq := uint64(1); seq <= fanoutSlots; seq++ {
		f.end(seq, e) // the second loop
	}
	assert.Equal(t, int64(1+fanoutSlots), f.count.Load(), "sends 0..64 timed")
	f.end(65, e)
	assert.Equal(t, int64(1+fanoutSlots), f.count.Load(), "send 65 untimed")
}

// Times land in the bucket of their first bound at or above them.
func TestFanoutBuckets(t *testing.T) {
	g := &Group{}
	for _, d := range []time.Duration{50 * time.Microsecond, 900 * time.Microsecond, 3 * time.Millisecond, time.Minute} {
		e := &engine{start: time.Now()}
		g.fan.begin(-d, 1) // made d before the engine's clock started
		g.fan.end(g.fan.next-1, e)
	}
	st := g.Fanout()
	assert.Equal(t, int64(4), st.Count)
	b := func(d time.Duration) int64 {
		for i, bound := range FanoutBuckets {
			if bound == d {
				return st.Buckets[i]
			}
		}
		t.Fatalf("no bucket %v", d)
		return 0
	}
	assert.Equal(t, int64(1), b(100*time.Microsecond), "50µs")
	assert.Equal(t, int64(2), b(time.Millisecond), "50µs, 900µs")
	assert.Equal(t, int64(2), b(2500*time.Microsecond))
	assert.Equal(t, int64(3), b(5*time.Millisecond), "…, 3ms")
	assert.Equal(t, int64(3), b(5*time.Second), "a minute is above every bound")
	assert.GreaterOrEqual(t, st.Sum, time.Minute)
	assert.GreaterOrEqual(t, st.Last, time.Minute)
}

// On a real server the fan-out time runs until the last loop is done:
// with one loop held up, the send is not recorded when the other loop's
// members have the frame, and its time covers the hold.
func TestFanoutWaitsForTheLastLoop(t *testing.T) {
	s, g, _ := startGroup(t, func(o *Options) { o.Loops = 2 })
	cs := joinGroup(t, s, 6)
	var perLoop [2]int64
	for i, lc := range s.ConnsByLoop() {
		perLoop[i] = int64(lc.Open)
	}
	require.NotZero(t, perLoop[0])
	require.NotZero(t, perLoop[1])

	release := make(chan struct{})
	held := make(chan struct{})
	s.loops[1].pl.Post(func() { close(held); <-release })
	<-held
	start := time.Now()
	g.Send(Prepare(frame.OpText, []byte("x")))
	for g.Sent() < perLoop[0] { // loop 0's members have it
		runtime.Gosched()
	}
	assert.Zero(t, g.Fanout().Count, "recorded before loop 1 finished")
	const hold = 30 * time.Millisecond
	for time.Since(start) < hold {
		runtime.Gosched()
	}
	close(release)
	for g.Fanout().Count == 0 {
		runtime.Gosched()
	}
	st := g.Fanout()
	assert.GreaterOrEqual(t, st.Last, hold)
	assert.Equal(t, st.Last, st.Sum)
	assert.Equal(t, int64(len(cs)), g.Sent())

	// More sends: one record each.
	for range 20 {
		g.Send(Prepare(frame.OpText, []byte("y")))
	}
	for g.Sent() < int64(21*len(cs)) {
		runtime.Gosched()
	}
	require.Eventually(t, func() bool { return g.Fanout().Count == 21 }, 3*time.Second, time.Millisecond)
	st = g.Fanout()
	assert.Equal(t, int64(21), st.Buckets[len(FanoutBuckets)-1])
}

// The cost of timing one send on two loops: begin, then each loop's end
// (the second records). It is paid once per send, not per member.
func BenchmarkFanoutPerSend(b *testing.B) {
	e := &engine{start: time.Now()}
	var f fanout
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		f.begin(e.since(), 2)
		f.end(uint64(i), e)
		f.end(uint64(i), e)
	}
}
