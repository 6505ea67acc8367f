package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"github.com/wsd-dev/wsd/internal/testserver"
	"io"
	"log/slog"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/upgrade"
	"github.com/wsd-dev/wsd/wsconn"
)

// buildBins builds wsload and wsd into a temporary directory.
func buildBins(t *testing.T) (wsload, wsd string) {
	t.Helper()
	dir := t.TempDir()
	out, err := exec.Command("go", "build", "-o", dir+"/", ".", "../wsd").CombinedOutput()
	require.NoError(t, err, "%s", out)
	return filepath.Join(dir, "wsload"), filepath.Join(dir, "wsd")
}

var wsdListening = regexp.MustCompile(`msg="wsd listening" addr=(\S+)`)

// runWSDBin starts the wsd binary on a port it binds itself (-addr
// 127.0.0.1:0, named in its startup line); the test's end kills it by PID.
func runWSDBin(t *testing.T, bin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"-addr", "127.0.0.1:0"}, args...)...)
	pipe, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	done := make(chan struct{})
	t.Cleanup(func() { cmd.Process.Kill(); <-done })
	first := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pipe)
		if sc.Scan() {
			first <- sc.Text()
		}
		io.Copy(io.Discard, pipe)
		cmd.Wait()
		close(done)
	}()
	select {
	case line := <-first:
		m := wsdListening.FindStringSubmatch(line)
		require.NotNil(t, m, "startup line %q", line)
		return m[1]
	case <-time.After(10 * time.Second):
		t.Fatal("wsd: no startup line within 10 s")
		return ""
	}
}

// runBin runs the wsload binary (bounded by a context that kills it by
// PID) and returns its exit code and stdout.
func runBin(t *testing.T, bin string, args ...string) (int, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, stdout.Bytes()
	case errors.As(err, &exit):
		return exit.ExitCode(), stdout.Bytes()
	}
	t.Fatalf("wsload did not run: %v; stderr %s", err, stderr.String())
	return 0, nil
}

// wsload -deflate against the wsd binary with -deflate on and takeover,
// over two worker processes: every connection's answer counted, every echo
// checked after inflating, the payloads exactly what was sent, and the
// frames a fraction of them, in the JSON and in the text report.
func TestDeflateThroughTheBinaries(t *testing.T) {
	wsload, wsd := buildBins(t)
	for _, tc := range []struct {
		flags  []string
		answer string
	}{
		{[]string{"-deflate", "on"}, "permessage-deflate; server_no_context_takeover; client_no_context_takeover"},
		{[]string{"-deflate", "takeover", "-deflate-window-bits", "10"}, "permessage-deflate; server_max_window_bits=10; client_max_window_bits=10"},
	} {
		t.Run(tc.flags[1], func(t *testing.T) {
			addr := runWSDBin(t, wsd, tc.flags...)
			const conns, msgs, size = 40, 50, 1024
			code, out := runBin(t, wsload, "-url", "ws://"+addr+"/echo", "-c", "40", "-msgs", "50", "-size", "1024", "-window", "2",
				"-deflate", "-procs", "2", "-json")
			require.Equal(t, exitOK, code, "%s", out)
			var res result
			require.NoError(t, json.Unmarshal(out, &res), "%s", out)
			assert.Equal(t, 2, res.Procs)
			assert.Equal(t, map[string]int64{tc.answer: conns}, res.Extensions, "merged over the workers")
			assert.Equal(t, int64(conns*msgs), res.Echo.Received)
			assert.Zero(t, res.Echo.Mismatched)
			w := res.Wire
			assert.Equal(t, int64(conns*msgs*size), w.PayloadOut)
			assert.Equal(t, int64(conns*msgs*size), w.PayloadIn)
			assert.Less(t, w.RatioOut, 0.25, "sent compressed")
			assert.Less(t, w.RatioIn, 0.25, "echoed compressed")
			assert.InDelta(t, float64(w.FramesIn)/float64(w.PayloadIn), w.RatioIn, 1e-9, "the ratio of the merged sums")
			assert.Greater(t, w.HeadsOut, int64(conns*100))

			code, text := runBin(t, wsload, "-url", "ws://"+addr+"/echo", "-c", "4", "-msgs", "10", "-size", "1024", "-deflate")
			require.Equal(t, exitOK, code, "%s", text)
			assert.Contains(t, string(text), "extensions   "+tc.answer+": 4 connection(s)\n")
			assert.Regexp(t, `wire         out \d+ B of frames for 40960 B of payload \(0\.\d+\), in \d+ B for 40960 B`, string(text))
		})
	}
}

