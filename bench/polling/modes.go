package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsd-dev/wsd/load"
	"github.com/wsd-dev/wsd/upgrade"
)

// polling is the short- and long-polling client side.
type polling struct {
	st      pollStats
	hist    shardedHist
	on      atomic.Bool
	clients []*pollClient
	ok      []atomic.Bool
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// startPolling starts n polling clients; it returns once each has made its
// first poll (or failed to).
func startPolling(ctx context.Context, mode, addr string, first, n int, fix []byte) (*polling, error) {
	var interval time.Duration
	var wait string
	switch mode {
	case "long":
		wait = "25s"
	default:
		d, err := time.ParseDuration(strings.TrimPrefix(mode, "short-"))
		if err != nil || !strings.HasPrefix(mode, "short-") {
			return nil, fmt.Errorf("mode %q: want short-<interval>, long, ws, ws+deflate or ws+deflate-takeover", mode)
		}
		interval = d
	}
	tmpl, err := newTemplate(fix, addr, *cookieBytes)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	p := &polling{cancel: cancel, ok: make([]atomic.Bool, n)}
	firstPoll := make(chan struct{}, n)
	for i := range n {
		c := &pollClient{user: fmt.Sprintf("u%d", first+i), id: i, measure: &p.on, hist: &p.hist}
		p.clients = append(p.clients, c)
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			defer c.reset(nil)
			// Spread the clients over one interval, as real tabs are.
			if interval > 0 {
				sleep(ctx, time.Duration(rand.Int64N(int64(interval))))
			} else {
				sleep(ctx, time.Duration(rand.Int64N(int64(time.Second))))
			}
			reported := false
			for ctx.Err() == nil {
				began := time.Now()
				deadline := began.Add(10 * time.Second)
				if wait != "" {
					deadline = began.Add(35 * time.Second)
				}
				err := c.poll(tmpl, addr, wait, &p.st, deadline)
				if err != nil {
					p.st.fail(err)
				} else {
					p.ok[i].Store(true)
				}
				if !reported {
					reported = true
					firstPoll <- struct{}{}
				}
				switch {
				case err != nil:
					sleep(ctx, 500*time.Millisecond)
				case interval > 0:
					sleep(ctx, interval-time.Since(began))
				}
			}
		}()
	}
	for range n {
		select {
		case <-firstPoll:
		case <-ctx.Done():
			return p, ctx.Err()
		}
	}
	return p, nil
}

func sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func (p *polling) bytes() (up, down int64) { return p.st.bytesOut.Load(), p.st.bytesIn.Load() }

func (p *polling) segments() (in, out int64) {
	for _, c := range p.clients {
		i, o := c.segments()
		in, out = in+i, out+o
	}
	return in, out
}

func (p *polling) polls() (int64, int64) { return p.st.requests.Load(), p.st.empty.Load() }

func (p *polling) measure(on bool) { p.on.Store(on) }

func (p *polling) latency() *load.Histogram { return p.hist.merged() }

func (p *polling) connected() (ok, failed int64, detail string) {
	for i := range p.ok {
		if p.ok[i].Load() {
			ok++
		} else {
			failed++
		}
	}
	if failed > 0 || p.st.errors.Load() > 0 {
		detail = fmt.Sprintf("%d poll errors (%d refused, %d timeouts)", p.st.errors.Load(), p.st.refused.Load(), p.st.timeouts.Load())
		if e := p.st.lastErr.Load(); e != nil {
			detail += "; last: " + *e
		}
	}
	return ok, failed, detail
}

func (p *polling) stop() {
	p.cancel()
	for _, c := range p.clients {
		c.abort() // a long poll in flight returns now, not when the server answers
	}
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(40 * time.Second): // a long poll the server never answers
	}
}

// websockets is the WebSocket client side: the project's load engine.
type websockets struct {
	e    *load.Engine
	push *load.Push
}

// The WebSocket modes: plain, and with permessage-deflate (RFC 7692)
// offered as browsers offer it, against wsd -deflate on (no context kept
// between messages) and -deflate takeover with windows of 2^10.
const (
	modeWS                = "ws"
	modeWSDeflate         = "ws+deflate"
	modeWSDeflateTakeover = "ws+deflate-takeover"
)

func isWS(mode string) bool {
	return mode == modeWS || mode == modeWSDeflate || mode == modeWSDeflateTakeover
}

// serverFlags are wsd's flags for a mode (besides -addr).
func serverFlags(mode string) []string {
	switch mode {
	case modeWS:
		return []string{"-deflate", "off"} // the client offers nothing anyway
	case modeWSDeflateTakeover:
		return []string{"-deflate", "takeover", "-deflate-window-bits", "10"}
	}
	return []string{"-deflate", "on"}
}

func startWS(ctx context.Context, mode, addr string, first, n int) (*websockets, error) {
	target, err := netip.ParseAddrPort(addr)
	if err != nil {
		return nil, err
	}
	srcs, _ := load.ParseSources(fmt.Sprintf("127.0.%d.1-127.0.%d.16", 150+first/15000%50, 150+first/15000%50))
	push := &load.Push{}
	cfg := load.Config{Target: target, Path: "/ws/u{i}?since=0", Sources: srcs, Loops: 2, ConnectTimeout: 10 * time.Second}
	if mode != modeWS {
		cfg.Deflate = upgrade.DeflateTakeover // the browsers' offer; the server picks the mode
	}
	e, err := load.New(cfg, push)
	if err != nil {
		return nil, err
	}
	e.Start()
	if err := e.Dial(ctx, first, n, 0); err != nil {
		return nil, err
	}
	return &websockets{e: e, push: push}, nil
}

func (w *websockets) bytes() (up, down int64) {
	in, out := w.e.Bytes()
	return out, in
}

func (w *websockets) segments() (in, out int64) { return w.e.Segments() }
func (w *websockets) polls() (int64, int64)     { return 0, 0 }
func (w *websockets) measure(bool)              {}

func (w *websockets) latency() *load.Histogram {
	var h load.Histogram
	if d, ok := w.push.Collect(w.e).Kinds["U"]; ok {
		h.Import(d)
	}
	return &h
}

func (w *websockets) connected() (ok, failed int64, detail string) {
	st := w.e.Stats()
	if st.Failed() > 0 {
		detail = fmt.Sprint(st.Failures, st.Errors)
	}
	return st.Opened, st.Failed(), detail
}

func (w *websockets) stop() { w.e.Close(2 * time.Second) }

func (w *websockets) extensions() map[string]int64 { return w.e.Extensions() }

func (p *polling) extensions() map[string]int64 { return nil }
