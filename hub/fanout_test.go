package hub

import (
	"bytes"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsd-dev/wsd/wsconn"
)

// Each broadcast is one observation of wsd_broadcast_fanout_seconds,
// recorded once every loop has written it; the scrape passes promtool.
func TestMetricsBroadcastFanout(t *testing.T) {
	e := start(t, Options{}, func(o *wsconn.Options) { o.Loops = 2 })
	a, b := e.dial("/ws/ann"), e.dial("/ws/bob")
	msg(t, a)
	msg(t, b)
	for i := range 3 {
		st, _ := e.request("POST", "/broadcast", "news "+strconv.Itoa(i))
		require.Equal(t, 202, st)
		assert.Equal(t, "broadcast", msg(t, a)["type"])
		assert.Equal(t, "broadcast", msg(t, b)["type"])
	}
	eventually(t, func() bool { return e.hub.everyone.Fanout().Count == 3 }, "fan-outs recorded: %d", e.hub.everyone.Fanout().Count)

	st, out := e.scrape()
	require.Equal(t, 200, st, out)
	cmd := exec.Command("/usr/bin/promtool", "check", "metrics")
	cmd.Stdin = strings.NewReader(out)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	require.NoError(t, cmd.Run(), "promtool check metrics: %s", stderr.String())
	assert.Contains(t, out, "wsd_broadcast_fanout_seconds_count 3\n")
	assert.Contains(t, out, `wsd_broadcast_fanout_seconds_bucket{le="+Inf"} 3`+"\n")
	assert.Contains(t, out, `wsd_broadcast_fanout_seconds_bucket{le="5"} 3`+"\n")
	sum := regexp.MustCompile(`(?m)^wsd_broadcast_fanout_seconds_sum (\S+)$`).FindStringSubmatch(out)
	require.NotNil(t, sum, ours(out))
	v, err := strconv.ParseFloat(sum[1], 64)
	require.NoError(t, err)
	assert.Greater(t, v, 0.0)
	assert.InDelta(t, e.hub.everyone.Fanout().Sum.Seconds(), v, 1e-9)
}
