package hub

import (
	"bytes"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/internal/wstest"
	"github.com/wsd-dev/wsd/wsconn"
)

// A user connection that never reads while broadcasts pile up is closed
// as a slow consumer with 1008 (policy violation) and leaves the hub; a
// connection that reads gets every broadcast. The close timeout is long:
// the Close waits behind what the slow client's socket holds until it
// reads, and on a loaded machine the broadcasts may take seconds more.
func TestBroadcastSlowConsumerClosedWith1008(t *testing.T) {
	e := start(t, Options{}, func(o *wsconn.Options) { o.QueueCap = 1 << 20; o.CloseTimeout = 30 * time.Second })
	slow, fast := e.dial("/ws/slow"), e.dial("/ws/fast")
	msg(t, slow)
	msg(t, fast)
	var read atomic.Int64
	fastDone := make(chan error, 1)
	go func() {
		for {
			op, _, err := fast.ReadMessage(5 * time.Second)
			if err != nil || op != frame.OpText {
				fastDone <- err
				return
			}
			read.Add(1)
		}
	}()
	const n = 1500 // 24 MB: past the slow client's socket buffers (several MB) and its 1 MiB queue
	body := bytes.Repeat([]byte("b"), 16<<10)
	for i := range n {
		// The fast client stays at most 32 broadcasts behind, however slow
		// this machine is.
		for deadline := time.Now().Add(5 * time.Second); read.Load() < int64(i-32) && time.Now().Before(deadline); {
			runtime.Gosched()
		}
		e.hub.Broadcast(body, false)
	}
	eventually(t, func() bool { return read.Load() == n }, "the fast client got %d of %d broadcasts", read.Load(), n)
	assert.Equal(t, int64(1), e.srv.Stats().SlowConsumerClose)

	// The slow client finds a Close 1008 after what its socket held.
	var data int
	for {
		f, err := slow.ReadFrame(5 * time.Second)
		require.NoError(t, err, "after %d data frames", data)
		if f.Header.OpCode == frame.OpClose {
			code, reason := f.Close()
			assert.Equal(t, frame.ClosePolicyViolation, code, "reason %q", reason)
			break
		}
		data++
	}
	assert.Less(t, data, n, "not every broadcast was queued for it")
	slow.Write(wstest.CloseFrame(frame.ClosePolicyViolation, ""))
	require.NoError(t, slow.ExpectEOF(5*time.Second))
	eventually(t, func() bool { return e.hub.User("slow").Online == 0 }, "the slow connection is still registered")
	assert.Equal(t, 1, e.hub.User("fast").Online)
	assert.Equal(t, int64(1), e.hub.Counts().UsersOnline)
	select {
	case err := <-fastDone:
		t.Fatalf("the fast client stopped reading: %v", err)
	default:
	}
}
