package web

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/internal/wstest"
	"github.com/wsd-dev/wsd/upgrade"
)

// batch is one message to the page.
type batch struct {
	Type    string            `json:"type"`
	Dropped int64             `json:"dropped"`
	Events  []json.RawMessage `json:"events"`
}

// readBatch reads the next message to the page, past the server's pings
// (a test that does not read for half a minute gets one).
func readBatch(t *testing.T, c *wstest.Client) batch {
	t.Helper()
	for {
		op, msg, err := c.ReadMessage(10 * time.Second)
		require.NoError(t, err)
		if op == frame.OpPing || op == frame.OpPong {
			continue
		}
		require.Equal(t, frame.OpText, op, "%q", msg)
		var b batch
		require.NoError(t, json.Unmarshal(msg, &b), "%.200s", msg)
		return b
	}
}

// viewerOf returns the server's one viewer.
func viewerOf(t *testing.T, s *Server) *viewer {
	t.Helper()
	require.Eventually(t, func() bool { return s.Viewers() == 1 }, 5*time.Second, time.Millisecond)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.viewers[0]
}

// A page that does not read: Event never waits, what waits for the page
// stays within its bounds (the oldest events go, counted), its socket is
// not closed for a full queue, and once it reads it gets the newest
// events in order and the count of those it lost.
func TestSlowViewerDropsOldest(t *testing.T) {
	const maxEvents, maxBytes = 100, 1 << 20
	s := startWeb(t, Options{MaxEvents: maxEvents, MaxBytes: maxBytes})
	c, err := wstest.Dial(s.Addr().String(), SocketPath, "")
	require.NoError(t, err)
	defer c.Close()
	hello := readBatch(t, c)
	require.Equal(t, "hello", hello.Type)
	v := viewerOf(t, s)

	suffix := `,"pad":"` + strings.Repeat("x", 8<<10) + `"}`
	const n = 10000 // 80 MB: more than the kernel's socket buffers hold
	start := time.Now()
	var ev []byte
	for i := range n {
		ev = append(strconv.AppendInt(append(ev[:0], `{"seq":`...), int64(i), 10), suffix...)
		s.Event(ev)
		if i%1000 == 999 {
			v.mu.Lock()
			queued, bytes := len(v.q)-v.head, v.bytes
			v.mu.Unlock()
			require.LessOrEqual(t, queued, maxEvents)
			require.LessOrEqual(t, bytes, maxBytes)
		}
	}
	t.Logf("%d events of 8 KiB handed over in %v", n, time.Since(start))
	require.Positive(t, s.Dropped(), "nothing dropped: the page kept up with 80 MB unread?")
	require.LessOrEqual(t, v.c.Buffered(), sendBelow+batchBytes, "the socket's own queue stays near the send threshold")

	var got, dropped int64
	last := -1
	for last != n-1 {
		b := readBatch(t, c)
		require.Equal(t, "events", b.Type)
		dropped += b.Dropped
		for _, e := range b.Events {
			var ev struct{ Seq int }
			require.NoError(t, json.Unmarshal(e, &ev))
			require.Greater(t, ev.Seq, last, "events out of order")
			last = ev.Seq
			got++
		}
	}
	assert.Equal(t, int64(n), got+dropped, "every event arrived or was counted as dropped")
	assert.Equal(t, s.Dropped(), dropped)
	assert.Less(t, got, int64(n))
	t.Logf("received %d, dropped %d", got, dropped)
}

// No page open: an event is not even copied.
func TestNoViewerNoCopyAllocs(t *testing.T) {
	s := startWeb(t, Options{})
	line := []byte(`{"event":"frame"}`)
	assert.Zero(t, testing.AllocsPerRun(100, func() { s.Event(line) }))
	assert.False(t, s.Watching())
}

// The page's socket admits only the page: by IP address or localhost, from
// its own origin.
func TestSocketRefusesOtherSites(t *testing.T) {
	s := startWeb(t, Options{})
	addr := s.Addr().String()
	port := fmt.Sprint(s.Addr().Port())
	for _, tc := range []struct {
		name, host, origin string
		status             int
	}{
		{"the page itself", addr, "http://" + addr, 101},
		{"localhost", "localhost:" + port, "http://localhost:" + port, 101},
		{"no Origin (not a browser)", addr, "", 101},
		{"another site's page", addr, "http://evil.example", 403},
		{"a name rebound to this address", "evil.example:" + port, "http://evil.example:" + port, 421},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nc, err := net.Dial("tcp", addr)
			require.NoError(t, err)
			defer nc.Close()
			key := upgrade.NewKey()
			_, err = nc.Write(upgrade.AppendRequest(nil, upgrade.ClientRequest{Host: tc.host, URI: SocketPath, Key: key[:], Origin: tc.origin}))
			require.NoError(t, err)
			resp, err := http.ReadResponse(bufioReader(nc), nil)
			require.NoError(t, err)
			assert.Equal(t, tc.status, resp.StatusCode)
		})
	}
	resp, err := http.Get("http://" + addr + "/other")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 404, resp.StatusCode)
}

// The page is one file: nothing it loads comes from elsewhere, and its
// CSP allows its own script (by hash) and its own server only.
func TestPageIsSelfContained(t *testing.T) {
	s := startWeb(t, Options{})
	resp, err := http.Get(s.URL())
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)
	csp := resp.Header.Get("Content-Security-Policy")
	assert.Contains(t, csp, "default-src 'none'")
	assert.Contains(t, csp, "connect-src 'self'")
	assert.Contains(t, csp, scriptHash(body))
	for _, external := range []string{"<script src", "<link", "@import", "url(", "<img", "<iframe"} {
		assert.NotContains(t, string(body), external)
	}
	assert.Equal(t, 1, strings.Count(string(body), "<script>"))
}