// An offer the server declines (server_max_window_bits=7 is not valid,
// RFC 7692 §7.1.2.1) runs plain and says so; one a server answers in a way
// the offer does not allow fails the connections.
func TestDeflateOfferThroughTheBinary(t *testing.T) {
	wsload, wsd := buildBins(t)
	addr := runWSDBin(t, wsd, "-deflate", "on")
	code, out := runBin(t, wsload, "-url", "ws://"+addr+"/echo", "-c", "10", "-msgs", "20", "-size", "512",
		"-deflate-offer", "permessage-deflate; server_max_window_bits=7", "-procs", "2", "-json")
	require.Equal(t, exitOK, code, "%s", out)
	var res result
	require.NoError(t, json.Unmarshal(out, &res))
	assert.Equal(t, map[string]int64{"none": 10}, res.Extensions)
	assert.Zero(t, res.Echo.Mismatched)
	assert.Greater(t, res.Wire.RatioOut, 1.0, "plain masked frames: more than their payloads")
	assert.Greater(t, res.Wire.RatioIn, 1.0)

	// The offer as is: no context takeover asked of the server, which wsd
	// -deflate on grants.
	code, out = runBin(t, wsload, "-url", "ws://"+addr+"/echo", "-c", "3", "-msgs", "5", "-size", "512",
		"-deflate-offer", "permessage-deflate; server_no_context_takeover", "-json")
	require.Equal(t, exitOK, code, "%s", out)
	res = result{}
	require.NoError(t, json.Unmarshal(out, &res))
	assert.Equal(t, map[string]int64{"permessage-deflate; server_no_context_takeover; client_no_context_takeover": 3}, res.Extensions)

	code, _ = runBin(t, wsload, "-deflate", "-deflate-offer", "permessage-deflate", "-url", "ws://"+addr+"/echo")
	assert.Equal(t, exitUsage, code, "one of the two")
}

// A server that corrupts echoes and sends them compressed: the binary
// counts the wrong ones (checked after inflating) and exits 1.
func TestDeflateCorruptEchoesThroughTheBinary(t *testing.T) {
	s, err := wsconn.New(wsconn.Options{Addr: "127.0.0.1:0", Deflate: upgrade.DeflatePolicy{Mode: upgrade.DeflateOn},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	require.NoError(t, s.Start(wsconn.Routes{Upgrade: func(*wsconn.Conn, *upgrade.Request) (wsconn.Handler, *upgrade.Error) {
		return &testserver.Corrupter{}, nil
	}}))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	wsload, _ := buildBins(t)
	code, out := runBin(t, wsload, "-url", "ws://"+s.Addr().String()+"/x", "-c", "3", "-msgs", "10", "-window", "4", "-size", "512", "-deflate", "-json")
	assert.Equal(t, exitFailures, code)
	var res result
	require.NoError(t, json.Unmarshal(out, &res), "%s", out)
	assert.Equal(t, int64(9), res.Echo.Mismatched, "3 wrong echoes per connection")
	assert.Equal(t, int64(3), res.Extensions["permessage-deflate; server_no_context_takeover; client_no_context_takeover"])
	assert.Less(t, res.Wire.RatioIn, 0.25, "the echoes came compressed")
}

// holder keeps every message it gets until release echoes them all.
type holder struct {
	mu   sync.Mutex
	held []heldMsg
}

type heldMsg struct {
	c  *wsconn.Conn
	op frame.Opcode
	p  []byte
}

func (h *holder) handler() wsconn.Handler { return holderConn{h} }

func (h *holder) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.held)
}

