package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/internal/wstest"
)

var tracePageURL = regexp.MustCompile(`msg="trace page[^"]*" url=http://(\S+)/`)

// pageEvents reads the page's socket until an event satisfies stop, and
// returns the events read.
func pageEvents(t *testing.T, page *wstest.Client, stop func(map[string]any) bool) []map[string]any {
	t.Helper()
	var evs []map[string]any
	for {
		_, msg, err := page.ReadMessage(5 * time.Second)
		require.NoError(t, err, "events so far: %v", evs)
		var m struct {
			Type    string           `json:"type"`
			Dropped int              `json:"dropped"`
			Events  []map[string]any `json:"events"`
		}
		require.NoError(t, json.Unmarshal(msg, &m), "%s", msg)
		require.Equal(t, "events", m.Type)
		require.Zero(t, m.Dropped)
		for _, e := range m.Events {
			evs = append(evs, e)
			if stop(e) {
				return evs
			}
		}
	}
}

// wsd -trace-web without -trace: the page on its own port, fed the trace
// of the connections that open while it is open; one opened before is not
// traced at all, and nothing is dumped.
func TestTraceWebFlag(t *testing.T) {
	dumpFile := filepath.Join(t.TempDir(), "dump")
	p := runWSD(t, buildWSD(t), "-trace-web", "127.0.0.1:0", "-trace-file", dumpFile)
	var web string
	eventually(t, 5*time.Second, func() bool {
		m := tracePageURL.FindStringSubmatch(p.log())
		if m != nil {
			web = m[1]
		}
		return m != nil
	}, "no trace page line: %s", p.log())

	resp, err := http.Get("http://" + web + "/")
	require.NoError(t, err)
	html, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)
	assert.Contains(t, string(html), "<title>wsdump · live frames</title>")
	assert.Contains(t, resp.Header.Get("Content-Security-Policy"), "default-src 'none'")

	before := open(t, p.addr, "/echo") // no page yet: not traced

	page, err := wstest.Dial(web, "/ws", "")
	require.NoError(t, err)
	defer page.Close()
	_, hello, err := page.ReadMessage(3 * time.Second)
	require.NoError(t, err)
	assert.Contains(t, string(hello), `"source":"wsd `+p.addr+`"`)

	require.NoError(t, before.Send(true, frame.OpText, []byte("from before the page")))
	_, _, err = before.ReadMessage(3 * time.Second)
	require.NoError(t, err)
	after := open(t, p.addr, "/echo")
	evs := pageEvents(t, page, func(e map[string]any) bool {
		return e["event"] == "frame" && e["dir"] == "s2c"
	})
	var kinds []string
	for _, e := range evs {
		kinds = append(kinds, e["event"].(string))
		assert.Equal(t, float64(1), e["conn"], "only the connection opened with the page open: %v", e)
		assert.NotContains(t, fmt.Sprint(e["websocket.payload.text"]), "before")
	}
	assert.Equal(t, []string{"open", "request", "response", "frame", "frame"}, kinds)
	assert.Equal(t, "probe", evs[3]["websocket.payload.text"])
	after.Close()
	before.Close()
	page.Close()
	p.stop()
	_, err = os.Stat(dumpFile)
	assert.ErrorIs(t, err, os.ErrNotExist, "no dump without -trace")
}
