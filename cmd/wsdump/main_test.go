package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/internal/testkit"
	"github.com/wsd-dev/wsd/internal/testserver"
	"github.com/wsd-dev/wsd/internal/wstest"
	"github.com/wsd-dev/wsd/trace"
	"github.com/wsd-dev/wsd/upgrade"
	"github.com/wsd-dev/wsd/wsconn"
)

func startWSD(t *testing.T) string {
	s, err := testserver.Start(nil)
	require.NoError(t, err)
	t.Cleanup(s.Stop)
	return s.Addr
}

// startDump runs the proxy in this process and returns its address and
// the dump.
func startDump(t *testing.T, upstream string, jsonOut bool) (string, *testkit.SyncBuffer) {
	return startDumpWith(t, upstream, trace.Options{JSON: jsonOut})
}

// startDumpWith is startDump with the tracer's options.
func startDumpWith(t *testing.T, upstream string, opt trace.Options) (string, *testkit.SyncBuffer) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	out := &testkit.SyncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { serve(ctx, ln, upstream, trace.New(out, opt)); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return ln.Addr().String(), out
}

func jsonEvents(t *testing.T, s string) []map[string]any {
	var evs []map[string]any
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var m map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &m), "%s", sc.Text())
		evs = append(evs, m)
	}
	return evs
}

func TestRelayAndDump(t *testing.T) {
	addr, out := startDump(t, startWSD(t), false)
	c, err := wstest.Dial(addr, "/echo", "")
	require.NoError(t, err)
	c.Send(true, frame.OpText, []byte("through the proxy"))
	_, p, err := c.ReadMessage(2 * time.Second)
	require.NoError(t, err)
	assert.Equal(t, "through the proxy", string(p))
	c.Write(wstest.CloseFrame(1000, "done"))
	require.NoError(t, c.ExpectEOF(2*time.Second))
	c.Close() // as a browser does once the server has closed
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "connection ended") }, 3*time.Second, 10*time.Millisecond)
	dump := out.String()
	for _, want := range []string{"opening handshake: request", "✓ matches", `text    "through the proxy"`, "close   1000 Normal Closure", "between frames"} {
		assert.Contains(t, dump, want)
	}
}

// A server that is not WebSocket, and one that cuts a frame: the dump says
// what it saw, the relay carries the bytes, other connections go on.
func TestBadUpstreams(t *testing.T) {
	web := &http.Server{Handler: http.NotFoundHandler()}
	wl, _ := net.Listen("tcp", "127.0.0.1:0")
	go web.Serve(wl)
	defer web.Close()
	addr, out := startDump(t, wl.Addr().String(), true)
	_, err := wstest.Dial(addr, "/echo", "")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "404", "the client gets the upstream's answer through the relay")
	resp, err := http.Get("http://" + addr + "/anything")
	require.NoError(t, err, "a plain HTTP request is relayed too")
	resp.Body.Close()
	assert.Equal(t, 404, resp.StatusCode)

	// An upstream that answers 101 and cuts its first frame.
	cut, _ := net.Listen("tcp", "127.0.0.1:0")
	defer cut.Close()
	go func() {
		for {
			c, err := cut.Accept()
			if err != nil {
				return
			}
			buf := make([]byte, 4096)
			n, _ := c.Read(buf)
			k := strings.Index(string(buf[:n]), "Sec-WebSocket-Key: ")
			key := string(buf[k+19 : k+19+24])
			c.Write([]byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + acceptOf(key) + "\r\n\r\n"))
			c.Write([]byte{0x82, 0x7E, 0x01, 0x00, 1, 2, 3}) // 256 bytes announced, 3 sent
			c.Close()
		}
	}()
	addr2, out2 := startDump(t, cut.Addr().String(), true)
	c, err := wstest.Dial(addr2, "/x", "")
	require.NoError(t, err)
	c.ExpectEOF(2 * time.Second)
	c.Close()
	require.Eventually(t, func() bool { return strings.Contains(out2.String(), `"event":"end"`) }, 3*time.Second, 10*time.Millisecond)
	var end map[string]any
	for _, e := range jsonEvents(t, out2.String()) {
		if e["event"] == "end" {
			end = e
		}
	}
	assert.Contains(t, end["s2c"], "cut mid-frame: binary frame of 256 payload bytes, 3 received")
	evs := jsonEvents(t, out.String())
	var codes []float64
	for _, e := range evs {
		if e["event"] == "response" {
			codes = append(codes, e["http.response.code"].(float64))
		}
	}
	assert.Contains(t, codes, 404.0)
}

func acceptOf(key string) string {
	a := upgrade.Accept([]byte(key))
	return string(a[:])
}

// -max-message bounds what the dump inflates: a bomb through the proxy is
// reported at that limit, and the relay carries it on to the server
// (which closes with 1009 under its own limit).
func TestMaxMessageFlag(t *testing.T) {
	c, err := parseFlags(nil)
	require.NoError(t, err)
	assert.Equal(t, int64(trace.DefaultMaxMessage), c.opt.MaxMessage)
	c, err = parseFlags([]string{"-json", "-max-message", "4096"})
	require.NoError(t, err)
	require.Equal(t, int64(4096), c.opt.MaxMessage)

	s, err := testserver.Start(func(o *wsconn.Options) {
		o.Deflate = upgrade.DeflatePolicy{Mode: upgrade.DeflateOn}
		o.MaxMessage = 1 << 16
	})
	require.NoError(t, err)
	t.Cleanup(s.Stop)
	addr, out := startDumpWith(t, s.Addr, c.opt)
	ws, err := wstest.Dial(addr, "/echo", "Sec-WebSocket-Extensions: permessage-deflate")
	require.NoError(t, err)
	defer ws.Close()
	_, err = ws.Write(wstest.MaskedRsv(true, frame.Rsv1, frame.OpBinary, wstest.Deflate(make([]byte, 1<<20))))
	require.NoError(t, err)
	f, err := ws.ReadFrame(3 * time.Second)
	require.NoError(t, err)
	code, _ := f.Close()
	assert.Equal(t, frame.CloseMessageTooBig, code, "the server's own limit")
	require.Eventually(t, func() bool { c2s, _ := dumpedFrames(out.String()); return c2s == 1 }, 3*time.Second, 5*time.Millisecond)
	var bomb map[string]any
	for _, e := range jsonEvents(t, out.String()) {
		if e["event"] == "frame" && e["dir"] == "c2s" {
			bomb = e
		}
	}
	assert.Equal(t, true, bomb["wsd.deflate.bomb"])
	assert.Equal(t, 4096.0, bomb["wsd.deflate.limit"])
}
