// Package proc starts and measures the processes of a benchmark run: RSS,
// CPU seconds and open fds from /proc, and processes stopped by PID.
package proc

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Process is a started benchmark process.
type Process struct {
	Name string
	Cmd  *exec.Cmd
	Out  *bufio.Scanner // its stdout, line by line
}

// Start runs bin with args; stderr goes to errw.
func Start(name, bin string, errw io.Writer, args ...string) (*Process, error) {
	cmd := exec.Command(bin, args...)
	cmd.Stderr = errw
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	return &Process{Name: name, Cmd: cmd, Out: bufio.NewScanner(out)}, nil
}

// PID returns the process id.
func (p *Process) PID() int { return p.Cmd.Process.Pid }

// WaitLine reads stdout until a line with prefix arrives (or the timeout).
func (p *Process) WaitLine(prefix string, timeout time.Duration) (string, error) {
	got := make(chan string, 1)
	go func() {
		for p.Out.Scan() {
			if strings.HasPrefix(p.Out.Text(), prefix) {
				got <- p.Out.Text()
				return
			}
		}
		close(got)
	}()
	select {
	case l, ok := <-got:
		if !ok {
			return "", fmt.Errorf("%s exited before printing %q", p.Name, prefix)
		}
		return l, nil
	case <-time.After(timeout):
		return "", fmt.Errorf("%s did not print %q within %v", p.Name, prefix, timeout)
	}
}

// Stop sends SIGTERM to the process (by PID), waits up to grace, then kills.
func (p *Process) Stop(grace time.Duration) {
	p.Cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { p.Cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(grace):
		p.Cmd.Process.Kill()
		<-done
	}
}

// StopJSON sends SIGTERM to a process that prints a JSON report when
// signalled (wsload -json), reads the rest of its stdout (READY lines
// left out) and decodes it into out; after grace the process is killed.
func (p *Process) StopJSON(grace time.Duration, out any) error {
	p.Cmd.Process.Signal(syscall.SIGTERM)
	kill := time.AfterFunc(grace, func() { p.Cmd.Process.Kill() })
	defer kill.Stop()
	var b strings.Builder
	for p.Out.Scan() {
		if !strings.HasPrefix(p.Out.Text(), "READY") {
			b.WriteString(p.Out.Text())
		}
	}
	p.Cmd.Wait()
	if err := json.Unmarshal([]byte(b.String()), out); err != nil {
		return fmt.Errorf("%s printed %.300q: %w", p.Name, b.String(), err)
	}
	return nil
}

// RSS returns the resident set size in bytes.
func RSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS for pid %d", pid)
}

// CPU returns user+system CPU time of the process (all threads).
func CPU(pid int) (time.Duration, error) {
	u, k, err := Times(pid)
	return u + k, err
}

// Times returns the user and the kernel CPU time a process has used so
// far. On loopback the kernel part also holds the receivers' TCP work,
// which runs in the sender's softirq.
func Times(pid int) (user, kernel time.Duration, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	s := string(b)
	rest := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, err1 := strconv.ParseInt(rest[11], 10, 64) // field 14
	st, err2 := strconv.ParseInt(rest[12], 10, 64) // field 15
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("parse /proc/%d/stat: %.80q", pid, s)
	}
	const hz = 100 // USER_HZ on Linux
	return time.Duration(ut) * time.Second / hz, time.Duration(st) * time.Second / hz, nil
}

// FDs returns the number of open file descriptors.
func FDs(pid int) (int, error) {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	return len(ents), err
}

// WaitPort waits until addr accepts TCP connections.
func WaitPort(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not accepting after %v: %w", addr, timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// StartReady starts a wsload run with -ready and waits for its READY line;
// it returns the process (still running), how many connections opened and
// the line itself.
func StartReady(bin string, timeout time.Duration, args ...string) (*Process, int, string, error) {
	p, err := Start("wsload", bin, io.Discard, append(args, "-ready")...)
	if err != nil {
		return nil, 0, "", err
	}
	line, err := p.WaitLine("READY", timeout)
	if err != nil {
		p.Stop(5 * time.Second)
		return nil, 0, "", err
	}
	n, _ := strconv.Atoi(strings.Fields(line)[1])
	return p, n, line, nil
}

// RunJSON runs a command to its end and decodes what it printed as JSON
// into out.
func RunJSON(name, bin string, stderr io.Writer, out any, args ...string) error {
	p, err := Start(name, bin, stderr, args...)
	if err != nil {
		return err
	}
	var b strings.Builder
	for p.Out.Scan() {
		b.WriteString(p.Out.Text())
	}
	p.Cmd.Wait()
	if err := json.Unmarshal([]byte(b.String()), out); err != nil {
		return fmt.Errorf("%s printed %.300q: %w", name, b.String(), err)
	}
	return nil
}

// Window sleeps for d: an intentional duration of a benchmark (a warm-up,
// a measurement window, a settle time before a reading), not a wait for
// something to happen. Waits for events use WaitPort, WaitLine or WaitFDs.
func Window(d time.Duration) { time.Sleep(d) }

// WaitFDs waits until the process holds at most n open fds (after its
// clients went away), or the timeout; it returns the last count.
func WaitFDs(pid, n int, timeout time.Duration) (int, error) {
	deadline := time.Now().Add(timeout)
	for {
		got, err := FDs(pid)
		if err != nil || got <= n {
			return got, err
		}
		if time.Now().After(deadline) {
			return got, fmt.Errorf("pid %d still holds %d fds after %v (want ≤ %d)", pid, got, timeout, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
