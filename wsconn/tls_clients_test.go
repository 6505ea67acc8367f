package wsconn

// Real TLS clients over wss:// against /echo: openssl s_client (TLS 1.3
// with each cipher suite and a KeyUpdate, TLS 1.2 with AES-GCM and
// ChaCha20), Node's ws, Python's websockets, headless Chromium (a page
// served over https:// by the HTTP hand-off, trusting the test
// certificate through --ignore-certificate-errors, in this test only).

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/internal/browser"
	"github.com/wsd-dev/wsd/internal/testkit"
	"github.com/wsd-dev/wsd/internal/wstest"
	"github.com/wsd-dev/wsd/upgrade"
)

// caFile writes the test certificate where a client can read it.
func caFile(t *testing.T) string {
	certFile, _, err := testPair().Write(t.TempDir())
	require.NoError(t, err)
	return certFile
}

// runScriptEnv is runScript with more environment.
func runScriptEnv(t *testing.T, env []string, name string, args ...string) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "%s: %s\n%s", name, out, stderr.String())
	var res map[string]any
	require.NoError(t, json.Unmarshal(out, &res), "output %q", out)
	return res
}

func TestTLSNodeWS(t *testing.T) {
	s, h := startTLSEcho(t, nil)
	res := runScriptEnv(t, []string{"WS_CA=" + caFile(t)}, "node", filepath.Join(repoRoot(t), "test/node/echo_client.js"), "wss://"+s.Addr().String()+"/echo")
	assertEchoChecks(t, res)
	assert.Equal(t, "TLSv1.3", res["tls"])
	st := <-h.opened
	assert.Equal(t, uint16(tls.VersionTLS13), st[0])
	t.Logf("node ws: %v %v (server: %s)", res["tls"], res["cipher"], tls.CipherSuiteName(st[1]))
	eventually(t, 2*time.Second, func() bool { return len(h.rec.list()) == 1 }, "no close recorded")
	assert.Equal(t, []frame.CloseCode{4001}, h.rec.list())
}

func TestTLSPythonWebsockets(t *testing.T) {
	s, h := startTLSEcho(t, nil)
	res := runScriptEnv(t, []string{"WS_CA=" + caFile(t)}, "/usr/bin/python3", filepath.Join(repoRoot(t), "test/python/echo_client.py"), "wss://"+s.Addr().String()+"/echo")
	assertEchoChecks(t, res)
	assert.Equal(t, "TLSv1.3", res["tls"])
	st := <-h.opened
	assert.Equal(t, uint16(tls.VersionTLS13), st[0])
	t.Logf("python websockets: %v %v (server: %s)", res["tls"], res["cipher"], tls.CipherSuiteName(st[1]))
	eventually(t, 2*time.Second, func() bool { return len(h.rec.list()) == 1 }, "no close recorded")
	assert.Equal(t, []frame.CloseCode{4001}, h.rec.list())
}

// sClient is a running openssl s_client.
type sClient struct {
	t     *testing.T
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *testkit.SyncBuffer
}

func startSClient(t *testing.T, addr string, args ...string) *sClient {
	t.Helper()
	args = append([]string{"s_client", "-connect", addr, "-servername", "localhost", "-CAfile", caFile(t), "-verify_return_error", "-msg"}, args...)
	cmd := exec.Command("openssl", args...)
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	out := &testkit.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		cmd.Process.Kill() // by its PID
		cmd.Wait()
	})
	return &sClient{t, cmd, stdin, out}
}

// waitFor waits until s_client's output holds want n times.
func (s *sClient) waitFor(want string, n int) {
	s.t.Helper()
	eventually(s.t, 10*time.Second, func() bool { return strings.Count(s.out.String(), want) >= n }, "s_client never printed %q %d times:\n%s", want, n, s.out)
}

