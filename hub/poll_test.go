package hub

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsd-dev/wsd/frame"
)

// GET /users/{user} reports the user's connections, last and oldest kept
// sequence numbers and unread count; an unknown user is all zeros.
func TestUserEndpoint(t *testing.T) {
	e := start(t, Options{History: 2}, nil)
	st, out := e.request("GET", "/users/eve", "")
	require.Equal(t, http.StatusOK, st)
	assert.Equal(t, map[string]any{"user": "eve", "online": 0.0, "seq": 0.0, "first": 1.0, "unread": 0.0}, out)

	c := e.dial("/ws/eve")
	msg(t, c) // hello: the connection is registered
	for range 3 {
		e.request("POST", "/publish/eve", "x")
		msg(t, c)
	}
	_, out = e.request("GET", "/users/eve", "")
	assert.Equal(t, map[string]any{"user": "eve", "online": 1.0, "seq": 3.0, "first": 2.0, "unread": 3.0}, out,
		"3 published, 2 kept, none read")
	c.Send(true, frame.OpText, []byte(`{"type":"read"}`))
	assert.Equal(t, "unread", msg(t, c)["type"])
	_, out = e.request("GET", "/users/eve", "")
	assert.Equal(t, 0.0, out["unread"])
	c.Close()
	eventually(t, func() bool {
		_, out := e.request("GET", "/users/eve", "")
		return out["online"] == 0.0
	}, "the closed connection is still counted")
}

// A poll says "gap" when messages after since are no longer kept, and
// only then.
func TestPollGap(t *testing.T) {
	e := start(t, Options{History: 3}, nil)
	for range 10 {
		e.request("POST", "/publish/fay", "x")
	}
	seqs := func(out map[string]any) []float64 {
		var s []float64
		for _, m := range out["messages"].([]any) {
			s = append(s, m.(map[string]any)["seq"].(float64))
		}
		return s
	}
	for _, tc := range []struct {
		since int
		gap   bool
		seqs  []float64
	}{
		{0, true, []float64{8, 9, 10}},
		{2, true, []float64{8, 9, 10}},
		{6, true, []float64{8, 9, 10}}, // 7 is gone
		{7, false, []float64{8, 9, 10}},
		{9, false, []float64{10}},
		{10, false, nil},
	} {
		st, out := e.request("GET", "/poll/fay?since="+strconv.Itoa(tc.since), "")
		require.Equal(t, http.StatusOK, st)
		assert.Equal(t, tc.gap, out["gap"], "since=%d", tc.since)
		assert.Equal(t, tc.seqs, seqs(out), "since=%d", tc.since)
		assert.Equal(t, 8.0, out["first"])
		assert.Equal(t, 10.0, out["seq"])
	}
}

// A binary message comes to a poll as base64 in "binary", without "data".
func TestPollBinaryMessage(t *testing.T) {
	e := start(t, Options{}, nil)
	e.request("POST", "/publish/gus?binary=1", "\x00\x01\xff")
	e.request("POST", "/publish/gus", "text")
	_, out := e.request("GET", "/poll/gus?since=0", "")
	msgs := out["messages"].([]any)
	require.Len(t, msgs, 2)
	bin, txt := msgs[0].(map[string]any), msgs[1].(map[string]any)
	assert.Equal(t, "message", bin["type"])
	assert.Equal(t, 1.0, bin["seq"])
	assert.Equal(t, "AAH/", bin["binary"], "base64 of 00 01 ff")
	assert.NotContains(t, bin, "data")
	assert.Equal(t, "text", txt["data"])
	assert.NotContains(t, txt, "binary")
}

// A long poll asking for more than MaxPollWait answers at the cap.
func TestPollWaitCapped(t *testing.T) {
	const limit = 300 * time.Millisecond
	e := start(t, Options{MaxPollWait: limit}, nil)
	t0 := time.Now()
	st, out := e.request("GET", "/poll/hal?since=0&wait=20s", "")
	took := time.Since(t0)
	require.Equal(t, http.StatusOK, st)
	assert.Empty(t, out["messages"])
	assert.GreaterOrEqual(t, took, limit, "it waited")
	assert.Less(t, took, 3*time.Second, "it waited the cap, not the 20 s asked")
}
