package load

import (
	"context"
	"github.com/wsd-dev/wsd/internal/testserver"
	"io"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsd-dev/wsd/upgrade"
	"github.com/wsd-dev/wsd/wsconn"
)

// startServer runs a wsconn server on a kernel-chosen loopback port whose
// every connection gets a handler from newHandler.
func startServer(t *testing.T, newHandler func() wsconn.Handler) netip.AddrPort {
	t.Helper()
	s, err := wsconn.New(wsconn.Options{Addr: "127.0.0.1:0", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	require.NoError(t, s.Start(wsconn.Routes{Upgrade: func(*wsconn.Conn, *upgrade.Request) (wsconn.Handler, *upgrade.Error) {
		return newHandler(), nil
	}}))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return s.Addr()
}

// The echo scenario counts every corrupted and every reordered echo.
func TestEchoCountsCorruptAndReorderedEchoes(t *testing.T) {
	addr := startServer(t, func() wsconn.Handler { return &testserver.Corrupter{} })
	const conns, per = 5, 20
	sc := &Echo{Size: 64, PerConn: per, Window: 4} // two in flight at least: 4 is sent while 3 is held
	e, err := New(Config{Target: addr, Path: "/x"}, sc)
	require.NoError(t, err)
	defer e.Close(time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(t, e.Dial(ctx, 0, conns, 0))
	for sc.Stats().ConnsDone < conns && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	st := sc.Stats()
	assert.Equal(t, int64(conns*per), st.Received)
	assert.Equal(t, int64(conns*3), st.Mismatched, "one flipped byte and two echoes out of place per connection")
	assert.NotEmpty(t, st.FirstMismatch)
	_, _, lat := e.Collect()
	assert.Equal(t, uint64(conns*(per-3)), lat.Count(), "wrong echoes are not timed")
}
