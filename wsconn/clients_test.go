package wsconn

// Real clients against /echo: Python's websockets, Node's ws, gorilla and
// gobwas Go clients, headless Chromium. Each sends text with Chinese and
// emoji, binary of 0/125/126/65535/65536 bytes and 1 MiB, a fragmented
// message, a ping, and closes with a code and reason.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsd-dev/wsd/frame"
)

var binarySizes = []int{0, 125, 126, 65535, 65536, 1 << 20}

func repoRoot(t testing.TB) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

// runScript runs a client script and decodes the JSON object it prints.
func runScript(t *testing.T, name string, args ...string) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "%s: %s\n%s", name, out, stderr.String())
	var res map[string]any
	require.NoError(t, json.Unmarshal(out, &res), "output %q", out)
	return res
}

func assertEchoChecks(t *testing.T, res map[string]any) {
	t.Helper()
	assert.Nil(t, res["error"])
	checks := []string{"text", "fragmented", "ping"}
	for _, n := range binarySizes {
		checks = append(checks, "binary_"+itoa(n))
	}
	for _, k := range checks {
		assert.Equal(t, true, res[k], "check %s", k)
	}
	assert.Equal(t, float64(4001), res["close_code"], "the server answers the client's close with its code")
}

func itoa(n int) string { return string(appendInt(nil, n)) }

func appendInt(b []byte, n int) []byte {
	if n >= 10 {
		b = appendInt(b, n/10)
	}
	return append(b, byte('0'+n%10))
}

func TestPythonWebsockets(t *testing.T) {
	s, rec := startEcho(t, nil)
	res := runScript(t, "/usr/bin/python3", filepath.Join(repoRoot(t), "test/python/echo_client.py"), "ws://"+s.Addr().String()+"/echo")
	assertEchoChecks(t, res)
	eventually(t, 2*time.Second, func() bool { return len(rec.list()) == 1 }, "no close recorded")
	assert.Equal(t, []frame.CloseCode{4001}, rec.list())
}

func TestNodeWS(t *testing.T) {
	s, rec := startEcho(t, nil)
	res := runScript(t, "node", filepath.Join(repoRoot(t), "test/node/echo_client.js"), "ws://"+s.Addr().String()+"/echo")
	assertEchoChecks(t, res)
	eventually(t, 2*time.Second, func() bool { return len(rec.list()) == 1 }, "no close recorded")
	assert.Equal(t, []frame.CloseCode{4001}, rec.list())
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func TestGorillaClient(t *testing.T) {
	s, rec := startEcho(t, nil)
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second, WriteBufferSize: 1024}
	c, resp, err := d.Dial("ws://"+s.Addr().String()+"/echo", nil)
	require.NoError(t, err)
	assert.Equal(t, 101, resp.StatusCode)
	defer c.Close()
	c.SetReadLimit(2 << 20)

	text := "发送数据 😀 hello"
	require.NoError(t, c.WriteMessage(websocket.TextMessage, []byte(text)))
	mt, p, err := c.ReadMessage()
	require.NoError(t, err)
	assert.Equal(t, websocket.TextMessage, mt)
	assert.Equal(t, text, string(p))
	for _, n := range binarySizes {
		b := randomBytes(n)
		require.NoError(t, c.WriteMessage(websocket.BinaryMessage, b))
		mt, p, err := c.ReadMessage()
		require.NoError(t, err)
		assert.Equal(t, websocket.BinaryMessage, mt)
		assert.True(t, bytes.Equal(b, p), "binary %d", n)
	}
	// A 1 KiB write buffer makes gorilla fragment a 10 KiB message.
	w, err := c.NextWriter(websocket.TextMessage)
	require.NoError(t, err)
	big := bytes.Repeat([]byte("分片"), 2000)
	w.Write(big)
	require.NoError(t, w.Close())
	_, p, err = c.ReadMessage()
	require.NoError(t, err)
	assert.Equal(t, string(big), string(p))

	pong := make(chan string, 1)
	c.SetPongHandler(func(a string) error { pong <- a; return nil })
	require.NoError(t, c.WriteControl(websocket.PingMessage, []byte("gorilla-ping"), time.Now().Add(time.Second)))
	go c.ReadMessage() // the pong handler runs inside a read
	select {
	case a := <-pong:
		assert.Equal(t, "gorilla-ping", a)
	case <-time.After(5 * time.Second):
		t.Fatal("no pong")
	}
	require.NoError(t, c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(4001, "bye 再见"), time.Now().Add(time.Second)))
	eventually(t, 2*time.Second, func() bool { return len(rec.list()) == 1 }, "no close recorded")
	assert.Equal(t, []frame.CloseCode{4001}, rec.list())
}

func TestGobwasClient(t *testing.T) {
	s, rec := startEcho(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, _, err := ws.Dial(ctx, "ws://"+s.Addr().String()+"/echo")
	require.NoError(t, err)
	defer c.Close()

	text := "发送数据 😀 hello"
	require.NoError(t, wsutil.WriteClientText(c, []byte(text)))
	p, op, err := wsutil.ReadServerData(c)
	require.NoError(t, err)
	assert.Equal(t, ws.OpText, op)
	assert.Equal(t, text, string(p))
	for _, n := range binarySizes {
		b := randomBytes(n)
		require.NoError(t, wsutil.WriteClientBinary(c, b))
		p, op, err := wsutil.ReadServerData(c)
		require.NoError(t, err)
		assert.Equal(t, ws.OpBinary, op)
		assert.True(t, bytes.Equal(b, p), "binary %d", n)
	}
	// A 512-byte writer buffer fragments the message.
	w := wsutil.NewWriterSize(c, ws.StateClientSide, ws.OpText, 512)
	big := bytes.Repeat([]byte("fragment "), 500)
	w.Write(big)
	require.NoError(t, w.Flush())
	p, _, err = wsutil.ReadServerData(c)
	require.NoError(t, err)
	assert.Equal(t, string(big), string(p))

	require.NoError(t, wsutil.WriteClientMessage(c, ws.OpPing, []byte("gobwas-ping")))
	f, err := ws.ReadFrame(c)
	require.NoError(t, err)
	assert.Equal(t, ws.OpPong, f.Header.OpCode)
	assert.Equal(t, "gobwas-ping", string(f.Payload))

	require.NoError(t, wsutil.WriteClientMessage(c, ws.OpClose, ws.NewCloseFrameBody(4001, "bye 再见")))
	f, err = ws.ReadFrame(c)
	require.NoError(t, err)
	assert.Equal(t, ws.OpClose, f.Header.OpCode)
	code, _ := ws.ParseCloseFrameData(f.Payload)
	assert.Equal(t, ws.StatusCode(4001), code)
	eventually(t, 2*time.Second, func() bool { return len(rec.list()) == 1 }, "no close recorded")
	assert.Equal(t, []frame.CloseCode{4001}, rec.list())
}
