package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	out := &testkit.SyncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { serve(ctx, ln, upstream, trace.New(out, trace.Options{JSON: jsonOut})); close(done) }()
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

// TestAgainstTshark captures a session on loopback with tshark while a
// client sends text, binary, a fragmented message, ping, pong and a close
// with a code, and checks every frame's fields in wsdump's JSON against
// tshark's dissection of the same bytes.
func TestAgainstTshark(t *testing.T) {
	tshark, err := exec.LookPath("tshark")
	require.NoError(t, err, "tshark is installed by make test")
	addr, out := startDump(t, startWSD(t), true)
	port := addr[strings.LastIndexByte(addr, ':')+1:]
	pcap := filepath.Join(t.TempDir(), "ws.pcap")
	// -P -l: besides writing the capture, print each packet's ports and
	// FIN flag as soon as it is captured, for the test to wait on.
	capture := exec.Command(tshark, "-i", "lo", "-f", "tcp port "+port, "-w", pcap, "-P", "-l",
		"-T", "fields", "-e", "tcp.srcport", "-e", "tcp.dstport", "-e", "tcp.flags.fin")
	stderr, _ := capture.StderrPipe()
	stdout, _ := capture.StdoutPipe()
	require.NoError(t, capture.Start())
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "Capturing on") {
				close(ready)
				io.Copy(io.Discard, stderr)
				return
			}
		}
	}()
	packets := make(chan packet, 1<<16)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if f := strings.Split(sc.Text(), "\t"); len(f) == 3 {
				packets <- packet{f[0], f[1], f[2] == "1" || strings.EqualFold(f[2], "true")}
			}
		}
		close(packets)
	}()
	select {
	case <-ready:
	case <-time.After(15 * time.Second):
		capture.Process.Kill()
		t.Fatal("tshark did not start capturing")
	}
	// tshark prints "Capturing on" a moment before packets are captured:
	// probe until it shows one of ours, so that the handshake is in the
	// capture.
	probed := time.After(15 * time.Second)
