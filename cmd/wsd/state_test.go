package main

import (
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/internal/wstest"
)

// -state: what was published before a SIGTERM — sequence numbers, unread
// counts, the history with its binary messages — is back after a restart
// with the same file, for polls and for ?since= resumes alike.
func TestStateFileSurvivesRestart(t *testing.T) {
	bin := buildWSD(t)
	state := filepath.Join(t.TempDir(), "state.json")

	p := runWSD(t, bin, "-state", state)
	for _, pub := range []struct{ path, body string }{
		{"/publish/ann", `{"n":1}`},
		{"/publish/ann", "two"},
		{"/publish/ann?binary=1", "\x00\x01\xff"},
		{"/publish/bob", "for bob"},
	} {
		st, _ := p.request("POST", pub.path, pub.body)
		require.Equal(t, 200, st, pub.path)
	}
	// bob reads his: unread 0 is kept too.
	bob, err := wstest.Dial(p.addr, "/ws/bob", "")
	require.NoError(t, err)
	readJSON(t, bob) // hello
	require.NoError(t, bob.Send(true, frame.OpText, []byte(`{"type":"read"}`)))
	assert.Equal(t, "unread", readJSON(t, bob)["type"])
	bob.Close()
	p.stop()
	assert.Contains(t, p.log(), "hub state saved")
	_, err = os.Stat(state)
	require.NoError(t, err, "no state file after SIGTERM")

	p = runWSD(t, bin, "-state", state)
	_, out := p.request("GET", "/poll/ann?since=0", "")
	assert.Equal(t, 3.0, out["seq"])
	assert.Equal(t, 3.0, out["unread"])
	msgs := out["messages"].([]any)
	require.Len(t, msgs, 3)
	assert.Equal(t, map[string]any{"n": 1.0}, msgs[0].(map[string]any)["data"])
	assert.Equal(t, "two", msgs[1].(map[string]any)["data"])
	assert.Equal(t, "AAH/", msgs[2].(map[string]any)["binary"], "the binary message stays binary")
	_, out = p.request("GET", "/users/bob", "")
	assert.Equal(t, 1.0, out["seq"])
	assert.Equal(t, 0.0, out["unread"])

	// A client resuming across the restart gets what it missed, then live
	// messages with the numbers continued.
	ann, err := wstest.Dial(p.addr, "/ws/ann?since=1", "")
	require.NoError(t, err)
	defer ann.Close()
	hello := readJSON(t, ann)
	assert.Equal(t, "hello", hello["type"])
	assert.Equal(t, 3.0, hello["seq"])
	assert.Equal(t, 3.0, hello["unread"])
	assert.Equal(t, "two", readJSON(t, ann)["data"])
	op, b, err := ann.ReadMessage(3 * time.Second)
	require.NoError(t, err)
	assert.Equal(t, frame.OpBinary, op)
	require.Len(t, b, 11)
	assert.Equal(t, uint64(3), binary.BigEndian.Uint64(b))
	assert.Equal(t, []byte{0, 1, 0xff}, b[8:])
	_, out = p.request("POST", "/publish/ann", "four")
	assert.Equal(t, 4.0, out["seq"])
	m := readJSON(t, ann)
	assert.Equal(t, 4.0, m["seq"])
	assert.Equal(t, 4.0, m["unread"])
}

// readJSON reads the next text message as JSON.
func readJSON(t *testing.T, c *wstest.Client) map[string]any {
	t.Helper()
	op, p, err := c.ReadMessage(3 * time.Second)
	require.NoError(t, err)
	require.Equal(t, frame.OpText, op, "%q", p)
	var m map[string]any
	require.NoError(t, json.Unmarshal(p, &m), "%q", p)
	return m
}
