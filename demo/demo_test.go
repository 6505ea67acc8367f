package demo

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsd-dev/wsd/auth"
	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/hub"
	"github.com/wsd-dev/wsd/internal/wstest"
	"github.com/wsd-dev/wsd/wsconn"
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

// With tokens required, the chat takes only the token's own nickname, and
// only with the room "chat" in its rooms.
func TestChatWithTokens(t *testing.T) {
	secret := []byte("a secret of at least thirty-two bytes!!")
	f := filepath.Join(t.TempDir(), "secret")
	require.NoError(t, os.WriteFile(f, secret, 0o600))
	v, err := auth.New(auth.Config{SecretFile: f})
	require.NoError(t, err)
	s, err := wsconn.New(wsconn.Options{Addr: "127.0.0.1:0", Logger: quiet})
	require.NoError(t, err)
	h := hub.New(s, hub.Options{Logger: quiet, Auth: v})
	require.NoError(t, s.Start(New(h, s).Routes()))
	t.Cleanup(func() { (&env{srv: s}).stop() })
	mint := func(sub string, rooms ...string) string {
		tok, err := auth.Mint(secret, "HS256", auth.MintClaims{Subject: sub, Expires: time.Now().Add(time.Hour), Rooms: rooms})
		require.NoError(t, err)
		return tok
	}
	addr := s.Addr().String()
	_, err = wstest.Dial(addr, "/ws/chat/kim", "")
	assert.ErrorContains(t, err, "401", "no token")
	_, err = wstest.Dial(addr, "/ws/chat/kim?token="+mint("lee", "chat"), "")
	assert.ErrorContains(t, err, "403", "another user's nickname")
	_, err = wstest.Dial(addr, "/ws/chat/kim?token="+mint("kim"), "")
	assert.ErrorContains(t, err, "403", "no chat in the token's rooms")
	c, err := wstest.Dial(addr, "/ws/chat/kim?token="+mint("kim", "chat"), "")
	require.NoError(t, err)
	defer c.Close()
	assert.Equal(t, "System> kim has joined.", text(t, c))
}
