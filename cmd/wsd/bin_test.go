package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// buildWSD builds the binary for one test.
func buildWSD(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "wsd")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "%s", out)
	return bin
}

// proc is a running wsd.
type proc struct {
	t    *testing.T
	cmd  *exec.Cmd
	addr string // what it listens on, from its startup line
	done chan struct{}

	mu     sync.Mutex
	stderr strings.Builder
	err    error // Wait's, once done is closed
}

var listenAddr = regexp.MustCompile(`msg="wsd listening" addr=(\S+)`)

// runWSD starts bin on a port the kernel chooses (-addr 127.0.0.1:0: it
// binds it itself and says which in its startup line); the test's end
// kills it by its PID if it still runs.
func runWSD(t *testing.T, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, cmd: exec.Command(bin, append([]string{"-addr", "127.0.0.1:0"}, args...)...), done: make(chan struct{})}
	pipe, err := p.cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, p.cmd.Start())
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
	})
	first := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pipe)
		for n := 0; sc.Scan(); n++ {
			if n == 0 {
				first <- sc.Text()
			}
			p.mu.Lock()
			p.stderr.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
		}
		close(first)
		err := p.cmd.Wait()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(p.done)
	}()
	select {
	case line := <-first:
		m := listenAddr.FindStringSubmatch(line)
		require.NotNil(t, m, "startup line %q", line)
		p.addr = m[1]
	case <-time.After(10 * time.Second):
		t.Fatal("no startup line within 10 s")
	}
	return p
}

// stop sends SIGTERM and waits for a clean exit.
func (p *proc) stop() {
	p.t.Helper()
	require.NoError(p.t, p.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.t.Fatal("wsd did not exit within 10 s of SIGTERM")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	require.NoError(p.t, p.err, "stderr:\n%s", p.stderr.String())
}

// log returns what wsd wrote on stderr so far.
func (p *proc) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// request makes an HTTP call to wsd and decodes the JSON answer.
func (p *proc) request(method, path, body string) (int, map[string]any) {
	p.t.Helper()
	req, err := http.NewRequest(method, "http://"+p.addr+path, strings.NewReader(body))
	require.NoError(p.t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(p.t, err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	require.NoError(p.t, json.Unmarshal(raw, &out), "%s %s answered %q", method, path, raw)
	return resp.StatusCode, out
}

// eventually polls cond until it holds or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, cond func() bool, msg string, args ...any) {
	t.Helper()
	for deadline := time.Now().Add(timeout); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf(msg, args...)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
