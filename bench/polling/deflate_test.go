package main

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsd-dev/wsd/internal/testserver"
	"github.com/wsd-dev/wsd/upgrade"
	"github.com/wsd-dev/wsd/wsconn"
)

// The ws+deflate modes' clients negotiate permessage-deflate with wsd in
// its mode and receive the same notifications in fewer bytes than the
// plain mode's client; ws offers nothing.
func TestWSDeflateModes(t *testing.T) {
	for _, tc := range []struct {
		mode   string
		policy upgrade.DeflatePolicy
		answer string
	}{
		{modeWS, upgrade.DeflatePolicy{Mode: upgrade.DeflateOn}, "none"},
		{modeWSDeflate, upgrade.DeflatePolicy{Mode: upgrade.DeflateOn}, "permessage-deflate; server_no_context_takeover; client_no_context_takeover"},
		{modeWSDeflateTakeover, upgrade.DeflatePolicy{Mode: upgrade.DeflateTakeover, WindowBits: 10}, "permessage-deflate; server_max_window_bits=10; client_max_window_bits=10"},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			assert.Contains(t, serverFlags(tc.mode), map[string]string{modeWS: "off", modeWSDeflate: "on", modeWSDeflateTakeover: "takeover"}[tc.mode])
			ts, err := testserver.Start(func(o *wsconn.Options) { o.Deflate = tc.policy })
			require.NoError(t, err)
			defer ts.Stop()
			w, err := startWS(context.Background(), tc.mode, ts.Addr, 0, 2)
			require.NoError(t, err)
			defer w.stop()
			assert.Equal(t, map[string]int64{tc.answer: 2}, w.extensions())
			_, down0 := w.bytes()
			const n = 10
			for i := range n {
				body := "T=" + strconv.FormatInt(time.Now().UnixNano(), 10) + ";k=U;id=" + strconv.Itoa(i) + ";" + strings.Repeat(`{"order":42,"item":"tea"}`, 8)
				ts.Hub.Publish("u0", []byte(body), false)
			}
			require.Eventually(t, func() bool { return w.latency().Count() == n }, 5*time.Second, 10*time.Millisecond)
			_, down1 := w.bytes()
			perMsg := float64(down1-down0) / n
			t.Logf("%s: %.0f bytes on the wire per notification", tc.mode, perMsg)
			if tc.mode == modeWS {
				assert.Greater(t, perMsg, 250.0, "plain: the ~240-byte envelope and its header")
			} else {
				assert.Less(t, perMsg, 200.0, "compressed")
			}
		})
	}
}