func TestTLSOpenSSLClient(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatal("openssl not found (make test installs it)")
	}
	cases := []struct {
		name  string
		args  []string
		suite uint16
	}{
		{"TLS1.3-AES128", []string{"-tls1_3", "-ciphersuites", "TLS_AES_128_GCM_SHA256"}, tls.TLS_AES_128_GCM_SHA256},
		{"TLS1.3-AES256", []string{"-tls1_3", "-ciphersuites", "TLS_AES_256_GCM_SHA384"}, tls.TLS_AES_256_GCM_SHA384},
		{"TLS1.3-ChaCha20", []string{"-tls1_3", "-ciphersuites", "TLS_CHACHA20_POLY1305_SHA256"}, tls.TLS_CHACHA20_POLY1305_SHA256},
		{"TLS1.2-AES128", []string{"-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"}, tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
		{"TLS1.2-ChaCha20", []string{"-tls1_2", "-cipher", "ECDHE-ECDSA-CHACHA20-POLY1305"}, tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, h := startTLSEcho(t, nil)
			c := startSClient(t, s.Addr().String(), tc.args...)
			c.waitFor("Verify return code: 0 (ok)", 1)
			key := upgrade.NewKey()
			c.stdin.Write(upgrade.AppendRequest(nil, upgrade.ClientRequest{Host: "localhost", URI: "/echo", Key: key[:]}))
			c.waitFor("HTTP/1.1 101 Switching Protocols", 1)
			st := <-h.opened
			assert.Equal(t, tc.suite, st[1], "the suite the server runs")
			c.stdin.Write(wstest.Masked(true, frame.OpText, []byte("hello from openssl")))
			c.waitFor("hello from openssl", 1)
			if strings.HasPrefix(tc.name, "TLS1.3") {
				// "K" alone on a line: s_client sends a KeyUpdate asking for
				// ours; our KeyUpdate comes back, then data under new keys.
				c.stdin.Write([]byte("K\n"))
				c.waitFor(">>> TLS 1.3, Handshake [length 0005], KeyUpdate", 1)
				c.stdin.Write(wstest.Masked(true, frame.OpText, []byte("hello after KeyUpdate")))
				c.waitFor("hello after KeyUpdate", 1)
				c.waitFor("<<< TLS 1.3, Handshake [length 0005], KeyUpdate", 1)
			}
			c.stdin.Write(wstest.CloseFrame(4001, "bye"))
			eventually(t, 5*time.Second, func() bool { return len(h.rec.list()) == 1 }, "no close recorded:\n%s", c.out)
			assert.Equal(t, []frame.CloseCode{4001}, h.rec.list())
			if strings.HasPrefix(tc.name, "TLS1.3") {
				c.waitFor("<<< TLS 1.3, Alert [length 0002], warning close_notify", 1)
			} else {
				c.waitFor("<<< TLS 1.2, Alert [length 0002], warning close_notify", 1)
			}
		})
	}
}

// The page, served over https:// by the HTTP hand-off, opens wss:// to
// the same host and runs the echo checks of browser_test.go.
func TestTLSChromium(t *testing.T) {
	rec := &closeRecorder{}
	routes := echoRoutes(rec)
	routes.HTTP = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil {
			http.Error(w, "not over TLS", 500)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(strings.Replace(browserPage, "'ws://'", "'wss://'", 1)))
	})
	s := startWith(t, func(o *Options) { o.TLS = serverTLS() }, routes)
	ctx := browser.New(t, chromedp.Flag("ignore-certificate-errors", true))
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate("https://"+s.Addr().String()+"/")))
	var res map[string]any
	require.NoError(t, browser.WaitJSON(ctx, "window.result", &res, 30*time.Second))
	assert.Nil(t, res["error"])
	assert.Equal(t, []any{0.0, 1.0, 3.0}, res["states"], "readyState CONNECTING → OPEN → CLOSED")
	assert.Equal(t, true, res["text"])
	for _, n := range binarySizes {
		assert.Equal(t, true, res["binary_"+itoa(n)], "binary %d", n)
	}
	assert.Equal(t, 4001.0, res["code"])
	assert.Equal(t, true, res["wasClean"])
	eventually(t, 2*time.Second, func() bool { return len(rec.list()) == 1 }, "no close recorded")
	assert.Equal(t, []frame.CloseCode{4001}, rec.list())
	assert.GreaterOrEqual(t, s.Stats().TLSHandshakes, int64(2), "the page and the WebSocket")
}
