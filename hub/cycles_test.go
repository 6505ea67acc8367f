package hub

import (
	"fmt"
	"runtime"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/internal/wstest"
)

// TestConnectCloseCycles: 100,000 connect/close cycles (10,000 under the
// race detector, which `make test` also runs; the full count runs without
// it) leave the registry empty and memory at its baseline.
func TestConnectCloseCycles(t *testing.T) {
	cycles := 100_000
	if raceEnabled {
		cycles = 10_000
	}
	e := start(t, Options{}, nil)
	run := func(n int, tag string) {
		const workers = 8
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < n; i += workers {
					// The client closes first and leaves a TIME_WAIT: spread
					// the cycles over 2,000 source addresses so that the
					// kernel's port search stays cheap, run after run.
					src := fmt.Sprintf("127.1.%d.%d", 1+i/250%8, 1+i%250)
					c, err := wstest.DialFrom(src, e.addr, fmt.Sprintf("/ws/%s%d", tag, i), "")
					if err != nil {
						errs <- fmt.Errorf("cycle %d: %w", i, err)
						return
					}
					if i%3 == 0 {
						c.Write(wstest.CloseFrame(frame.CloseNormal, ""))
					}
					c.Close()
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		eventually(t, func() bool { return e.srv.Conns() == 0 && e.hub.Counts().Connections == 0 }, "connections left: %d", e.srv.Conns())
	}
	run(2000, "warm") // pools, maps and the runtime reach their working size
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	run(cycles, "u")
	c := e.hub.Counts()
	assert.Zero(t, c.Connections)
	assert.Zero(t, c.UsersOnline)
	assert.Zero(t, c.Users, "users with no connection and no history are forgotten")
	assert.Zero(t, c.Rooms)
	assert.Zero(t, e.hub.everyone.Len(), "the broadcast group is empty")
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	grew := int64(after.HeapInuse) - int64(before.HeapInuse)
	t.Logf("%d cycles: heap in use %d → %d bytes", cycles, before.HeapInuse, after.HeapInuse)
	assert.Less(t, grew, int64(2<<20), "heap grew by %d bytes", grew)
	assert.GreaterOrEqual(t, e.srv.Stats().Upgrades, int64(cycles))
}
