package main

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
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

	pcap := filepath.Join(t.TempDir(), "poll.pcap")
	capture := exec.Command(tshark, "-i", "lo", "-f", "tcp port "+port, "-w", pcap)
	stderr, _ := capture.StderrPipe()
	require.NoError(t, capture.Start())
	sc := bufio.NewScanner(stderr)
	for sc.Scan() && !strings.Contains(sc.Text(), "Capturing on") {
	}
	go io.Copy(io.Discard, stderr)
	// tshark captures a moment after it says so: probe until a probe's bytes land.
	for i := 0; i < 25; i++ {
		h.Publish("probe", []byte("x"), false)
		if st, err := os.Stat(pcap); err == nil && st.Size() > 200 {
			break
		}
		exec.Command("curl", "-s", "http://"+addr+"/healthz").Run()
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)

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
	w, err := startWS(context.Background(), addr, 0, 1)
	require.NoError(t, err)
	for i := range 3 {
		h.Publish("u0", []byte("T="+strconv.FormatInt(time.Now().UnixNano(), 10)+";k=U;id="+strconv.Itoa(i)+";"), false)
	}
	require.Eventually(t, func() bool { return w.latency().Count() == 3 }, 3*time.Second, 10*time.Millisecond)
	w.stop() // its close handshake is part of the exchange
	wsUp, wsDown := w.bytes()
	time.Sleep(500 * time.Millisecond)
	capture.Process.Signal(os.Interrupt)
	capture.Wait()

	out, err := exec.Command(tshark, "-r", pcap, "-T", "fields", "-e", "tcp.srcport", "-e", "tcp.dstport", "-e", "tcp.len").Output()
	require.NoError(t, err)
	sum := map[string]int64{} // "src>dst" → payload bytes
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		n, _ := strconv.ParseInt(f[2], 10, 64)
		sum[f[0]+">"+f[1]] += n
	}
	assert.Equal(t, sum[pollPort+">"+port], st.bytesOut.Load(), "poll requests: bench count vs tshark")
	assert.Equal(t, sum[port+">"+pollPort], st.bytesIn.Load(), "poll answers: bench count vs tshark")
	var wsPort string
	for k := range sum {
		src, dst, _ := strings.Cut(k, ">")
		if dst == port && src != pollPort && sum[k] > 100 && k != pollPort+">"+port {
			if sum[k] == wsUp {
				wsPort = src
			}
		}
	}
	require.NotEmpty(t, wsPort, "no connection in the capture carries the WebSocket client's %d bytes up: %v", wsUp, sum)
	assert.Equal(t, sum[port+">"+wsPort], wsDown, "WebSocket: bench count vs tshark, server to client")
	assert.Greater(t, st.requests.Load(), int64(2))
	t.Logf("polls: %d B up, %d B down; WebSocket: %d B up, %d B down — equal to tshark's", st.bytesOut.Load(), st.bytesIn.Load(), wsUp, wsDown)
}