func (h *holder) release() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, m := range h.held {
		m.c.Send(m.op, m.p)
	}
}

type holderConn struct{ h *holder }

func (holderConn) OnOpen(*wsconn.Conn)                           {}
func (holderConn) OnClose(*wsconn.Conn, frame.CloseCode, string) {}
func (x holderConn) OnMessage(c *wsconn.Conn, op frame.Opcode, p []byte) {
	x.h.mu.Lock()
	x.h.held = append(x.h.held, heldMsg{c, op, append([]byte(nil), p...)})
	x.h.mu.Unlock()
}

// -payload json -msgs 1 -then-hold: every connection exchanges one JSON
// message (filling its context takeover windows) and then stays open; the
// READY line comes only once every echo is back (the server holds them
// until the test releases them), and a signal ends the run with the
// report.
func TestThenHoldAfterJSONEchoes(t *testing.T) {
	h := &holder{}
	s, err := wsconn.New(wsconn.Options{Addr: "127.0.0.1:0", Deflate: upgrade.DeflatePolicy{Mode: upgrade.DeflateTakeover, WindowBits: 10},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	require.NoError(t, s.Start(wsconn.Routes{Upgrade: func(*wsconn.Conn, *upgrade.Request) (wsconn.Handler, *upgrade.Error) {
		return h.handler(), nil
	}}))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	wsload, _ := buildBins(t)
	const conns = 30
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, wsload, "-url", "ws://"+s.Addr().String()+"/echo", "-c", "30", "-msgs", "1", "-size", "1024",
		"-payload", "json", "-deflate", "-then-hold", "-ready", "-json", "-duration", "50s")
	pipe, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	lines := make(chan string, 1000)
	go func() {
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	for deadline := time.Now().Add(20 * time.Second); h.count() < conns; time.Sleep(5 * time.Millisecond) {
		require.True(t, time.Now().Before(deadline), "the server got %d of %d messages", h.count(), conns)
	}
	// Every connection is open and has sent its message; no echo is back.
	select {
	case l := <-lines:
		t.Fatalf("wsload printed %q before its echoes came back", l)
	case <-time.After(300 * time.Millisecond): // a window in which an early READY would show
	}
	h.release()
	select {
	case l := <-lines:
		require.Regexp(t, `^READY 30 failed=0`, l)
	case <-time.After(20 * time.Second):
		t.Fatal("no READY after the echoes")
	}
	assert.Equal(t, int64(conns), s.Stats().Connections, "the connections held")
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	var out strings.Builder
	for l := range lines {
		out.WriteString(l)
	}
	require.NoError(t, cmd.Wait())
	var res result
	require.NoError(t, json.Unmarshal([]byte(out.String()), &res), "%s", out.String())
	assert.Equal(t, int64(conns), res.Echo.Received)
	assert.Zero(t, res.Echo.Mismatched)
	assert.Equal(t, map[string]int64{"permessage-deflate; server_max_window_bits=10; client_max_window_bits=10": conns}, res.Extensions)
	assert.Equal(t, int64(conns*1024), res.Wire.PayloadIn)
	assert.Less(t, res.Wire.RatioIn, 0.8, "JSON compresses, though not to nothing")
	assert.Greater(t, res.Wire.RatioIn, 0.2)

	code, _ := runBin(t, wsload, "-payload", "yaml", "-url", "ws://"+s.Addr().String()+"/echo")
	assert.Equal(t, exitUsage, code)
	code, _ = runBin(t, wsload, "-payload", "json", "-size", "64", "-url", "ws://"+s.Addr().String()+"/echo")
	assert.Equal(t, exitUsage, code, "too small for the JSON fields")
}
