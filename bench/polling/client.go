package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/wsd-dev/wsd/load"
	"github.com/wsd-dev/wsd/poller"
)

// countingConn counts the application bytes that cross a client socket.
type countingConn struct {
	net.Conn
	in, out *atomic.Int64
}

func (c countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.in.Add(int64(n))
	return n, err
}

func (c countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.out.Add(int64(n))
	return n, err
}

// requestTemplate is Chromium's same-origin fetch, captured once
// (testdata/chromium-fetch.txt), with our path, host and a cookie.
type requestTemplate struct {
	before, after string // around the request-target
}

func newTemplate(fixture []byte, host string, cookieBytes int) (requestTemplate, error) {
	lines := strings.Split(strings.TrimRight(string(fixture), "\r\n"), "\r\n")
	if len(lines) < 2 || !strings.HasPrefix(lines[0], "GET ") {
		return requestTemplate{}, errors.New("fixture is not a GET request head")
	}
	var b strings.Builder
	for _, l := range lines[1:] {
		switch {
		case strings.HasPrefix(l, "Host: "):
			l = "Host: " + host
		case strings.HasPrefix(l, "Referer: "):
			l = "Referer: http://" + host + "/"
		}
		b.WriteString(l + "\r\n")
	}
	if cookieBytes > 0 {
		// A session cookie of the given size: name=value as a site sets it.
		val := strings.Repeat("a1B2c3D4", cookieBytes/8+1)[:max(cookieBytes-len("session="), 1)]
		b.WriteString("Cookie: session=" + val + "\r\n")
	}
	b.WriteString("\r\n")
	return requestTemplate{before: "GET ", after: " HTTP/1.1\r\n" + b.String()}, nil
}

func (t requestTemplate) request(target string) []byte {
	return []byte(t.before + target + t.after)
}

// pollStats are one mode's client-side counters.
type pollStats struct {
	bytesIn, bytesOut  atomic.Int64
	requests, empty    atomic.Int64
	errors, refused    atomic.Int64
	timeouts, received atomic.Int64
	lastErr            atomic.Pointer[string]
}

func (s *pollStats) fail(err error) {
	s.errors.Add(1)
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		s.refused.Add(1)
	case errors.Is(err, os.ErrDeadlineExceeded):
		s.timeouts.Add(1)
	}
	msg := err.Error()
	s.lastErr.Store(&msg)
}

// poller is one polling client: one keep-alive connection, like a browser
// tab's fetch loop.
type pollClient struct {
	user    string
	mu      sync.Mutex // guards conn and raw against segments()
	conn    net.Conn
	raw     net.Conn
	br      *bufio.Reader
	since   uint64
	measure *atomic.Bool // record latencies only inside the window
	hist    *shardedHist
	id      int
}

// shardedHist is one histogram per shard of clients, each under its lock:
// a histogram per client would take 46 KiB each.
type shardedHist struct {
	mu [16]sync.Mutex
	h  [16]load.Histogram
}

func (s *shardedHist) Record(i int, d time.Duration) {
	k := i % len(s.h)
	s.mu[k].Lock()
	s.h[k].Record(d)
	s.mu[k].Unlock()
}

func (s *shardedHist) merged() *load.Histogram {
	var out load.Histogram
	for k := range s.h {
		s.mu[k].Lock()
		out.Merge(&s.h[k])
		s.mu[k].Unlock()
	}
	return &out
}

type pollAnswer struct {
	Seq      uint64 `json:"seq"`
	Messages []struct {
		Seq  uint64          `json:"seq"`
		Data json.RawMessage `json:"data"`
	} `json:"messages"`
}

// poll makes one request and reads its answer.
func (p *pollClient) poll(tmpl requestTemplate, server string, wait string, st *pollStats, deadline time.Time) error {
	if p.conn == nil {
		raw, err := net.DialTimeout("tcp", server, 5*time.Second)
		if err != nil {
			return err
		}
		p.mu.Lock()
		p.raw = raw
		p.conn = countingConn{Conn: raw, in: &st.bytesIn, out: &st.bytesOut}
		p.mu.Unlock()
		p.br = bufio.NewReaderSize(p.conn, 4096)
	}
	target := "/poll/" + p.user + "?since=" + strconv.FormatUint(p.since, 10)
	if wait != "" {
		target += "&wait=" + wait
	}
	p.conn.SetDeadline(deadline)
	if _, err := p.conn.Write(tmpl.request(target)); err != nil {
		return p.reset(err)
	}
	resp, err := http.ReadResponse(p.br, nil)
	if err != nil {
		return p.reset(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return p.reset(err)
	}
	now := time.Now()
	st.requests.Add(1)
	if resp.StatusCode != 200 {
		return fmt.Errorf("poll answered %s", resp.Status)
	}
	var ans pollAnswer
	if err := json.Unmarshal(body, &ans); err != nil {
		return fmt.Errorf("poll answer: %w", err)
	}
	if len(ans.Messages) == 0 {
		st.empty.Add(1)
	}
	for _, m := range ans.Messages {
		p.since = max(p.since, m.Seq)
		if t, ok := stampTime(m.Data); ok && p.measure.Load() {
			p.hist.Record(p.id, now.Sub(t))
			st.received.Add(1)
		}
	}
	if resp.Close {
		p.reset(nil)
	}
	return nil
}

func (p *pollClient) reset(err error) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conn != nil {
		p.conn.Close()
		p.conn, p.raw = nil, nil
	}
	return err
}

// abort makes a request in flight fail at once.
func (p *pollClient) abort() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.raw != nil {
		p.raw.SetDeadline(time.Now())
	}
}

// segments reads the connection's TCP_INFO segment counters.
func (p *pollClient) segments() (in, out int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	rc, ok := p.raw.(syscall.Conn)
	if !ok {
		return 0, 0
	}
	raw, err := rc.SyscallConn()
	if err != nil {
		return 0, 0
	}
	raw.Control(func(fd uintptr) {
		if ti, err := poller.TCPInfo(int(fd)); err == nil {
			in, out = int64(ti.Segs_in), int64(ti.Segs_out)
		}
	})
	return in, out
}

// stampTime finds "T=<unix ns>;" in a message.
func stampTime(b []byte) (time.Time, bool) {
	i := bytes.Index(b, []byte("T="))
	if i < 0 {
		return time.Time{}, false
	}
	b = b[i+2:]
	j := bytes.IndexByte(b, ';')
	if j < 0 {
		return time.Time{}, false
	}
	ns, err := strconv.ParseInt(string(b[:j]), 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(0, ns), true
}
