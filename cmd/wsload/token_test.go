package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsd-dev/wsd/auth"
	"github.com/wsd-dev/wsd/hub"
	"github.com/wsd-dev/wsd/wsconn"
)

// -jwt-secret-file gives each connection its own user's token: a server
// that requires tokens takes them all; without it, it refuses them all.
func TestTokensPerConnection(t *testing.T) {
	f := filepath.Join(t.TempDir(), "secret")
	require.NoError(t, os.WriteFile(f, []byte("a secret of at least thirty-two bytes!!"), 0o600))
	v, err := auth.New(auth.Config{SecretFile: f})
	require.NoError(t, err)
	s, err := wsconn.New(wsconn.Options{Addr: "127.0.0.1:0"})
	require.NoError(t, err)
	h := hub.New(s, hub.Options{Auth: v})
	require.NoError(t, s.Start(h.Routes()))
	t.Cleanup(func() { s.Shutdown(t.Context()) })
	url := "ws://" + s.Addr().String() + "/ws/u{i}"

	code, res := runJSON(t, "-url", url, "-scenario", "hold", "-c", "20", "-duration", "200ms", "-jwt-secret-file", f)
	assert.Equal(t, 0, code)
	assert.Equal(t, int64(20), res.Stats.Opened)
	assert.Empty(t, res.Stats.Failures)

	code, res = runJSON(t, "-url", url, "-scenario", "hold", "-c", "5", "-duration", "200ms")
	assert.Equal(t, 1, code)
	assert.Equal(t, int64(5), res.Stats.Failures["bad_status"], "no token: 401")

	code, res = runJSON(t, "-url", url, "-scenario", "hold", "-c", "5", "-duration", "200ms", "-jwt-secret-file", f, "-jwt-sub", "someone")
	assert.Equal(t, 1, code)
	assert.Equal(t, int64(5), res.Stats.Failures["bad_status"], "tokens for another user: 403")
}