probe:
	for {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		c.Close()
		select {
		case _, ok := <-packets:
			require.True(t, ok, "tshark stopped")
			break probe
		case <-time.After(200 * time.Millisecond): // not captured yet: probe again
		case <-probed:
			capture.Process.Kill()
			t.Fatal("tshark captured none of the probes")
		}
	}

	c, err := wstest.Dial(addr, "/echo", "")
	require.NoError(t, err)
	clientPort := strconv.Itoa(c.LocalAddr().(*net.TCPAddr).Port)
	// What the echo server answers to each frame: nothing to a fragment
	// that does not end its message, nor to an unsolicited pong.
	steps := []struct {
		frame []byte
		reply string
	}{
		{wstest.Masked(true, frame.OpText, []byte("hello 发送数据")), "text"},
		{wstest.Masked(true, frame.OpBinary, []byte{0, 1, 2, 0xff}), "binary"},
		{wstest.Masked(true, frame.OpText, bytes.Repeat([]byte("m"), 300)), "text"},
		{wstest.Masked(false, frame.OpText, []byte("Hel")), ""},
		{wstest.Masked(false, frame.OpContinuation, []byte("lo ")), ""},
		{wstest.Masked(true, frame.OpContinuation, []byte("world")), "text"},
		{wstest.Masked(true, frame.OpPing, []byte("are you there")), "pong"},
		{wstest.Masked(true, frame.OpPong, []byte("unsolicited")), ""},
		{wstest.CloseFrame(4001, "bye"), "close"},
	}
	// One frame per TCP segment, as tshark shows them: each frame is
	// written once the previous one has gone through the proxy (the dump
	// shows it) and its answer has come back to the client.
	replies := 0
	for i, s := range steps {
		_, err := c.Write(s.frame)
		require.NoError(t, err)
		if s.reply != "" {
			f, err := c.ReadFrame(5 * time.Second)
			require.NoError(t, err, "step %d", i)
			assert.Equal(t, s.reply, f.Header.OpCode.String(), "the answer to step %d", i)
			replies++
		}
		require.Eventually(t, func() bool {
			c2s, s2c := dumpedFrames(out.String())
			return c2s == i+1 && s2c == replies
		}, 5*time.Second, 2*time.Millisecond, "the dump shows frame %d and the answers so far", i)
	}
	c.ExpectEOF(2 * time.Second)
	c.Close()
	// Stop capturing once tshark has shown both sides' FIN: every frame of
	// the session came before them.
	fins := map[string]bool{}
	finWait := time.After(10 * time.Second)
	for !fins[clientPort] || !fins[port] {
		select {
		case p, ok := <-packets:
			require.True(t, ok, "tshark stopped")
			if p.fin && (p.src == clientPort && p.dst == port || p.src == port && p.dst == clientPort) {
				fins[p.src] = true
			}
		case <-finWait:
			t.Fatalf("tshark did not show the session's FINs (seen from: %v)", fins)
		}
	}
	capture.Process.Signal(os.Interrupt)
	capture.Wait()

	fields := []string{"tcp.srcport", "websocket.fin", "websocket.rsv", "websocket.opcode", "websocket.mask", "websocket.payload_length",
		"websocket.payload_length_ext_16", "websocket.payload_length_ext_64", "websocket.masking_key", "websocket.payload.text",
		"websocket.payload.continue", "websocket.payload.ping", "websocket.payload.pong", "websocket.payload.close.status_code",
		"websocket.payload.close.reason", "data.data"}
	args := []string{"-r", pcap, "-d", "tcp.port==" + port + ",http", "-Y", "websocket", "-T", "fields", "-E", "separator=\x1f", "-E", "aggregator=\x1e"}
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	raw, err := exec.Command(tshark, args...).Output()
	require.NoError(t, err)

	var tsFrames [2][]map[string]string
	for _, line := range strings.Split(strings.TrimRight(string(raw), "\n"), "\n") {
		vals := strings.Split(line, "\x1f")
		require.Len(t, vals, len(fields), "%q", line)
		require.NotContains(t, line, "\x1e", "one WebSocket frame per packet: %q", line)
		m := map[string]string{}
		for i, f := range fields[1:] {
			if vals[i+1] != "" {
				m[f] = vals[i+1]
			}
		}
		dir := 0
		if vals[0] == port {
			dir = 1 // from the proxy to the client: the server's frames
		}
		tsFrames[dir] = append(tsFrames[dir], m)
	}
	require.Eventually(t, func() bool { return strings.Contains(out.String(), `"event":"end"`) }, 3*time.Second, 10*time.Millisecond)
	var ours [2][]map[string]any
	for _, e := range jsonEvents(t, out.String()) {
		if e["event"] != "frame" {
			continue
		}
		d := map[string]int{"c2s": 0, "s2c": 1}[e["dir"].(string)]
		ours[d] = append(ours[d], e)
	}
	require.Len(t, tsFrames[0], len(steps), "tshark saw every client frame")
	require.Len(t, ours[0], len(steps))
	require.Len(t, ours[1], len(tsFrames[1]), "the server's frames: %d by wsdump, %d by tshark", len(ours[1]), len(tsFrames[1]))
	compared := 0
	for d := range 2 {
		for i, ts := range tsFrames[d] {
			for f, want := range ts {
				got, ok := ours[d][i][f]
				require.True(t, ok, "dir %d frame %d: wsdump has no %s (tshark: %q)", d, i, f, want)
				assert.Equal(t, normalize(f, want), normalize(f, fmt.Sprint(got)), "dir %d frame %d field %s", d, i, f)
				compared++
			}
		}
	}
	t.Logf("%d frames, %d fields compared with tshark", len(tsFrames[0])+len(tsFrames[1]), compared)
	assert.Greater(t, compared, 80)
}

// packet is a captured packet as tshark printed it while capturing.
type packet struct {
	src, dst string // TCP ports
	fin      bool
}

// dumpedFrames counts the frame events of a JSON dump in each direction.
func dumpedFrames(dump string) (c2s, s2c int) {
	for _, l := range strings.Split(dump, "\n") {
		var e struct{ Event, Dir string }
		if json.Unmarshal([]byte(l), &e) != nil || e.Event != "frame" {
			continue
		}
		if e.Dir == "c2s" {
			c2s++
		} else {
			s2c++
		}
	}
	return c2s, s2c
}

// normalize puts tshark's and wsdump's renderings of a field in one form.
func normalize(field, v string) string {
	switch field {
	case "websocket.fin", "websocket.mask":
		if v == "1" || strings.EqualFold(v, "true") {
			return "true"
		}
		return "false"
	case "websocket.rsv", "websocket.opcode", "websocket.payload_length", "websocket.payload_length_ext_16",
		"websocket.payload_length_ext_64", "websocket.payload.close.status_code":
		n, err := strconv.ParseInt(v, 0, 64)
		if err != nil {
			return "bad number " + v
		}
		return strconv.FormatInt(n, 10)
	case "websocket.masking_key", "websocket.payload.continue", "websocket.payload.ping", "websocket.payload.pong", "data.data":
		return strings.ToLower(strings.ReplaceAll(v, ":", ""))
	}
	return v
}
