package main

import (
	"bufio"
	"net"
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
	"github.com/wsd-dev/wsd/internal/wstest"
)

// freeAddr picks a loopback port outside the ephemeral range's busy part.
func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().String()
}

// startWSD builds and starts the real binary; it returns the process and
// its stderr lines.
func startWSD(t *testing.T, args ...string) (*exec.Cmd, *bufio.Scanner, string) {
	bin := filepath.Join(t.TempDir(), "wsd")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "%s", out)
	addr := freeAddr(t)
	cmd := exec.Command(bin, append([]string{"-addr", addr}, args...)...)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	sc := bufio.NewScanner(stderr)
	require.True(t, sc.Scan(), "no startup line")
	line := sc.Text()
	assert.Contains(t, line, `msg="wsd listening"`)
	assert.Contains(t, line, "addr="+addr)
	return cmd, sc, addr
}

// SIGTERM: every connection gets a 1001 close, the process exits within
// the bound, and accepts stop.
func TestSignalClosesWith1001(t *testing.T) {
	cmd, sc, addr := startWSD(t, "-shutdown-timeout", "2s")
	var clients []*wstest.Client
	for range 5 {
		c, err := wstest.Dial(addr, "/echo", "")
		require.NoError(t, err)
		clients = append(clients, c)
	}
	rest := make(chan string, 1)
	go func() {
		var b strings.Builder
		for sc.Scan() {
			b.WriteString(sc.Text() + "\n")
		}
		rest <- b.String()
	}()
	start := time.Now()
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	for i, c := range clients {
		f, err := c.ReadFrame(3 * time.Second)
		require.NoError(t, err, "client %d", i)
		require.Equal(t, frame.OpClose, f.Header.OpCode)
		code, _ := f.Close()
		assert.Equal(t, frame.CloseGoingAway, code)
		if i%2 == 0 {
			c.Write(wstest.CloseFrame(frame.CloseGoingAway, ""))
		} // the others never answer: the bound applies
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		assert.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("wsd did not exit within its shutdown bound")
	}
	assert.Less(t, time.Since(start), 4*time.Second)
	assert.Contains(t, <-rest, "shutting down")
	_, err := net.DialTimeout("tcp", addr, time.Second)
	assert.Error(t, err, "no longer accepting")
}

func TestFlagsAndEcho(t *testing.T) {
	_, _, addr := startWSD(t, "-max-message", "1000", "-origins", "http://a.example")
	c, err := wstest.Dial(addr, "/echo", "Origin: http://a.example")
	require.NoError(t, err)
	defer c.Close()
	c.Send(true, frame.OpText, []byte("hello"))
	op, p, err := c.ReadMessage(2 * time.Second)
	require.NoError(t, err)
	assert.Equal(t, frame.OpText, op)
	assert.Equal(t, "hello", string(p))
	c.Send(true, frame.OpBinary, make([]byte, 1001))
	f, err := c.ReadFrame(2 * time.Second)
	require.NoError(t, err)
	code, _ := f.Close()
	assert.Equal(t, frame.CloseMessageTooBig, code, "-max-message applies")

	_, err = wstest.Dial(addr, "/echo", "Origin: http://b.example")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "403")
}

func TestMain(m *testing.M) { os.Exit(m.Run()) }
