package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/internal/testcert"
	"github.com/wsd-dev/wsd/internal/wstest"
)

// waitLine reads wsd's stderr until a line containing want.
func waitLine(t *testing.T, sc *bufio.Scanner, want string) string {
	t.Helper()
	got := make(chan string, 1)
	go func() {
		for sc.Scan() {
			if strings.Contains(sc.Text(), want) {
				got <- sc.Text()
				return
			}
		}
		close(got)
	}()
	select {
	case l, ok := <-got:
		require.True(t, ok, "wsd's stderr ended before %q", want)
		return l
	case <-time.After(10 * time.Second):
		t.Fatalf("no line with %q", want)
		return ""
	}
}

// peerCN dials addr with roots trusted and returns the certificate's
// common name.
func peerCN(t *testing.T, addr string, roots *x509.CertPool) string {
	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, ServerName: "localhost"})
	require.NoError(t, err)
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].Subject.CommonName
}

// -tls-cert/-tls-key: wss:// and the API over https://; SIGHUP loads a new
// pair while connections stay open (they keep theirs, new ones get the
// new certificate); a pair that does not load is logged and the current
// one kept.
func TestTLSFlagsAndReload(t *testing.T) {
	dir := t.TempDir()
	first, err := testcert.New("first")
	require.NoError(t, err)
	second, err := testcert.New("second")
	require.NoError(t, err)
	certFile, keyFile, err := first.Write(dir)
	require.NoError(t, err)
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(first.CertPEM)
	roots.AppendCertsFromPEM(second.CertPEM)

	cmd, sc, addr := startWSD(t, "-tls-cert", certFile, "-tls-key", keyFile)
	assert.Contains(t, waitLine(t, sc, `msg=TLS`), "CN=first")
	clientCfg := &tls.Config{RootCAs: roots, ServerName: "localhost"}

	// The API and the pages over https://.
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: clientCfg}, Timeout: 10 * time.Second}
	get := func(path string) string {
		resp, err := hc.Get("https://" + addr + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		require.Equal(t, 200, resp.StatusCode, "%s: %s", path, b)
		return string(b)
	}
	assert.Contains(t, get("/healthz"), "ok")

	// Live connections: a user that will get a publish, and echoes.
	user, err := wstest.DialTLS(addr, "/ws/alice", "", clientCfg)
	require.NoError(t, err)
	defer user.Close()
	_, hello, err := user.ReadMessage(5 * time.Second)
	require.NoError(t, err)
	assert.Contains(t, string(hello), `"type":"hello"`)
	var echoes []*wstest.Client
	for range 20 {
		c, err := wstest.DialTLS(addr, "/echo", "", clientCfg)
		require.NoError(t, err)
		defer c.Close()
		echoes = append(echoes, c)
	}

	// A new pair, then SIGHUP.
	_, _, err = second.Write(dir)
	require.NoError(t, err)
	require.NoError(t, cmd.Process.Signal(syscall.SIGHUP))
	assert.Contains(t, waitLine(t, sc, "TLS certificate reloaded"), "CN=second")
	assert.Equal(t, "second", peerCN(t, addr, roots), "new handshakes get the new certificate")
	for i, c := range echoes {
		assert.Equal(t, "first", c.Conn.(*tls.Conn).ConnectionState().PeerCertificates[0].Subject.CommonName)
		require.NoError(t, c.Send(true, frame.OpText, []byte("still here")), "conn %d", i)
		_, p, err := c.ReadMessage(5 * time.Second)
		require.NoError(t, err, "conn %d kept across the reload", i)
		assert.Equal(t, "still here", string(p))
	}
	resp, err := hc.Post("https://"+addr+"/publish/alice", "text/plain", strings.NewReader("after the reload"))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)
	_, msg, err := user.ReadMessage(5 * time.Second)
	require.NoError(t, err)
	assert.Contains(t, string(msg), "after the reload")
	assert.Contains(t, get("/stats"), `"tls_handshakes"`)

	// A key that does not match: logged, the current pair kept.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "key.pem"), first.KeyPEM, 0o600))
	require.NoError(t, cmd.Process.Signal(syscall.SIGHUP))
	line := waitLine(t, sc, "TLS certificate reload failed")
	assert.Contains(t, line, "CN=second", "the current one named")
	assert.Equal(t, "second", peerCN(t, addr, roots))
	assert.Contains(t, get("/healthz"), "ok")
}

// Half a pair, or one that does not load, stops wsd at start with a
// message.
func TestTLSFlagsRefused(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "wsd")
	out, err := runBuild(bin)
	require.NoError(t, err, "%s", out)
	dir := t.TempDir()
	p, err := testcert.New("x")
	require.NoError(t, err)
	certFile, _, err := p.Write(dir)
	require.NoError(t, err)
	for _, args := range [][]string{
		{"-tls-cert", certFile},
		{"-tls-cert", certFile, "-tls-key", filepath.Join(dir, "missing.pem")},
	} {
		out, err := runWSDOnce(bin, append([]string{"-addr", "127.0.0.1:0"}, args...)...)
		require.Error(t, err, "%v", args)
		assert.Contains(t, out, "wsd: TLS:", "%v", args)
	}
}

func runBuild(bin string) ([]byte, error) {
	return exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
}

// runWSDOnce runs bin to its end (a start that fails) and returns its output.
func runWSDOnce(bin string, args ...string) (string, error) {
	out, err := exec.Command(bin, args...).CombinedOutput()
	return string(out), err
}
