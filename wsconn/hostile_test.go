package wsconn

import (
	"bytes"
	"encoding/binary"
	"net"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/internal/wstest"
	"github.com/wsd-dev/wsd/upgrade"
)

// rawHTTP sends b and returns everything the server answers until it
// closes the connection.
func rawHTTP(t *testing.T, addr string, b []byte) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	c.Write(b)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var out bytes.Buffer
	_, err = out.ReadFrom(c)
	if err != nil && !strings.Contains(err.Error(), "reset") {
		require.NoError(t, err)
	}
	return out.String()
}

func TestBadHandshakes(t *testing.T) {
	s, _ := startEcho(t, func(o *Options) { o.Origins = []string{"http://good.example"} })
	addr := s.Addr().String()
	good := "GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: http://good.example\r\n\r\n"
	cases := []struct {
		name, req, status string
	}{
		{"garbage", "\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03", "400"},
		{"20 KiB of headers", "GET /echo HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 20<<10) + "\r\n\r\n", "431"},
		{"POST", strings.Replace(good, "GET", "POST", 1), "405"},
		{"version 8", strings.Replace(good, "Version: 13", "Version: 8", 1), "426"},
		{"bad key", strings.Replace(good, "dGhlIHNhbXBsZSBub25jZQ==", "short", 1), "400"},
		{"refused origin", strings.Replace(good, "good.example", "evil.example", 1), "403"},
		{"unknown path", strings.Replace(good, "/echo", "/nowhere", 1), "404"},
		{"plain GET", "GET /other HTTP/1.1\r\nHost: x\r\n\r\n", "404"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := rawHTTP(t, addr, []byte(tc.req))
			require.True(t, strings.HasPrefix(resp, "HTTP/1.1 "+tc.status+" "), "got %q", resp)
			body := resp[strings.Index(resp, "\r\n\r\n")+4:]
			assert.Equal(t, 1, strings.Count(body, "\n"), "one-line body %q", body)
			assert.Greater(t, len(body), 5)
		})
	}
	resp := rawHTTP(t, addr, []byte(strings.Replace(good, "Version: 13", "Version: 8", 1)))
	assert.Contains(t, resp, "Sec-WebSocket-Version: 13\r\n")
	ok, err := wstest.Dial(addr, "/echo", "Origin: http://good.example")
	require.NoError(t, err, "the allowed origin is upgraded")
	ok.Close()
}

