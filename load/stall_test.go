package load

import (
	"context"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/wsconn"
)

// staller echoes at once, except messages at..at+count-1 of its
// connection, which it holds for d each: the server stalls for count×d,
// and a client with one message in flight gets count messages through.
type staller struct {
	at, count int
	d         time.Duration

	mu    sync.Mutex
	n     int
	holds []time.Duration // per message, how long the server held it: its latency from the send
}

func (*staller) OnOpen(*wsconn.Conn)                           {}
func (*staller) OnClose(*wsconn.Conn, frame.CloseCode, string) {}
func (h *staller) OnMessage(c *wsconn.Conn, op frame.Opcode, p []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := h.n
	h.n++
	if n < h.at || n >= h.at+h.count {
		c.Send(op, p)
		h.holds = append(h.holds, 0)
		return
	}
	q, arrived := append([]byte(nil), p...), time.Now()
	time.AfterFunc(h.d, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		c.Send(op, q)
		h.holds = append(h.holds, time.Since(arrived))
	})
}

// Rate mode charges a stall to every message that fell due during it,
// from its scheduled time (no coordinated omission), so that the p99 shows
// the stall; timed from the actual send, the same messages hide it below
// the p99, and so does a closed-loop run against the same server.
//
// The server holds three echoes in a row for 300 ms each: with one message
// in flight (the Window default) three messages get through in 900 ms,
// while 180 per connection fall due at 200/s.
func TestRateModeShowsAStallInP99(t *testing.T) {
	const (
		stall = 300 * time.Millisecond // per held echo
		conns = 4
		per   = 400 // per connection; the stall starts at message 100
	)
	var mu sync.Mutex
	var handlers []*staller
	addr := startServer(t, func() wsconn.Handler {
		h := &staller{at: 100, count: 3, d: stall}
		mu.Lock()
		handlers = append(handlers, h)
		mu.Unlock()
		return h
	})
	// heldBy returns how long the server held each message of the run
	// just done, sorted, and forgets them.
	heldBy := func() []time.Duration {
		mu.Lock()
		defer mu.Unlock()
		var holds []time.Duration
		for _, h := range handlers {
			h.mu.Lock()
			holds = append(holds, h.holds...)
			h.mu.Unlock()
		}
		handlers = nil
		sort.Slice(holds, func(i, j int) bool { return holds[i] < holds[j] })
		return holds
	}
	p99 := func(sorted []time.Duration) time.Duration { return sorted[len(sorted)*99/100-1] } // as Histogram.Percentile ranks
	run := func(sc *Echo) *Histogram {
		e, err := New(Config{Target: addr, Path: "/x", Tick: time.Millisecond}, sc)
		require.NoError(t, err)
		defer e.Close(time.Second)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		require.NoError(t, e.Dial(ctx, 0, conns, 0))
		for sc.Stats().ConnsDone < conns && ctx.Err() == nil {
			time.Sleep(5 * time.Millisecond)
		}
		st := sc.Stats()
		require.Equal(t, int64(conns*per), st.Received)
		require.Zero(t, st.Mismatched, st.FirstMismatch)
		_, _, lat := e.Collect()
		require.Equal(t, uint64(conns*per), lat.Count())
		return &lat
	}

	rate := run(&Echo{Size: 64, Rate: 200, PerConn: per})
	held := heldBy()
	require.Len(t, held, conns*per)
	t.Logf("rate mode, from the schedule: p50 %v p90 %v p99 %v max %v", rate.Percentile(50), rate.Percentile(90), rate.Percentile(99), rate.Max())
	t.Logf("the same messages from their send (held by the server): p99 %v max %v", p99(held), held[len(held)-1])
	assert.GreaterOrEqual(t, rate.Percentile(99), stall, "rate mode: the stall is in the p99")
	assert.GreaterOrEqual(t, held[len(held)-1], stall, "the server did stall")
	assert.Less(t, p99(held), stall/10, "from the send, the stall hides below the p99")

	closed := run(&Echo{Size: 64, PerConn: per})
	t.Logf("closed loop: p50 %v p90 %v p99 %v max %v", closed.Percentile(50), closed.Percentile(90), closed.Percentile(99), closed.Max())
	assert.GreaterOrEqual(t, closed.Max(), stall, "the closed-loop run met the stall")
	assert.Less(t, closed.Percentile(99), stall/2, "closed loop: the stall hides below the p99")
}
