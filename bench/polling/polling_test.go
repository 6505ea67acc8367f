package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsd-dev/wsd/internal/testserver"
)

// The bytes this bench counts at its client sockets are the bytes tshark
// sees for the same exchange: three polls, and a WebSocket client
// receiving three notifications.
func TestByteCountsMatchTshark(t *testing.T) {
	tshark, err := exec.LookPath("tshark")
	require.NoError(t, err, "tshark is installed by make test")
	ts, err := testserver.Start(nil)
	require.NoError(t, err)
	defer ts.Stop()
	h, addr := ts.Hub, ts.Addr
	port := strconv.Itoa(int(ts.Srv.Addr().Port()))

	// tshark prints each packet as it captures it; the test waits on those
	// lines, not on time.
	cp, err := startCapture(tshark, port)
	require.NoError(t, err)
	defer cp.stop()
	// tshark says it is capturing a moment before the filter catches
	// packets: probe (a connection opened and closed, no payload) until a
	// probe is seen.
	require.True(t, cp.probe(addr, 10*time.Second), "tshark saw none of the probe connections")

	// Polls: three requests on one keep-alive connection.
	fix, err := os.ReadFile("testdata/chromium-fetch.txt")
	require.NoError(t, err)
	tmpl, err := newTemplate(fix, addr, 160)
	require.NoError(t, err)
	var st pollStats
	var on atomic.Bool
	pc := &pollClient{user: "alice", measure: &on, hist: &shardedHist{}}
	h.Publish("alice", []byte("T=1;k=U;id=1;hello"), false)
	for range 3 {
		require.NoError(t, pc.poll(tmpl, addr, "", &st, time.Now().Add(5*time.Second)))
	}
	pollPort := pc.raw.LocalAddr().String()
	pollPort = pollPort[strings.LastIndexByte(pollPort, ':')+1:]
	pc.reset(nil)

	// WebSocket: one client, three notifications.
	w, err := startWS(context.Background(), modeWS, addr, 0, 1)
	require.NoError(t, err)
	for i := range 3 {
		h.Publish("u0", []byte("T="+strconv.FormatInt(time.Now().UnixNano(), 10)+";k=U;id="+strconv.Itoa(i)+";"), false)
	}
	require.Eventually(t, func() bool { return w.latency().Count() == 3 }, 3*time.Second, 10*time.Millisecond)
	w.stop() // its close handshake is part of the exchange
	wsUp, wsDown := w.bytes()

	// The capture is complete once both connections were closed from both
	// sides in it: every payload byte goes before a FIN.
	var wsPort string
	closed := cp.until(10*time.Second, func(c *capture) bool {
		for uri, p := range c.uriPort {
			if strings.HasPrefix(uri, "/ws/u0?") {
				wsPort = p
			}
		}
		return wsPort != "" && c.ended(pollPort, port) && c.ended(port, pollPort) && c.ended(wsPort, port) && c.ended(port, wsPort)
	})
	sum := cp.stop()
	require.True(t, closed, "the capture did not see both connections end: ws port %q, ends %v, bytes %v", wsPort, cp.ends, sum)

	assert.Equal(t, sum[pollPort+">"+port], st.bytesOut.Load(), "poll requests: bench count vs tshark")
	assert.Equal(t, sum[port+">"+pollPort], st.bytesIn.Load(), "poll answers: bench count vs tshark")
	assert.Equal(t, sum[wsPort+">"+port], wsUp, "WebSocket: bench count vs tshark, client to server")
	assert.Equal(t, sum[port+">"+wsPort], wsDown, "WebSocket: bench count vs tshark, server to client")
	assert.Greater(t, st.requests.Load(), int64(2))
	t.Logf("polls: %d B up, %d B down; WebSocket: %d B up, %d B down — equal to tshark's", st.bytesOut.Load(), st.bytesIn.Load(), wsUp, wsDown)
}

