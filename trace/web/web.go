// Package web serves the trace as a live page: wsdump -web and wsd
// -trace-web. One HTML page, embedded in the binary (no CDN, no external
// script or font), opens a WebSocket to the same server and draws the
// events package trace produces — the JSON lines of wsdump -json, not a
// second parser — as one lane per connection: the handshake with the
// accept key derived step by step, each frame as a bit diagram with its
// bytes, fragments joined, compressed messages beside what they inflate
// to, close codes, violations in red with their RFC section.
//
// The page must never slow the traffic it shows. The tracer hands an event
// to Server.Event on the traffic's path; Event only copies it into each
// viewer's queue, bounded in events and bytes (the oldest are dropped and
// counted: the page says how many), and a goroutine per viewer sends the
// queue in batches when the viewer's socket has room. With no viewer,
// Watching is false and the tracer renders nothing for the page.
package web

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/wsd-dev/wsd/wsconn"
)

// Defaults of Options.
const (
	DefaultMaxEvents = 4096    // events queued per viewer
	DefaultMaxBytes  = 8 << 20 // bytes of events queued per viewer
	// SocketPath is where the page opens its WebSocket.
	SocketPath = "/ws"
)

// Options configure a Server.
type Options struct {
	Addr   string // HOST:PORT to listen on; keep it on loopback: the page shows all traced traffic
	Source string // what is traced, for the page's title ("wsdump 127.0.0.1:9000 → 127.0.0.1:8080")
	// MaxEvents and MaxBytes bound what waits for one viewer (a slow or
	// paused page): past either the oldest events are dropped, and the
	// page is told how many. An event larger than MaxBytes alone is
	// dropped too. [DefaultMaxEvents, DefaultMaxBytes]
	MaxEvents int
	MaxBytes  int
	Logger    *slog.Logger // [discard]
}

// Server is the page's server: an HTTP page and its WebSocket on one
// port, run by wsconn. It is the tracer's trace.Tap.
type Server struct {
	opt      Options
	srv      *wsconn.Server
	watching atomic.Int32

	mu      sync.Mutex
	viewers []*viewer
	dropped atomic.Int64 // events dropped for any viewer, for tests and logs
}

// Start listens on opt.Addr and serves the page until Shutdown.
func Start(opt Options) (*Server, error) {
	if opt.MaxEvents <= 0 {
		opt.MaxEvents = DefaultMaxEvents
	}
	if opt.MaxBytes <= 0 {
		opt.MaxBytes = DefaultMaxBytes
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Server{opt: opt}
	srv, err := wsconn.New(wsconn.Options{
		Addr:  opt.Addr,
		Loops: 1,
		// The sender never queues more than a batch past sendBelow, and a
		// batch is at most batchBytes or one event (≤ MaxBytes).
		QueueCap:   sendBelow + max(batchBytes, opt.MaxBytes) + 64<<10,
		MaxMessage: 1 << 10, // the page only says "pause" and "resume"
		Logger:     opt.Logger,
	})
	if err != nil {
		return nil, err
	}
	s.srv = srv
	if err := srv.Start(wsconn.Routes{Upgrade: s.upgrade, HTTP: s.page()}); err != nil {
		return nil, err
	}
	return s, nil
}

// Addr is the address the page is served on.
func (s *Server) Addr() netip.AddrPort { return s.srv.Addr() }

// URL is the page's address.
func (s *Server) URL() string { return "http://" + s.srv.Addr().String() + "/" }

// Shutdown closes the viewers' sockets (1001) and stops listening.
func (s *Server) Shutdown(ctx context.Context) error { return s.srv.Shutdown(ctx) }

// Watching reports whether a page is open (trace.Tap).
func (s *Server) Watching() bool { return s.watching.Load() > 0 }

// Viewers returns the number of open pages.
func (s *Server) Viewers() int { return int(s.watching.Load()) }

// Dropped returns how many events were dropped for slow or paused pages,
// counted once per page.
func (s *Server) Dropped() int64 { return s.dropped.Load() }

// Event queues one event for every open page (trace.Tap). It copies the
// line once and never waits.
func (s *Server) Event(line []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.viewers) == 0 {
		return
	}
	ev := append([]byte(nil), line...) // shared by the queues, never changed
	for _, v := range s.viewers {
		v.push(ev)
	}
}

func (s *Server) add(v *viewer) {
	s.mu.Lock()
	s.viewers = append(s.viewers, v)
	s.mu.Unlock()
	s.watching.Add(1)
}

func (s *Server) remove(v *viewer) {
	s.mu.Lock()
	for i, x := range s.viewers {
		if x == v {
			s.viewers = append(s.viewers[:i], s.viewers[i+1:]...)
			s.watching.Add(-1)
			break
		}
	}
	s.mu.Unlock()
}
