package trace

import (
	"bufio"
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/internal/wstest"
	"github.com/wsd-dev/wsd/upgrade"
)

const key = "dGhlIHNhbXBsZSBub25jZQ=="

var request = "GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key +
	"\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: chat, v2\r\n\r\n"

func response() []byte { return upgrade.AppendResponse(nil, []byte(key), "chat") }

// events decodes JSON lines.
func events(t *testing.T, out *bytes.Buffer) []map[string]any {
	t.Helper()
	var evs []map[string]any
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var m map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &m), "%s", sc.Text())
		evs = append(evs, m)
	}
	return evs
}

func ofKind(evs []map[string]any, kind string) []map[string]any {
	var out []map[string]any
	for _, e := range evs {
		if e["event"] == kind {
			out = append(out, e)
		}
	}
	return out
}

// feedChunked feeds b in random pieces.
func feedChunked(c *Conn, d Direction, b []byte, rng *rand.Rand) {
	for len(b) > 0 {
		k := min(len(b), 1+rng.IntN(9))
		c.Feed(d, b[:k])
		b = b[k:]
	}
}

func TestSessionJSON(t *testing.T) {
	for seed := range uint64(5) {
		rng := rand.New(rand.NewPCG(seed, 1))
		var out bytes.Buffer
		tr := New(&out, Options{JSON: true})
		c := tr.Conn("127.0.0.1:1", "127.0.0.1:2")
		feedChunked(c, ClientToServer, []byte(request), rng)
		feedChunked(c, ServerToClient, response(), rng)
		client := bytes.Join([][]byte{
			wstest.Masked(true, frame.OpText, []byte("hello 发送")),
			wstest.Masked(false, frame.OpText, []byte("Hel")),
			wstest.Masked(true, frame.OpPing, []byte("p")),
			wstest.Masked(false, frame.OpContinuation, []byte("lo ")),
			wstest.Masked(true, frame.OpContinuation, []byte("world")),
			wstest.Masked(true, frame.OpBinary, bytes.Repeat([]byte{7}, 70000)),
			wstest.CloseFrame(1000, "bye"),
		}, nil)
		feedChunked(c, ClientToServer, client, rng)
		feedChunked(c, ServerToClient, wstest.Unmasked(true, frame.OpPong, []byte("p")), rng)
		c.End("test over")

		evs := events(t, &out)
		require.Len(t, ofKind(evs, "request"), 1)
		resp := ofKind(evs, "response")
		require.Len(t, resp, 1)
		assert.Equal(t, true, resp[0]["wsd.accept.ok"])
		assert.Equal(t, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", resp[0]["wsd.accept.expected"], "the RFC's example key")
		assert.Equal(t, "b37a4f2cc0624f1690f64606cf385945b2bec4ea", resp[0]["wsd.accept.sha1"])
		assert.Equal(t, "chat", resp[0]["websocket.protocol"])
		frames := ofKind(evs, "frame")
		require.Len(t, frames, 8)
		assert.Equal(t, "hello 发送", frames[0]["websocket.payload.text"])
		assert.Equal(t, "first", frames[1]["wsd.fragment"])
		assert.Equal(t, "70", frames[2]["websocket.payload.ping"], "a control frame between fragments")
		assert.Equal(t, "middle", frames[3]["wsd.fragment"])
		assert.Equal(t, "last", frames[4]["wsd.fragment"])
		assert.Equal(t, "Hello world", frames[4]["websocket.payload.text"], "reassembled on the last fragment")
		assert.Equal(t, float64(127), frames[5]["websocket.payload_length"])
		assert.Equal(t, float64(70000), frames[5]["websocket.payload_length_ext_64"])
		assert.Equal(t, float64(1000), frames[6]["websocket.payload.close.status_code"])
		assert.Equal(t, "bye", frames[6]["websocket.payload.close.reason"])
		assert.Equal(t, "s2c", frames[7]["dir"])
		for _, f := range frames {
			assert.Nil(t, f["violations"], "a clean session: %v", f)
		}
		end := ofKind(evs, "end")
		require.Len(t, end, 1)
		assert.Equal(t, "between frames", end[0]["c2s"])
	}
}

func TestViolationsFlaggedParsingGoesOn(t *testing.T) {
	var out bytes.Buffer
	tr := New(&out, Options{JSON: true})
	c := tr.Conn("a", "b")
	c.Feed(ClientToServer, []byte(request))
	c.Feed(ServerToClient, response())
	for _, f := range [][]byte{
		wstest.Unmasked(true, frame.OpText, []byte("no mask")),
		wstest.Masked(true, 3, nil),
		wstest.Masked(true, frame.OpContinuation, []byte("x")),
		wstest.Masked(true, frame.OpText, []byte{0xed, 0xa0, 0x80}),
		wstest.Masked(true, frame.OpClose, []byte{0x03, 0xED}),
		wstest.Masked(true, frame.OpText, []byte("still parsed")),
	} {
		c.Feed(ClientToServer, f)
	}
	c.Feed(ServerToClient, wstest.Masked(true, frame.OpText, []byte("masked by the server")))
	frames := ofKind(events(t, &out), "frame")
	require.Len(t, frames, 7)
	section := func(f map[string]any) string {
		vs, _ := f["violations"].([]any)
		if len(vs) == 0 {
			return ""
		}
		return vs[0].(map[string]any)["section"].(string)
	}
	assert.Equal(t, "5.1", section(frames[0]))
	assert.Equal(t, "5.2", section(frames[1]))
	assert.Equal(t, "5.4", section(frames[2]))
	assert.Equal(t, "8.1", section(frames[3]))
	assert.Equal(t, "7.4", section(frames[4]))
	assert.Equal(t, "", section(frames[5]))
	assert.Equal(t, "still parsed", frames[5]["websocket.payload.text"])
	assert.Equal(t, "5.1", section(frames[6]), "server frames must not be masked")
}

func TestGarbageAndNonWebSocketUpstream(t *testing.T) {
	var out bytes.Buffer
	tr := New(&out, Options{JSON: true})
	g := tr.Conn("a", "b")
	g.Feed(ClientToServer, []byte("\x16\x03\x01\x00\xa5 TLS hello"))
	g.Feed(ClientToServer, bytes.Repeat([]byte{1}, 100))
	g.End("client left")

	h := tr.Conn("a", "b")
	h.Feed(ClientToServer, []byte(request))
	h.Feed(ServerToClient, []byte("HTTP/1.1 404 Not Found\r\nContent-Length: 5\r\n\r\nnope!"))
	h.Feed(ClientToServer, []byte("more bytes"))
	h.End("server closed")
	evs := events(t, &out)
	nh := ofKind(evs, "not-http")
	require.Len(t, nh, 1)
	assert.Contains(t, nh[0]["reason"], "not an HTTP request")
	ends := ofKind(evs, "end")
	require.Len(t, ends, 2)
	assert.Contains(t, ends[0]["c2s"], "115 bytes relayed unparsed")
	assert.Equal(t, float64(404), ofKind(evs, "response")[0]["http.response.code"])
	assert.Contains(t, ends[1]["c2s"], "relayed unparsed")
	assert.Empty(t, ofKind(evs, "frame"))
}

func TestCutMidFrameAndBrokenHeader(t *testing.T) {
	var out bytes.Buffer
	tr := New(&out, Options{})
	c := tr.Conn("a", "b")
	c.Feed(ClientToServer, []byte(request))
	c.Feed(ServerToClient, response())
	f := wstest.Masked(true, frame.OpBinary, bytes.Repeat([]byte("z"), 1000))
	c.Feed(ClientToServer, f[:300])
	c.Feed(ServerToClient, []byte{0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0}) // 64-bit length with the high bit set
	c.Feed(ServerToClient, []byte("and more"))
	c.End("client vanished")
	text := out.String()
	assert.Contains(t, text, "cut mid-frame: binary frame of 1000 payload bytes, 292 received")
	assert.Contains(t, text, "parsing stopped (the relay goes on)")
	assert.Contains(t, text, "most significant bit")
	assert.Contains(t, text, "8 bytes relayed after that")
	assert.NotContains(t, text, "\033[", "no colour unless asked")
}

func TestHumanFormatTeaches(t *testing.T) {
	var out bytes.Buffer
	tr := New(&out, Options{Color: true})
	c := tr.Conn("a", "b")
	c.Feed(ClientToServer, []byte(request))
	c.Feed(ServerToClient, response())
	c.Feed(ClientToServer, wstest.Masked(true, frame.OpText, []byte("Hello")))
	text := out.String()
	for _, want := range []string{
		"Sec-WebSocket-Accept, step by step",
		`key + GUID   "dGhlIHNhbXBsZSBub25jZQ==258EAFA5-E914-47DA-95CA-C5AB0DC85B11"`,
		"SHA-1        b37a4f2cc0624f1690f64606cf385945b2bec4ea",
		"✓ matches",
		"subprotocols offered: chat, v2",
		"7-bit encoding",
		`text    "Hello"`,
		"\033[",
	} {
		assert.Contains(t, text, want)
	}
	assert.True(t, strings.Count(text, "──") >= 3)
}
