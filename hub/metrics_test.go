package hub

import (
	"bytes"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/internal/wstest"
	"github.com/wsd-dev/wsd/wsconn"
)

// scrape fetches /metrics.
func (e *env) scrape(hdr ...string) (int, string) {
	e.t.Helper()
	req, _ := http.NewRequest("GET", "http://"+e.addr+"/metrics", nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// A real scrape passes promtool's checks, and its figures follow what the
// server does: connections by state and loop, messages, close codes sent
// and received, refusals by status, rate limits, RSS per connection.
func TestMetricsPromtool(t *testing.T) {
	e := start(t, Options{MaxConnsPerUser: 1}, func(o *wsconn.Options) { o.Loops = 2 })
	a := e.dial("/ws/mia")
	msg(t, a)
	b := e.dial("/ws/ned")
	msg(t, b)
	_, err := wstest.Dial(e.addr, "/ws/mia", "") // over the per-user cap
	require.ErrorContains(t, err, "429")
	a.Send(true, frame.OpText, []byte(`{"type":"read"}`))
	msg(t, a)
	a.Write(wstest.CloseFrame(4000, "bye"))
	eventually(t, func() bool { return e.srv.Stats().Closed >= 2 }, "not closed")

	st, out := e.scrape()
	require.Equal(t, 200, st, out)
	cmd := exec.Command("/usr/bin/promtool", "check", "metrics")
	cmd.Stdin = strings.NewReader(out)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	require.NoError(t, cmd.Run(), "promtool check metrics: %s", stderr.String())

	for _, want := range []string{
		`wsd_connections{state="open"} 1`,
		`wsd_handshake_refusals_total{status="429"} 1`,
		`wsd_rate_limited_total{limit="conns_per_user"} 1`,
		`wsd_close_codes_total{code="4xxx",direction="received"} 1`,
		`wsd_messages_total{direction="in"} 1`,
		`wsd_hub_users{state="online"} 1`,
		`wsd_close_codes_total{code="4xxx",direction="sent"} 1`, // the echo of the client's close
		`wsd_loop_connections{loop="1",state="open"}`,
		`go_gc_duration_seconds`,
		`wsd_rss_bytes_per_connection `,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in the scrape:\n%s", want, ours(out))
		}
	}
}

// ours keeps the scrape's wsd_ samples, for failure messages.
func ours(scrape string) string {
	var b strings.Builder
	for _, l := range strings.Split(scrape, "\n") {
		if strings.HasPrefix(l, "wsd_") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// /metrics is behind the API's auth, as /stats is.
func TestMetricsNeedTheAPIToken(t *testing.T) {
	e := start(t, Options{APIToken: "s3cret"}, nil)
	st, _ := e.scrape()
	assert.Equal(t, http.StatusUnauthorized, st)
	st, out := e.scrape("Authorization", "Bearer s3cret")
	assert.Equal(t, 200, st)
	assert.Contains(t, out, "wsd_connections")
}
