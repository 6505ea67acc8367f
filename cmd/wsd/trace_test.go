package main

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/internal/wstest"
)

// traced runs wsd with the trace flags, dumping to a file, and returns it
// with a function that reads the dump.
func traced(t *testing.T, bin string, flags ...string) (*proc, func() string) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "trace.out")
	p := runWSD(t, bin, append(flags, "-trace-file", file, "-no-color")...)
	return p, func() string {
		b, _ := os.ReadFile(file)
		return string(b)
	}
}

// open connects to uri and reads the first message: the hub's hello, or
// for /echo the echo of a probe. Once it returns, the connection's
// handshake and first frames are in the dump if it is traced: the tracer
// writes each event before the bytes go on.
func open(t *testing.T, addr, uri string) *wstest.Client {
	t.Helper()
	c, err := wstest.Dial(addr, uri, "")
	require.NoError(t, err, uri)
	t.Cleanup(func() { c.Close() })
	if uri == "/echo" {
		require.NoError(t, c.Send(true, frame.OpText, []byte("probe")))
	}
	_, _, err = c.ReadMessage(3 * time.Second)
	require.NoError(t, err, uri)
	return c
}

// requestLine is how the human dump shows a request's first line.
func requestLine(uri string) string { return "  GET " + uri + " HTTP/1.1\n" }

// -trace dumps every connection; -trace-path and -trace-user narrow it to
// the connections on a path prefix or of one user. Connections that must
// not appear are made first: once a later one is in the dump, theirs would
// be too.
func TestTraceFlagsChooseConnections(t *testing.T) {
	bin := buildWSD(t)
	for _, tc := range []struct {
		name     string
		flags    []string
		excluded []string // opened first
		included []string
	}{
		{"all", []string{"-trace"}, nil, []string{"/echo", "/ws/alice", "/ws/bob"}},
		{"path", []string{"-trace", "-trace-path", "/ws/"}, []string{"/echo"}, []string{"/ws/alice", "/ws/bob"}},
		{"user", []string{"-trace", "-trace-user", "alice"}, []string{"/ws/bob", "/echo"}, []string{"/ws/alice", "/ws?user=alice"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, dump := traced(t, bin, tc.flags...)
			for _, uri := range append(tc.excluded, tc.included...) {
				open(t, p.addr, uri)
			}
			eventually(t, 5*time.Second, func() bool {
				d := dump()
				for _, uri := range tc.included {
					if !strings.Contains(d, requestLine(uri)) {
						return false
					}
				}
				return true
			}, "the dump lacks one of %v:\n%s", tc.included, dump())
			d := dump()
			for _, uri := range tc.excluded {
				assert.NotContains(t, d, requestLine(uri), "%s is not to be traced", uri)
			}
			assert.Equal(t, len(tc.included), strings.Count(d, "opening handshake: request"), "one request per traced connection")
			assert.Contains(t, d, "opening handshake: response")
		})
	}
}

// -trace-json writes one JSON object per line with Wireshark's field names:
// the request, the 101 with the accept check, and each frame both ways,
// the client's masked with its key.
func TestTraceJSON(t *testing.T) {
	p, dump := traced(t, buildWSD(t), "-trace", "-trace-json", "-trace-user", "alice")
	open(t, p.addr, "/ws/bob")
	alice := open(t, p.addr, "/ws/alice")
	require.NoError(t, alice.Send(true, frame.OpText, []byte(`{"type":"read"}`)))
	_, _, err := alice.ReadMessage(3 * time.Second) // the unread count, after the read was dumped
	require.NoError(t, err)

	var events []map[string]any
	find := func(match func(e map[string]any) bool) map[string]any {
		for _, e := range events {
			if match(e) {
				return e
			}
		}
		return nil
	}
	c2sRead := func(e map[string]any) bool {
		return e["event"] == "frame" && e["dir"] == "c2s" && e["websocket.payload.text"] == `{"type":"read"}`
	}
	eventually(t, 5*time.Second, func() bool {
		events = nil
		sc := bufio.NewScanner(strings.NewReader(dump()))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var e map[string]any
			require.NoError(t, json.Unmarshal(sc.Bytes(), &e), "not a JSON line: %q", sc.Text())
			events = append(events, e)
		}
		return find(c2sRead) != nil
	}, "the client's frame is not in the dump:\n%s", dump())

	req := find(func(e map[string]any) bool { return e["event"] == "request" })
	require.NotNil(t, req)
	for _, e := range events {
		assert.Equal(t, req["conn"], e["conn"], "only alice's connection: %v", e)
		assert.NotEmpty(t, e["time"])
	}
	assert.Equal(t, "GET", req["http.request.method"])
	assert.Equal(t, "/ws/alice", req["http.request.uri"])
	assert.Equal(t, "HTTP/1.1", req["http.request.version"])
	assert.Len(t, req["websocket.key"], 24)
	resp := find(func(e map[string]any) bool { return e["event"] == "response" })
	require.NotNil(t, resp)
	assert.Equal(t, 101.0, resp["http.response.code"])
	assert.Equal(t, true, resp["wsd.accept.ok"])
	assert.Equal(t, resp["wsd.accept.expected"], resp["websocket.accept"])

	in := find(c2sRead)
	assert.Equal(t, true, in["websocket.fin"])
	assert.Equal(t, 1.0, in["websocket.opcode"])
	assert.Equal(t, true, in["websocket.mask"])
	assert.Equal(t, 15.0, in["websocket.payload_length"])
	key, err := hex.DecodeString(in["websocket.masking_key"].(string))
	require.NoError(t, err)
	require.Len(t, key, 4)
	masked, err := hex.DecodeString(in["websocket.masked_payload"].(string))
	require.NoError(t, err)
	frame.Mask([4]byte(key), 0, masked)
	assert.Equal(t, `{"type":"read"}`, string(masked), "the masked payload unmasks with the key")

	hello := find(func(e map[string]any) bool {
		s, _ := e["websocket.payload.text"].(string)
		return e["event"] == "frame" && e["dir"] == "s2c" && strings.HasPrefix(s, `{"type":"hello","user":"alice"`)
	})
	require.NotNil(t, hello, "the server's hello")
	assert.Equal(t, false, hello["websocket.mask"])
	assert.NotContains(t, hello, "websocket.masking_key")
	assert.Equal(t, 1.0, hello["websocket.opcode"])
}