// capture is a running tshark that prints one line per packet on the
// server's port: ports, payload length, flags, and the request URI of an
// HTTP request (the WebSocket upgrade included).
type capture struct {
	cmd     *exec.Cmd
	mu      sync.Mutex
	packets int
	sum     map[string]int64  // "src>dst" → TCP payload bytes
	ends    map[string]bool   // "src>dst" → a FIN or RST went that way
	uriPort map[string]string // request URI → the client's port
	pulse   chan struct{}     // a packet arrived
	done    chan struct{}     // tshark's output ended
}

func startCapture(tshark, port string) (*capture, error) {
	c := &capture{sum: map[string]int64{}, ends: map[string]bool{}, uriPort: map[string]string{},
		pulse: make(chan struct{}, 1), done: make(chan struct{})}
	c.cmd = exec.Command(tshark, "-i", "lo", "-f", "tcp port "+port, "-l", "-n", "-d", "tcp.port=="+port+",http",
		"-T", "fields", "-E", "separator=/t", "-e", "tcp.srcport", "-e", "tcp.dstport", "-e", "tcp.len", "-e", "tcp.flags", "-e", "http.request.uri")
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := c.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := c.cmd.Start(); err != nil {
		return nil, err
	}
	go c.read(stdout)
	// Started: tshark says "Capturing on 'Loopback: lo'" on stderr.
	capturing := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		said := false
		for sc.Scan() {
			if !said && strings.Contains(sc.Text(), "Capturing on") {
				said = true
				capturing <- true
			}
		}
		if !said {
			capturing <- false
		}
	}()
	select {
	case ok := <-capturing:
		if ok {
			return c, nil
		}
		c.stop()
		return nil, fmt.Errorf("tshark exited without capturing")
	case <-time.After(30 * time.Second):
		c.stop()
		return nil, fmt.Errorf("tshark did not start capturing within 30s")
	}
}

func (c *capture) read(r io.Reader) {
	defer close(c.done)
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		if len(f) < 4 {
			continue
		}
		n, _ := strconv.ParseInt(f[2], 10, 64)
		flags, _ := strconv.ParseUint(strings.TrimPrefix(f[3], "0x"), 16, 32)
		k := f[0] + ">" + f[1]
		c.mu.Lock()
		c.packets++
		c.sum[k] += n
		if flags&0x5 != 0 { // FIN or RST
			c.ends[k] = true
		}
		if len(f) > 4 && f[4] != "" {
			c.uriPort[f[4]] = f[0]
		}
		c.mu.Unlock()
		select {
		case c.pulse <- struct{}{}:
		default:
		}
	}
}

// until waits for cond over what was captured, checked at each packet,
// up to timeout; it says whether cond came true.
func (c *capture) until(timeout time.Duration, cond func(*capture) bool) bool {
	deadline := time.After(timeout)
	for {
		c.mu.Lock()
		ok := cond(c)
		c.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-c.pulse:
		case <-c.done:
			c.mu.Lock()
			defer c.mu.Unlock()
			return cond(c)
		case <-deadline:
			return false
		}
	}
}

// ended says whether a FIN or RST went from port src to port dst. Called
// under c.mu (from until).
func (c *capture) ended(src, dst string) bool { return c.ends[src+">"+dst] }

// probe opens and closes connections to addr until tshark shows a packet,
// each probe waiting up to 200 ms for it, all within timeout.
func (c *capture) probe(addr string, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if conn, err := net.Dial("tcp", addr); err == nil {
			conn.Close()
		}
		if c.until(200*time.Millisecond, func(c *capture) bool { return c.packets > 0 }) {
			return true
		}
	}
	return false
}

// stop ends tshark (by its PID) and returns the payload bytes per direction.
func (c *capture) stop() map[string]int64 {
	if c.cmd.ProcessState == nil {
		c.cmd.Process.Signal(os.Interrupt)
		select {
		case <-c.done:
		case <-time.After(10 * time.Second):
			c.cmd.Process.Kill()
		}
		c.cmd.Wait()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.sum)
}
