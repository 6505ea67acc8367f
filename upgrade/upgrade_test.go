package upgrade

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func chromiumHead(t testing.TB) []byte {
	b, err := os.ReadFile("testdata/chromium-handshake.txt")
	require.NoError(t, err)
	return b
}

func TestAcceptRFCVector(t *testing.T) {
	acc := Accept([]byte("dGhlIHNhbXBsZSBub25jZQ=="))
	assert.Equal(t, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", string(acc[:]))
}

func TestParseChromium(t *testing.T) {
	head := chromiumHead(t)
	in := append(append([]byte(nil), head...), 0x81, 0x80) // a frame right behind the head
	req, n, err := Parse(in, 0)
	require.Nil(t, err)
	assert.Equal(t, len(head), n, "the head ends where the frames begin")
	require.Nil(t, req.Validate())
	assert.Equal(t, "GET", string(req.Method))
	assert.Equal(t, "/chat", string(req.Path))
	assert.Equal(t, "room=1", string(req.Query))
	assert.Equal(t, "127.0.0.1:61234", string(req.Host))
	assert.Equal(t, "http://127.0.0.1:61234", string(req.Origin))
	assert.Equal(t, "dB1ffifXxfgHEfPs5PvrfA==", string(req.Key))
	assert.Equal(t, "en-US,en;q=0.9", string(req.Header("accept-language")))
	assert.Nil(t, req.Header("Cookie"))
	var exts []string
	req.Extensions(func(e []byte) bool { exts = append(exts, string(e)); return true })
	assert.Equal(t, []string{"permessage-deflate; client_max_window_bits"}, exts)
	assert.Same(t, &in[4], &req.URI[0], "fields slice the input")

	resp := string(AppendResponse(nil, req.Key, ""))
	acc := Accept(req.Key)
	assert.Equal(t, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "+string(acc[:])+"\r\n\r\n", resp)
	assert.NotContains(t, resp, "Extensions", "extensions are not answered")
}

// Every prefix of a valid head asks for more, never fails.
func TestParseIncremental(t *testing.T) {
	head := chromiumHead(t)
	for i := range len(head) {
		_, n, err := Parse(head[:i], 0)
		require.ErrorIs(t, err, ErrIncomplete, "prefix %d", i)
		require.Zero(t, n)
	}
}

func TestParseEarlyGarbage(t *testing.T) {
	for _, in := range []string{"\x16\x03\x01\x02\x00", "{\"json\":1}", " GET / HTTP/1.1", "GET / HTTP/1.1 extra\r\n", "GET /\r\n", "GE\x00T"} {
		_, _, err := Parse([]byte(in), 0)
		var e *Error
		require.True(t, errors.As(err, &e), "%q: %v", in, err)
		assert.Equal(t, 400, e.Status, "%q", in)
		assert.NotContains(t, e.Msg, "\n")
	}
}

func TestParseTooLarge(t *testing.T) {
	in := "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 20<<10) + "\r\n\r\n"
	for _, cut := range []int{DefaultMaxHead, len(in)} {
		_, _, err := Parse([]byte(in[:cut]), 0)
		var e *Error
		require.True(t, errors.As(err, &e))
		assert.Equal(t, 431, e.Status)
	}
	_, _, err := Parse([]byte(in[:DefaultMaxHead-1]), 0)
	assert.ErrorIs(t, err, ErrIncomplete)
	_, _, err = Parse([]byte(in), 32<<10)
	assert.Nil(t, err, "the limit is configurable")
}

const good = "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"

func TestValidate(t *testing.T) {
	cases := []struct {
		name, in string
		status   int
		header   string
	}{
		{"good", good, 0, ""},
		{"connection list", strings.Replace(good, "Connection: Upgrade", "Connection: keep-alive, Upgrade", 1), 0, ""},
		{"connection split over lines", strings.Replace(good, "Connection: Upgrade", "Connection: keep-alive\r\nConnection: upgrade", 1), 0, ""},
		{"upgrade case", strings.Replace(good, "Upgrade: websocket", "upgrade: WebSocket", 1), 0, ""},
		{"POST", strings.Replace(good, "GET", "POST", 1), 405, "Allow: GET"},
		{"HTTP/1.0", strings.Replace(good, "HTTP/1.1", "HTTP/1.0", 1), 400, ""},
		{"no Host", strings.Replace(good, "Host: h\r\n", "", 1), 400, ""},
		{"two Hosts", strings.Replace(good, "Host: h\r\n", "Host: h\r\nHost: i\r\n", 1), 400, ""},
		{"plain GET", strings.Replace(good, "Upgrade: websocket\r\n", "", 1), 426, "Upgrade: websocket"},
		{"Upgrade h2c", strings.Replace(good, "Upgrade: websocket", "Upgrade: h2c", 1), 400, ""},
		{"Connection keep-alive", strings.Replace(good, "Connection: Upgrade", "Connection: keep-alive", 1), 400, ""},
		{"no key", strings.Replace(good, "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", "", 1), 400, ""},
		{"short key", strings.Replace(good, "dGhlIHNhbXBsZSBub25jZQ==", "dGhlIHNhbXBsZQ==", 1), 400, ""},
		{"key not base64", strings.Replace(good, "dGhlIHNhbXBsZSBub25jZQ==", "dGhlIHNhbXBsZSBub25jZ*==", 1), 400, ""},
		{"two keys", strings.Replace(good, "Sec-WebSocket-Version", "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\nSec-WebSocket-Version", 1), 400, ""},
		{"no version", strings.Replace(good, "Sec-WebSocket-Version: 13\r\n", "", 1), 400, ""},
		{"version 8", strings.Replace(good, "Version: 13", "Version: 8", 1), 426, "Sec-WebSocket-Version: 13"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _, err := Parse([]byte(tc.in), 0)
			require.Nil(t, err)
			err = req.Validate()
			if tc.status == 0 {
				require.Nil(t, err)
				return
			}
			var e *Error
			require.True(t, errors.As(err, &e), "%v", err)
			assert.Equal(t, tc.status, e.Status)
			assert.Contains(t, e.Header, tc.header)
			resp := string(AppendError(nil, e))
			assert.True(t, strings.HasPrefix(resp, "HTTP/1.1 "+itoa3(tc.status)+" "), resp)
			body := resp[strings.Index(resp, "\r\n\r\n")+4:]
			assert.Equal(t, 1, strings.Count(body, "\n"), "one-line body: %q", body)
			assert.Contains(t, resp, tc.header)
		})
	}
}

func itoa3(n int) string {
	return string([]byte{byte('0' + n/100), byte('0' + n/10%10), byte('0' + n%10)})
}

func TestMalformedHeaders(t *testing.T) {
	for _, in := range []string{
		"GET / HTTP/1.1\r\nHost: h\r\n folded\r\n\r\n",
		"GET / HTTP/1.1\r\nHost h\r\n\r\n",
		"GET / HTTP/1.1\r\nBad Name: h\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: h\nX: y\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\x01b\r\n\r\n",
		"GET / HTTX/1.1\r\n\r\n",
		"GET / HTTP/11\r\n\r\n",
	} {
		_, _, err := Parse([]byte(in), 0)
		var e *Error
		require.True(t, errors.As(err, &e), "%q: %v", in, err)
		assert.Equal(t, 400, e.Status, "%q", in)
	}
}

func TestProtocols(t *testing.T) {
	in := strings.Replace(good, "\r\n\r\n", "\r\nSec-WebSocket-Protocol: chat, superchat\r\nSec-WebSocket-Protocol: v2.json\r\n\r\n", 1)
	req, _, err := Parse([]byte(in), 0)
	require.Nil(t, err)
	var ps []string
	req.Protocols(func(p []byte) bool { ps = append(ps, string(p)); return true })
	assert.Equal(t, []string{"chat", "superchat", "v2.json"}, ps)
	assert.Equal(t, "v2.json", req.SelectProtocol([]string{"v2.json", "mqtt"}))
	assert.Equal(t, "", req.SelectProtocol([]string{"mqtt"}))
	assert.Contains(t, string(AppendResponse(nil, req.Key, "v2.json")), "\r\nSec-WebSocket-Protocol: v2.json\r\n")
}

func TestClientRoundTrip(t *testing.T) {
	key := NewKey()
	key2 := NewKey()
	assert.NotEqual(t, key, key2, "keys are fresh")
	reqBytes := AppendRequest(nil, ClientRequest{Host: "127.0.0.1:9", URI: "/ws/u1?since=3", Key: key[:], Origin: "http://x", Protocols: "chat"})
	req, n, err := Parse(reqBytes, 0)
	require.Nil(t, err)
	assert.Equal(t, len(reqBytes), n)
	require.Nil(t, req.Validate())
	assert.Equal(t, "/ws/u1", string(req.Path))

	resp := AppendResponse(nil, req.Key, "chat")
	for i := range len(resp) {
		_, _, err := ParseResponse(resp[:i], 0)
		require.ErrorIs(t, err, ErrIncomplete)
	}
	r, n, rerr := ParseResponse(resp, 0)
	require.NoError(t, rerr)
	assert.Equal(t, len(resp), n)
	assert.NoError(t, r.Check(key[:]))
	assert.Equal(t, "chat", string(r.Protocol))
	assert.ErrorIs(t, r.Check(key2[:]), ErrBadAccept)

	r, _, rerr = ParseResponse(AppendError(nil, errorf(404, "no route")), 0)
	require.NoError(t, rerr)
	assert.ErrorIs(t, r.Check(key[:]), ErrBadStatus)

	_, _, rerr = ParseResponse([]byte("SSH-2.0-OpenSSH\r\n"), 0)
	assert.ErrorIs(t, rerr, ErrBadHead)
}
