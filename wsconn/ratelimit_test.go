package wsconn

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/internal/wstest"
)

// A connection over -client-msg-rate is closed with 1008 "rate limit"
// once its burst (twice the rate) is spent; one that keeps to the rate is
// not.
func TestClientMsgRate(t *testing.T) {
	s, rec := startEcho(t, func(o *Options) { o.ClientMsgRate = 5 })
	fast, err := wstest.Dial(s.Addr().String(), "/echo", "")
	require.NoError(t, err)
	defer fast.Close()
	for range 30 {
		fast.Send(true, frame.OpText, []byte("x"))
	}
	echoes := 0
	for {
		f, err := fast.ReadFrame(3 * time.Second)
		require.NoError(t, err)
		if f.Header.OpCode == frame.OpClose {
			code, reason := f.Close()
			assert.Equal(t, frame.ClosePolicyViolation, code)
			assert.Equal(t, "rate limit", reason)
			break
		}
		echoes++
	}
	assert.Equal(t, 10, echoes, "the burst, twice the rate, then the close")
	fast.Close()
	eventually(t, 2*time.Second, func() bool { return len(rec.list()) == 1 }, "the close was not reported")
	assert.Equal(t, int64(1), s.Stats().RateLimited)

	// At the rate: every message echoed. (Five messages 220 ms apart
	// refill what each takes: the bucket never empties.)
	slow, err := wstest.Dial(s.Addr().String(), "/echo", "")
	require.NoError(t, err)
	defer slow.Close()
	tick := time.NewTicker(220 * time.Millisecond)
	defer tick.Stop()
	for i := range 15 {
		if i >= 10 {
			<-tick.C // past the burst: keep to the rate
		}
		slow.Send(true, frame.OpText, []byte("y"))
		op, _, err := slow.ReadMessage(3 * time.Second)
		require.NoError(t, err)
		require.Equal(t, frame.OpText, op, "message %d", i)
	}
	assert.Equal(t, []frame.CloseCode{frame.ClosePolicyViolation}, rec.list(), "the fast one closed with 1008, the slow one not")
}

// Over -handshake-rate an address's handshakes are answered 429 with
// Retry-After and a JSON reason; other addresses are not affected. (A rate
// of one per 10 s: the bucket, of one, does not refill during the test.)
func TestHandshakeRate(t *testing.T) {
	s, _ := startEcho(t, func(o *Options) { o.HandshakeRate = 0.1 })
	addr := s.Addr().String()
	var statuses []int
	var retry, body string
	for range 4 {
		st, ra, b := rawUpgrade(t, addr, "127.0.0.7")
		statuses = append(statuses, st)
		if st == 429 {
			retry, body = ra, b
		}
	}
	assert.Equal(t, []int{101, 429, 429, 429}, statuses)
	assert.Equal(t, "10", retry)
	assert.True(t, strings.HasPrefix(body, `{"error":"too many new connections`), body)
	st, _, _ := rawUpgrade(t, addr, "127.0.0.9")
	assert.Equal(t, 101, st, "another address has its own bucket")
	assert.Equal(t, int64(3), s.Stats().HandshakeLimited)
}

// rawUpgrade makes an upgrade request from src and returns the answer's
// status, Retry-After and body (none for a 101).
func rawUpgrade(t *testing.T, addr, src string) (int, string, string) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	conn, err := d.Dial("tcp", addr)
	require.NoError(t, err)
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	_, err = conn.Write([]byte("GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"))
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	if resp.StatusCode == 101 {
		return 101, "", ""
	}
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Retry-After"), string(b)
}