// A client that sends its handshake at 1 byte per 100 ms is cut at the
// handshake timeout; the server keeps serving others meanwhile.
func TestSlowlorisCutAtHandshakeTimeout(t *testing.T) {
	s, _ := startEcho(t, func(o *Options) { o.HandshakeTimeout = 500 * time.Millisecond })
	c, err := net.Dial("tcp", s.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	start := time.Now()
	req := "GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
	cut := make(chan time.Duration, 1)
	go func() {
		for i := range len(req) {
			if _, err := c.Write([]byte{req[i]}); err != nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		cut <- time.Since(start)
	}()
	// Meanwhile another client is served normally.
	other, err := wstest.Dial(s.Addr().String(), "/echo", "")
	require.NoError(t, err)
	defer other.Close()
	other.Send(true, frame.OpText, []byte("hi"))
	_, p, err := other.ReadMessage(2 * time.Second)
	require.NoError(t, err)
	assert.Equal(t, "hi", string(p))

	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = c.Read(make([]byte, 10))
	elapsed := time.Since(start)
	assert.Error(t, err, "the server closed the connection")
	assert.GreaterOrEqual(t, elapsed, 500*time.Millisecond)
	assert.Less(t, elapsed, 2*time.Second, "cut near the timeout, not at the end of the request")
	assert.Equal(t, int64(1), s.Stats().HandshakeTimeouts)
}

// A client that vanishes in the middle of a frame is cleaned up.
func TestVanishMidFrame(t *testing.T) {
	s, rec := startEcho(t, nil)
	c, err := wstest.Dial(s.Addr().String(), "/echo", "")
	require.NoError(t, err)
	f := wstest.Masked(true, frame.OpBinary, bytes.Repeat([]byte("z"), 100000))
	c.Write(f[:50000])
	eventually(t, 2*time.Second, func() bool { return s.Stats().MessageMemory > 0 }, "the partial message is held")
	c.Close()
	eventually(t, 2*time.Second, func() bool { return s.Conns() == 0 }, "connection not cleaned up")
	assert.Equal(t, []frame.CloseCode{frame.CloseAbnormal}, rec.list())
	assert.Zero(t, s.Stats().MessageMemory, "the partial message's buffer is given back")
}

// A client that never reads while the server writes is closed at the queue
// cap; the others are unaffected; server memory stays bounded.
func TestNeverReadingClientClosedAtQueueCap(t *testing.T) {
	const qcap = 256 << 10
	s, _ := startEcho(t, func(o *Options) { o.QueueCap = qcap; o.CloseTimeout = 300 * time.Millisecond })
	addr := s.Addr().String()
	slowC, err := wstest.Dial(addr, "/echo", "")
	require.NoError(t, err)
	defer slowC.Close()
	good, err := wstest.Dial(addr, "/echo", "")
	require.NoError(t, err)
	// Held to the end: once unused, a client's socket is closed by its
	// finalizer at the next GC, and the server sees both connections drop
	// (the flake this test had under load).
	defer good.Close()

	var ms0 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	// The slow client sends 64 KiB messages and never reads the echoes.
	msg := wstest.Masked(true, frame.OpBinary, bytes.Repeat([]byte("s"), 64<<10))
	sent := writeUntil(slowC, msg, 10*time.Second, func() bool { return s.Stats().SlowConsumerClose > 0 })
	eventually(t, 5*time.Second, func() bool { return s.Stats().SlowConsumerClose == 1 }, "the slow consumer was not closed (sent %d)", sent)
	// The good client is served all along.
	for i := range 20 {
		good.Send(true, frame.OpText, []byte("ping"))
		_, p, err := good.ReadMessage(2 * time.Second)
		require.NoError(t, err, "message %d", i)
		require.Equal(t, "ping", string(p))
	}
	eventually(t, 3*time.Second, func() bool { return s.Conns() == 1 }, "the slow consumer's connection is gone after the close timeout")
	var ms1 runtime.MemStats
	runtime.ReadMemStats(&ms1)
	assert.Less(t, int64(ms1.HeapInuse)-int64(ms0.HeapInuse), int64(8*qcap), "server memory stayed bounded")
	assert.Greater(t, sent, 4, "the client got to send more than the cap")
}

// With DropOldest the slow consumer loses its oldest queued messages
// instead, and only those: numbered messages arrive whole and in order,
// with one gap — the run that was queued first, after the frame already on
// the wire — as long as the drops counted, and the newest all arrive.
//
// The server writes the whole burst inside one OnMessage call, so that the
// loop cannot flush in between: the frame on the wire stays the same and
// the drops are one run. The client reads nothing until the burst is over.
func TestDropOldestPolicy(t *testing.T) {
	const (
		qcap  = 128 << 10
		size  = 8 << 10 // over the cork limit: each message goes to the socket or the queue by itself
		drops = 40      // the burst ends once this many were dropped
	)
	burstDone := make(chan int, 1) // messages sent
	s := startWith(t, func(o *Options) { o.QueueCap = qcap; o.DropOldest = true }, Routes{
		Upgrade: func(*Conn, *upgrade.Request) (Handler, *upgrade.Error) {
			return burstHandler(func(c *Conn) {
				p := make([]byte, size)
				n := 0
				for ; n < 200000 && c.Server().Stats().QueueDrops < drops; n++ {
					numbered(p, n)
					c.Send(frame.OpBinary, p)
				}
				c.Send(frame.OpText, []byte("end"))
				burstDone <- n
			}), nil
		}})
	c, err := wstest.Dial(s.Addr().String(), "/burst", "")
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Send(true, frame.OpText, []byte("go")))
	var sent int
	select {
	case sent = <-burstDone:
	case <-time.After(20 * time.Second):
		t.Fatal("the burst did not end")
	}
	dropped := s.Stats().QueueDrops
	require.GreaterOrEqual(t, dropped, int64(drops), "no drops counted (%d messages sent)", sent)
	assert.Zero(t, s.Stats().SlowConsumerClose)
	assert.Equal(t, 1, s.Conns(), "the connection stays open")

	// Read everything: whole numbered frames, in order, then "end".
	var got []int
	for {
		op, p, err := c.ReadMessage(5 * time.Second)
		require.NoError(t, err, "after message %v", got[max(len(got)-1, 0):])
		if op == frame.OpText {
			require.Equal(t, "end", string(p))
			break
		}
		require.Len(t, p, size)
		n := int(binary.BigEndian.Uint64(p))
		require.Equal(t, bytes.Repeat([]byte{byte(n)}, size-8), p[8:], "message %d arrived whole", n)
		if len(got) > 0 {
			require.Greater(t, n, got[len(got)-1], "in order, each once")
		}
		got = append(got, n)
	}
	require.NotEmpty(t, got)
	assert.Equal(t, sent-1, got[len(got)-1], "the newest message arrived")
	var gaps [][2]int // [first missing, last missing]
	prev := -1
	for _, n := range append(got, sent) { // sent: one past the last message
		if n != prev+1 {
			gaps = append(gaps, [2]int{prev + 1, n - 1})
		}
		prev = n
	}
	require.Len(t, gaps, 1, "one run dropped: %v", gaps)
	first, last := gaps[0][0], gaps[0][1]
	t.Logf("%d messages sent, %d..%d dropped (%d counted), %d after them", sent, first, last, dropped, sent-1-last)
	assert.Equal(t, dropped, int64(last-first+1), "the drops counted are the messages missing (%d..%d)", first, last)
	assert.Greater(t, first, 0, "the socket took messages before the queue filled")
	// After the run, everything arrived: the newest are kept, and the
	// queue held as many of them as its cap allows, no fewer.
	kept := sent - 1 - last
	frameSize := size + 4 // 2-byte header and 16-bit length
	assert.LessOrEqual(t, kept*frameSize, qcap, "kept after the run: %d", kept)
	assert.GreaterOrEqual(t, (kept+2)*frameSize, qcap, "dropped more than the cap needed: kept %d after the run", kept)
}

// burstHandler runs itself on each message the client sends.
type burstHandler func(c *Conn)

func (burstHandler) OnOpen(*Conn)                                  {}
func (h burstHandler) OnMessage(c *Conn, _ frame.Opcode, _ []byte) { h(c) }
func (burstHandler) OnClose(*Conn, frame.CloseCode, string)        {}

// numbered fills p with n: 8 bytes big-endian, then byte(n) repeated.
func numbered(p []byte, n int) {
	binary.BigEndian.PutUint64(p, uint64(n))
	for i := 8; i < len(p); i++ {
		p[i] = byte(n)
	}
}

// 5,000 connections opened and closed leave no fd, goroutine or memory
// behind.
func TestChurnLeavesNothingBehind(t *testing.T) {
	s, _ := startEcho(t, nil)
	addr := s.Addr().String()
	churn := func(n int) {
		for i := range n {
			c, err := wstest.Dial(addr, "/echo", "")
			require.NoError(t, err, "connection %d", i)
			if i%2 == 0 {
				c.Write(wstest.CloseFrame(1000, ""))
				c.ExpectEOF(5 * time.Second)
			}
			c.Close()
		}
		eventually(t, 10*time.Second, func() bool { return s.Conns() == 0 }, "connections left: %d", s.Conns())
	}
	churn(200) // warm up pools and the runtime
	runtime.GC()
	fds0, gr0 := openFDs(t), runtime.NumGoroutine()
	var ms0 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	churn(5000)
	runtime.GC()
	var ms1 runtime.MemStats
	runtime.ReadMemStats(&ms1)
	eventually(t, 5*time.Second, func() bool { return openFDs(t) <= fds0 }, "fds: %d before, %d after", fds0, openFDs(t))
	assert.LessOrEqual(t, runtime.NumGoroutine(), gr0+2, "goroutines")
	assert.Less(t, int64(ms1.HeapInuse)-int64(ms0.HeapInuse), int64(1<<20), "heap grew by %d bytes", int64(ms1.HeapInuse)-int64(ms0.HeapInuse))
	assert.Equal(t, int64(5200), s.Stats().Upgrades)
}

func openFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	return len(ents)
}

// writeUntil writes msg over and over, with blocking writes in a
// goroutine, until done() holds or the time is up; it returns the number
// of whole writes. A server that stopped reading would stall the writer
// and fail the caller's condition.
func writeUntil(c net.Conn, msg []byte, limit time.Duration, done func() bool) int {
	var n atomic.Int64
	var stop atomic.Bool
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for !stop.Load() {
			if _, err := c.Write(msg); err != nil {
				return
			}
			n.Add(1)
		}
	}()
	for end := time.Now().Add(limit); !done() && time.Now().Before(end); {
		time.Sleep(2 * time.Millisecond)
	}
	stop.Store(true)
	select {
	case <-finished:
	case <-time.After(2 * time.Second): // a write still blocked: unblock it
		c.SetWriteDeadline(time.Now())
		<-finished
	}
	c.SetWriteDeadline(time.Time{})
	return int(n.Load())
}
