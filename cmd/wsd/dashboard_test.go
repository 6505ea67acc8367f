package main

import (
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsd-dev/wsd/internal/wstest"
)

// The binary serves the dashboard behind -api-token, beside the demo's
// routes: 401 with a JSON reason without it, the page and its socket with
// it.
func TestDashboardBehindAPIToken(t *testing.T) {
	p := runWSD(t, buildWSD(t), "-api-token", "s3cret")
	st, body := p.request("GET", "/dashboard", "")
	assert.Equal(t, http.StatusUnauthorized, st)
	assert.Contains(t, body["error"], "missing or wrong API token")

	req, _ := http.NewRequest("GET", "http://"+p.addr+"/dashboard", nil)
	req.Header.Set("Authorization", "Bearer s3cret")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)
	assert.Contains(t, string(page), "<title>wsd dashboard</title>")

	_, err = wstest.Dial(p.addr, "/dashboard/ws", "")
	require.ErrorContains(t, err, "401")
	c, err := wstest.Dial(p.addr, "/dashboard/ws?token=s3cret", "")
	require.NoError(t, err)
	defer c.Close()
	for _, want := range []string{"history", "sample"} {
		_, msg, err := c.ReadMessage(3 * time.Second)
		require.NoError(t, err)
		var m struct {
			Type  string `json:"type"`
			Conns int    `json:"conns"`
		}
		require.NoError(t, json.Unmarshal(msg, &m), "%q", msg)
		assert.Equal(t, want, m.Type)
		if want == "sample" {
			assert.Equal(t, 1, m.Conns, "the dashboard's own socket")
		}
	}
	p.stop()
}
