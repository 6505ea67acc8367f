package main

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsd-dev/wsd/internal/testserver"
)

// startWSD runs wsd's server and hub in this process.
func startWSD(t *testing.T) string {
	s, err := testserver.Start(nil)
	require.NoError(t, err)
	t.Cleanup(s.Stop)
	return s.Addr
}

// startGorilla runs a gorilla/websocket echo server: wsload works against
// servers other than wsd.
func startGorilla(t *testing.T) string {
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for {
			mt, p, err := c.ReadMessage()
			if err != nil || c.WriteMessage(mt, p) != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func runJSON(t *testing.T, args ...string) (int, result) {
	t.Helper()
	var out, errb bytes.Buffer
	code, err := run(append(args, "-json"), &out, &errb)
	require.NoError(t, err, errb.String())
	var res result
	require.NoError(t, json.Unmarshal(out.Bytes(), &res), "output %q", out.String())
	return code, res
}

func TestEchoAgainstWSDAndGorilla(t *testing.T) {
	for name, addr := range map[string]string{"wsd": startWSD(t), "gorilla": startGorilla(t)} {
		t.Run(name, func(t *testing.T) {
			code, res := runJSON(t, "-url", "ws://"+addr+"/echo", "-c", "50", "-msgs", "200", "-window", "4", "-size", "100")
			assert.Equal(t, exitOK, code)
			assert.Equal(t, int64(50), res.Stats.Opened)
			require.NotNil(t, res.Echo)
			assert.Equal(t, int64(50*200), res.Echo.Received)
			assert.Zero(t, res.Echo.Mismatched)
			assert.Greater(t, res.Echo.MsgsPerSec, 0.0)
			assert.Equal(t, float64(50*200), res.Echo.LatencyMs["count"])
			assert.Greater(t, res.Echo.LatencyMs["p99"], 0.0)
			assert.Equal(t, float64(50), res.HandshakeMs["count"])
		})
	}
}

func TestRateModeAndThresholds(t *testing.T) {
	addr := startWSD(t)
	code, res := runJSON(t, "-url", "ws://"+addr+"/echo", "-c", "10", "-msgs", "20", "-msg-rate", "100", "-binary")
	assert.Equal(t, exitOK, code)
	assert.Equal(t, int64(200), res.Echo.Received)
	code, res = runJSON(t, "-url", "ws://"+addr+"/echo", "-c", "5", "-msgs", "10", "-max-p99", "1ns")
	assert.Equal(t, exitThreshold, code)
	require.Len(t, res.ThresholdsFailed, 1)
	assert.Contains(t, res.ThresholdsFailed[0], "max-p99")

	refused := func() string {
		l, _ := net.Listen("tcp", "127.0.0.1:0")
		defer l.Close()
		return l.Addr().String()
	}()
	code, res = runJSON(t, "-url", "ws://"+refused+"/echo", "-c", "5", "-scenario", "hold", "-duration", "1s", "-min-success", "0.9")
	assert.Equal(t, exitThreshold, code)
	assert.Equal(t, int64(5), res.Stats.Failures["refused"])
	assert.Contains(t, res.ThresholdsFailed[0], "min-success")
	code, _ = runJSON(t, "-url", "ws://"+refused+"/echo", "-c", "5", "-scenario", "hold", "-duration", "1s")
	assert.Equal(t, exitFailures, code, "failures without a threshold fail the run")
}

// A server that accepts and never answers: every connection is counted as
// a timeout and the run ends at its duration.
func TestNeverAnsweringServerEndsOnTime(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	start := time.Now()
	code, res := runJSON(t, "-url", "ws://"+l.Addr().String()+"/x", "-c", "20", "-connect-timeout", "500ms", "-duration", "2s")
	assert.Less(t, time.Since(start), 5*time.Second, "no hang past the duration")
	assert.Equal(t, exitFailures, code)
	assert.Equal(t, int64(20), res.Stats.Failures["timeout"])
}

func TestChurnAndPush(t *testing.T) {
	addr := startWSD(t)
	code, res := runJSON(t, "-url", "ws://"+addr+"/ws/c{i}", "-scenario", "churn", "-c", "300", "-rate", "1000", "-churn-hold", "20ms")
	assert.Equal(t, exitOK, code)
	assert.Equal(t, int64(300), res.Stats.Closed, "300 connect/close cycles")

	code, res = runJSON(t, "-url", "ws://"+addr+"/ws/p{i}", "-scenario", "push", "-c", "50",
		"-publish-url", "http://"+addr+"/broadcast", "-publish-rate", "20", "-publish-count", "5")
	assert.Equal(t, exitOK, code)
	require.NotNil(t, res.Push)
	assert.Equal(t, int64(5), res.Push.Published.OK)
	assert.Equal(t, int64(250), res.Push.Stamped, "every receiver got every broadcast")
	assert.Equal(t, float64(250), res.Push.Summary["B"]["count"])
	assert.Len(t, res.Push.LastByID, 5)
}

func TestConfigFile(t *testing.T) {
	addr := startWSD(t)
	cfg := filepath.Join(t.TempDir(), "load.json")
	require.NoError(t, os.WriteFile(cfg, []byte(`{"url":"ws://`+addr+`/echo","c":7,"msgs":3,"size":40}`), 0o644))
	code, res := runJSON(t, "-config", cfg, "-c", "9") // the command line wins
	assert.Equal(t, exitOK, code)
	assert.Equal(t, int64(9), res.Stats.Opened)
	assert.Equal(t, int64(27), res.Echo.Received)
	require.NoError(t, os.WriteFile(cfg, []byte(`{"nope":1}`), 0o644))
	var out, errb bytes.Buffer
	code, err := run([]string{"-config", cfg}, &out, &errb)
	assert.Equal(t, exitUsage, code)
	assert.ErrorContains(t, err, "unknown setting")
}

// -procs runs workers (this binary again) and merges their results.
func TestProcsMergeWorkers(t *testing.T) {
	addr := startWSD(t)
	bin := filepath.Join(t.TempDir(), "wsload")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "%s", out)
	cmd := exec.Command(bin, "-url", "ws://"+addr+"/echo?w={i}", "-scenario", "echo", "-c", "90", "-procs", "3", "-msgs", "10", "-json", "-ready")
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Run())
	text := stdout.String()
	require.True(t, strings.HasPrefix(text, "READY 90\n"), "one READY when all workers are ready: %q", text[:min(40, len(text))])
	var res result
	require.NoError(t, json.Unmarshal([]byte(strings.TrimPrefix(text, "READY 90\n")), &res))
	assert.Equal(t, 3, res.Procs)
	assert.Equal(t, int64(90), res.Stats.Opened)
	assert.Equal(t, int64(900), res.Echo.Received)
	assert.Equal(t, float64(900), res.Echo.LatencyMs["count"], "histograms merged")
}