// -trace with permessage-deflate through the binary: the dump shows what
// -deflate takeover agreed, and inflates both ways; the tracer inflates
// under wsd's own -max-message, so a bomb that wsd closes with 1009 is
// reported at that limit.
func TestTraceDeflate(t *testing.T) {
	p, dump := traced(t, buildWSD(t), "-trace", "-trace-json", "-deflate", "takeover", "-max-message", "4096")
	c, err := wstest.Dial(p.addr, "/echo", "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits")
	require.NoError(t, err)
	defer c.Close()
	body := strings.Repeat(`{"type":"message","body":"compressed"} `, 20)
	_, err = c.Write(wstest.MaskedRsv(true, frame.Rsv1, frame.OpText, wstest.Deflate([]byte(body))))
	require.NoError(t, err)
	f, err := c.ReadFrame(3 * time.Second)
	require.NoError(t, err)
	require.Equal(t, frame.Rsv1, f.Header.Rsv, "the echo comes back compressed")
	// Zeros that inflate past 4096 bytes: wsd closes with 1009.
	_, err = c.Write(wstest.MaskedRsv(true, frame.Rsv1, frame.OpBinary, wstest.Deflate(make([]byte, 1<<20))))
	require.NoError(t, err)
	f, err = c.ReadFrame(3 * time.Second)
	require.NoError(t, err)
	code, _ := f.Close()
	require.Equal(t, frame.CloseMessageTooBig, code)

	var events []map[string]any
	eventually(t, 5*time.Second, func() bool {
		events = nil
		sc := bufio.NewScanner(strings.NewReader(dump()))
		sc.Buffer(nil, 4<<20)
		for sc.Scan() {
			var e map[string]any
			require.NoError(t, json.Unmarshal(sc.Bytes(), &e), "not a JSON line: %q", sc.Text())
			events = append(events, e)
		}
		n := 0
		for _, e := range events {
			if e["event"] == "frame" {
				n++
			}
		}
		return n >= 4 // the message, its echo, the bomb and the close
	}, "the frames are not in the dump:\n%s", dump())
	var frames []map[string]any
	var resp map[string]any
	for _, e := range events {
		switch e["event"] {
		case "frame":
			frames = append(frames, e)
		case "response":
			resp = e
		}
	}
	require.NotNil(t, resp)
	neg := resp["wsd.deflate"].(map[string]any)
	assert.Equal(t, "permessage-deflate; server_max_window_bits=10; client_max_window_bits=10", neg["answer"])
	assert.Equal(t, map[string]any{"context_takeover": true, "window_bits": 10.0}, neg["c2s"])
	assert.Equal(t, map[string]any{"context_takeover": true, "window_bits": 10.0}, neg["s2c"])
	for _, i := range []int{0, 1} {
		assert.Equal(t, true, frames[i]["websocket.pmc"], "frame %d", i)
		assert.Equal(t, body, frames[i]["websocket.payload.text"], "frame %d, inflated", i)
	}
	assert.Equal(t, "c2s", frames[2]["dir"])
	assert.Equal(t, true, frames[2]["wsd.deflate.bomb"])
	assert.Equal(t, 4096.0, frames[2]["wsd.deflate.limit"], "wsd's -max-message")
	assert.Equal(t, 1009.0, frames[3]["websocket.payload.close.status_code"])
}
