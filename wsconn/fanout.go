package wsconn

import (
	"sync/atomic"
	"time"
)

// A group send's fan-out time: from Send to the last loop having handed
// the frame to its last member (written to the socket or queued). It is
// measured once per send, never per member: Send notes the start in a
// slot of a small ring, each loop counts down the slot as it finishes the
// send, and the loop that brings it to zero records the time. Loops finish
// sends in the order Send made them, so a loop's count of finished sends
// names the slot; nothing is allocated.

// FanoutBuckets are the upper bounds of the fan-out time histogram.
var FanoutBuckets = [...]time.Duration{
	100 * time.Microsecond, 250 * time.Microsecond, 500 * time.Microsecond,
	time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond,
	10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond,
	time.Second, 2500 * time.Millisecond, 5 * time.Second,
}

// fanoutSlots is how many sends can be timed at once. A send made while
// its slot still times one 64 sends older goes untimed: the histogram
// samples sends under such a backlog rather than grow.
const fanoutSlots = 64

// FanoutStats summarise a group's timed sends.
type FanoutStats struct {
	Count   int64                     // sends timed
	Sum     time.Duration             // their fan-out times added up
	Last    time.Duration             // the latest one's
	Buckets [len(FanoutBuckets)]int64 // sends that took at most FanoutBuckets[i] (cumulative)
}

type fanout struct {
	next    uint64 // sends made; under Group.mu
	slots   [fanoutSlots]fanoutSlot
	count   atomic.Int64
	sum     atomic.Int64
	last    atomic.Int64
	buckets [len(FanoutBuckets) + 1]atomic.Int64 // not cumulative; the last is above every bound
}

type fanoutSlot struct {
	seq   atomic.Uint64 // the send timed here, plus one (0: none yet)
	start atomic.Int64  // when it was made, in the engine's nanoseconds
	left  atomic.Int32  // loops yet to finish it
}

// begin notes a send made now on loops loops. The caller holds Group.mu,
// so sends are numbered in the order every loop will finish them.
func (f *fanout) begin(now time.Duration, loops int) {
	seq := f.next
	f.next++
	s := &f.slots[seq%fanoutSlots]
	if s.left.Load() != 0 {
		return // the slot still times an older send
	}
	s.start.Store(int64(now))
	s.left.Store(int32(loops))
	s.seq.Store(seq + 1)
}

// end is called by a loop as it finishes send seq (its count of finished
// sends); the last loop records the time.
func (f *fanout) end(seq uint64, e *engine) {
	s := &f.slots[seq%fanoutSlots]
	if s.seq.Load() != seq+1 {
		return // untimed
	}
	// Read the start before counting down: once left is zero, Send may
	// reuse the slot.
	start := s.start.Load()
	if s.left.Add(-1) != 0 {
		return
	}
	d := e.since() - time.Duration(start)
	f.sum.Add(int64(d))
	f.last.Store(int64(d))
	i := 0
	for i < len(FanoutBuckets) && d > FanoutBuckets[i] {
		i++
	}
	f.buckets[i].Add(1)
	// The count last: a reader that sees it sees this send's time (Fanout
	// read a count of 1 with Last still 0 under load before).
	f.count.Add(1)
}

// Fanout returns the fan-out times of the group's sends so far.
func (g *Group) Fanout() FanoutStats {
	f := &g.fan
	st := FanoutStats{Count: f.count.Load(), Sum: time.Duration(f.sum.Load()), Last: time.Duration(f.last.Load())}
	var n int64
	for i := range st.Buckets {
		n += f.buckets[i].Load()
		st.Buckets[i] = n
	}
	return st
}

// since is the engine's monotonic clock in nanoseconds.
func (e *engine) since() time.Duration { return time.Since(e.start) }
