package load

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsd-dev/wsd/internal/testserver"
	"github.com/wsd-dev/wsd/upgrade"
	"github.com/wsd-dev/wsd/wsconn"
)

// runEcho dials conns connections with cfg against addr, runs the echo
// scenario sc to its end and returns the engine's report before closing.
func runEcho(t *testing.T, cfg Config, sc *Echo, conns int) (EchoStats, Wire, map[string]int64) {
	t.Helper()
	e, err := New(cfg, sc)
	require.NoError(t, err)
	defer e.Close(time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(t, e.Dial(ctx, 0, conns, 0))
	for sc.Stats().ConnsDone < int64(conns) && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	require.NoError(t, ctx.Err(), "echoes: %+v", sc.Stats())
	require.Zero(t, e.Stats().Failed(), "%v", e.Stats().Errors)
	return sc.Stats(), e.Wire(), e.Extensions()
}

// The echo scenario with permessage-deflate against wsd in both of its
// modes: what was agreed per connection, every echo checked after the core
// inflated it, and the frames on the wire far smaller than the payloads.
func TestEchoWithDeflateAgainstWSD(t *testing.T) {
	for _, tc := range []struct {
		policy upgrade.DeflatePolicy
		answer string
	}{
		{upgrade.DeflatePolicy{Mode: upgrade.DeflateOn}, "permessage-deflate; server_no_context_takeover; client_no_context_takeover"},
		{upgrade.DeflatePolicy{Mode: upgrade.DeflateTakeover, WindowBits: 10}, "permessage-deflate; server_max_window_bits=10; client_max_window_bits=10"},
	} {
		t.Run(tc.policy.Mode.String(), func(t *testing.T) {
			s, err := testserver.Start(func(o *wsconn.Options) { o.Deflate = tc.policy })
			require.NoError(t, err)
			t.Cleanup(s.Stop)
			for _, json := range []bool{false, true} {
				const conns, per, size = 4, 50, 1024
				sc := &Echo{Size: size, PerConn: per, Window: 2, JSON: json}
				st, w, ext := runEcho(t, Config{Target: netip.MustParseAddrPort(s.Addr), Path: "/echo", Deflate: upgrade.DeflateTakeover}, sc, conns)
				assert.Equal(t, int64(conns*per), st.Received)
				assert.Zero(t, st.Mismatched, st.FirstMismatch)
				assert.Equal(t, map[string]int64{tc.answer: conns}, ext)
				assert.Equal(t, int64(conns*per*size), w.PayloadOut)
				assert.Equal(t, int64(conns*per*size), w.PayloadIn, "inflated echoes")
				// Letters in a pattern shrink to almost nothing, orders in
				// JSON to about half.
				limit := map[bool]float64{false: 0.25, true: 0.8}[json]
				assert.Less(t, float64(w.FramesOut)/float64(w.PayloadOut), limit, "sent compressed (json %v)", json)
				assert.Less(t, float64(w.FramesIn)/float64(w.PayloadIn), limit, "echoed compressed (json %v)", json)
				assert.Greater(t, w.HeadsIn, int64(conns*100))
				t.Logf("json %v: frames out %d, in %d for %d B of payload each way", json, w.FramesOut, w.FramesIn, w.PayloadOut)
			}
		})
	}
}

// A corrupted echo that arrives compressed is counted: the check runs on
// the inflated payload.
func TestCorruptCompressedEchoesCounted(t *testing.T) {
	s, err := wsconn.New(wsconn.Options{Addr: "127.0.0.1:0", Deflate: upgrade.DeflatePolicy{Mode: upgrade.DeflateOn},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	require.NoError(t, s.Start(wsconn.Routes{Upgrade: func(*wsconn.Conn, *upgrade.Request) (wsconn.Handler, *upgrade.Error) {
		return &testserver.Corrupter{}, nil
	}}))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	for _, json := range []bool{false, true} {
		const conns, per = 3, 20
		sc := &Echo{Size: 512, PerConn: per, Window: 4, JSON: json}
		st, w, ext := runEcho(t, Config{Target: s.Addr(), Path: "/x", Deflate: upgrade.DeflateOn}, sc, conns)
		assert.Equal(t, int64(conns*per), st.Received)
		assert.Equal(t, int64(conns*3), st.Mismatched, "one flipped byte and two echoes out of place per connection")
		assert.Equal(t, "payload byte differs", st.FirstMismatch)
		assert.Equal(t, int64(conns), ext["permessage-deflate; server_no_context_takeover; client_no_context_takeover"])
		assert.Less(t, w.FramesIn, w.PayloadIn*4/5, "the echoes, corrupt ones included, came compressed")
	}
}

// An offer the server declines (a window below 8 bits is not valid, RFC
// 7692 §7.1.2.1) opens plain connections: "none" agreed, and frames no
// smaller than their payloads.
func TestDeclinedOfferGoesPlain(t *testing.T) {
	s, err := testserver.Start(func(o *wsconn.Options) { o.Deflate = upgrade.DeflatePolicy{Mode: upgrade.DeflateOn} })
	require.NoError(t, err)
	t.Cleanup(s.Stop)
	const conns, per, size = 3, 20, 1024
	sc := &Echo{Size: size, PerConn: per}
	st, w, ext := runEcho(t, Config{Target: netip.MustParseAddrPort(s.Addr), Path: "/echo",
		DeflateOffer: "permessage-deflate; server_max_window_bits=7"}, sc, conns)
	assert.Equal(t, int64(conns*per), st.Received)
	assert.Zero(t, st.Mismatched)
	assert.Equal(t, map[string]int64{wsconn.NoExtension: conns}, ext)
	assert.GreaterOrEqual(t, w.FramesOut, w.PayloadOut+int64(conns*per*8), "masked frames: payload + 8-byte headers")
	assert.GreaterOrEqual(t, w.FramesIn, w.PayloadIn+int64(conns*per*4))
}
