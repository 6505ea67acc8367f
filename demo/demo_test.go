package demo

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/internal/wstest"
)

func dial(t *testing.T, e *env, uri string) *wstest.Client {
	t.Helper()
	c, err := wstest.Dial(e.addr, uri, "")
	require.NoError(t, err, uri)
	t.Cleanup(func() { c.Close() })
	return c
}

func text(t *testing.T, c *wstest.Client) string {
	t.Helper()
	op, p, err := c.ReadMessage(3 * time.Second)
	require.NoError(t, err)
	require.Equal(t, frame.OpText, op)
	return string(p)
}

func TestChat(t *testing.T) {
	e := start(t, "127.0.0.1:0", nil)
	ann := dial(t, e, "/ws/chat/ann")
	assert.Equal(t, "System> ann has joined.", text(t, ann))
	bob := dial(t, e, "/ws/chat/bob")
	assert.Equal(t, "System> bob has joined.", text(t, ann))
	assert.Equal(t, "System> bob has joined.", text(t, bob))
	bob.Send(true, frame.OpText, []byte("hello 大家"))
	assert.Equal(t, "bob> hello 大家", text(t, ann))
	assert.Equal(t, "bob> hello 大家", text(t, bob))

	// A nickname is one person's at a time; a bad one is refused with a
	// reason a browser can show.
	for uri, reason := range map[string]string{"/ws/chat/bob": "nickname bob is taken", "/ws/chat/a%2Fb": "bad nickname"} {
		c := dial(t, e, uri)
		op, p, err := c.ReadMessage(3 * time.Second)
		require.NoError(t, err)
		require.Equal(t, frame.OpClose, op, uri)
		assert.Equal(t, frame.ClosePolicyViolation, frame.CloseCode(uint16(p[0])<<8|uint16(p[1])), uri)
		assert.Contains(t, string(p[2:]), reason, uri)
	}
	bob.Close()
	assert.Equal(t, "System> bob has disconnected.", text(t, ann))
	bob2 := dial(t, e, "/ws/chat/bob")
	assert.Equal(t, "System> bob has joined.", text(t, bob2), "the nickname is free again")
}

func TestEcho(t *testing.T) {
	e := start(t, "127.0.0.1:0", nil)
	c := dial(t, e, "/echo")
	c.Send(true, frame.OpBinary, []byte{0, 1, 2})
	op, p, err := c.ReadMessage(3 * time.Second)
	require.NoError(t, err)
	assert.Equal(t, frame.OpBinary, op)
	assert.Equal(t, []byte{0, 1, 2}, p)
}

func TestShopOrders(t *testing.T) {
	e := start(t, "127.0.0.1:0", nil)
	admin := dial(t, e, "/ws/admin")
	assert.Contains(t, text(t, admin), `"type":"hello"`)
	post := func(body string) (int, string) {
		resp, err := http.Post("http://"+e.addr+"/shop/orders", "application/json", strings.NewReader(body))
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, bad := range []string{`{"item":""}`, `{"item":"tea","qty":0}`, `{"item":"tea"}`, `nope`} {
		st, body := post(bad)
		assert.Equal(t, 400, st, bad)
		assert.Contains(t, body, `"error"`, bad)
	}
	st, body := post(`{"item":"tea","qty":2}`)
	assert.Equal(t, 201, st, body)
	assert.Contains(t, body, `"id":1`)
	m := text(t, admin)
	assert.Contains(t, m, `"type":"message"`)
	assert.Contains(t, m, `"data":{"id":1,"item":"tea","qty":2,`)
}
