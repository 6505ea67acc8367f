package load

import (
	"context"
	"crypto/tls"
	"iter"

	"errors"
	"fmt"

	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/upgrade"
	"github.com/wsd-dev/wsd/wsconn"
)

// Cause classifies a failed connection.
type Cause int

const (
	CauseRefused     Cause = iota // connect refused
	CauseTimeout                  // connect or handshake took too long
	CauseBadStatus                // the server answered other than 101
	CauseBadAccept                // Sec-WebSocket-Accept did not match
	CauseBadResponse              // a malformed or unexpected response
	CauseProtocol                 // the server broke RFC 6455 after the handshake (masked frame, bad frame)
	CauseClosed                   // the server closed or reset the connection before we were done
	CauseTLS                      // the TLS handshake failed (wss://: a certificate not trusted, no common version or suite)
	CauseOther                    // any other error (out of fds, ...)
	numCauses
)

var causeNames = [numCauses]string{"refused", "timeout", "bad_status", "bad_accept", "bad_response", "protocol_error", "closed", "tls", "other"}

func (c Cause) String() string { return causeNames[c] }

// Scenario drives open connections. Its methods run on the connections'
// loops; they must not block.
type Scenario interface {
	// Open is called once the handshake succeeded.
	Open(c *Conn)
	// Message is called for each data message; p is valid during the call.
	Message(c *Conn, op frame.Opcode, p []byte)
	// Tick is called on every loop about once per Config.Tick with the
	// loop's open connections.
	Tick(l *Loop, now time.Duration)
}

// Config configures an Engine.
type Config struct {
	Target         netip.AddrPort // server address
	Host           string         // Host header; Target if empty
	Path           string         // request-target; "{i}" becomes the connection's index
	Origin         string         // Origin header, if any
	Sources        []netip.Addr   // source addresses, used in turn (spreads past ~28K ports per pair)
	Loops          int            // event loops [2]
	ConnectTimeout time.Duration  // connect + handshake [10s]
	MaxMessage     int64          // largest message accepted from the server [64 MiB]
	Tick           time.Duration  // scenario tick [10ms]
	MaxPending     int            // connects in flight at once [512]
	// Token, when set, gives connection i a signed token, sent as ?token=
	// (servers that require one: wsd -jwt-secret-file).
	Token func(i int) string
	// Deflate offers permessage-deflate (RFC 7692): DeflateOn offers no
	// context takeover either way, DeflateTakeover the browsers' offer
	// (context takeover, the server picks the windows). The core
	// compresses what is sent and inflates what arrives: scenarios see
	// payloads only.
	Deflate upgrade.DeflateMode
	// DeflateOffer, when set, is the Sec-WebSocket-Extensions offer sent
	// as is instead of Deflate's (the answer is checked against the
	// permessage-deflate offers in it).
	DeflateOffer string
	TLS          *tls.Config // wss://: TLS with this config (ServerName or InsecureSkipVerify set); nil: ws://
}

// Engine owns the connections of one load process. They run on a
// wsconn.Client: the same connection core as the server, in the client
// role; the engine adds the scenario, the measurements and the failure
// causes.
type Engine struct {
	cfg   Config
	sc    Scenario
	cl    *wsconn.Client
	loops []*Loop
	start time.Time

	pending  atomic.Int64 // connects and handshakes in flight
	open     atomic.Int64
	opened   atomic.Int64
	closed   atomic.Int64 // opened connections that have ended
	failures [numCauses]atomic.Int64
	closing  atomic.Bool

	errMu     sync.Mutex
	lastError [numCauses]string
}

// Loop is one client event loop's share of the measurements. Its fields
// are touched on that loop only (scenario calls), or through OnLoops.
type Loop struct {
	ID    int
	e     *Engine
	conns iter.Seq[*wsconn.Conn] // during Tick: the loop's connections

	ConnectHist   Histogram // TCP connect time
	TLSHist       Histogram // TLS handshake time (wss://)
	HandshakeHist Histogram // request sent → 101 checked
	Hist          Histogram // scenario latency
	Data          any       // scenario's per-loop state

	// Payload bytes of the data messages sent and received (received
	// ones after inflating), against which the bytes on the wire are set.
	PayloadIn, PayloadOut int64
}

// New makes an engine with its loops running.
func New(cfg Config, sc Scenario) (*Engine, error) {
	if !cfg.Target.IsValid() {
		return nil, errors.New("load: no target address")
	}
	if cfg.Loops <= 0 {
		cfg.Loops = 2
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 10 * time.Second
	}
	if cfg.MaxMessage <= 0 {
		cfg.MaxMessage = 64 << 20
	}
	if cfg.Tick <= 0 {
		cfg.Tick = 10 * time.Millisecond
	}
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = 512
	}
	if cfg.Host == "" {
		cfg.Host = cfg.Target.String()
	}
	if cfg.Path == "" {
		cfg.Path = "/"
	}
	e := &Engine{cfg: cfg, sc: sc, start: time.Now()}
	for i := range cfg.Loops {
		e.loops = append(e.loops, &Loop{ID: i, e: e})
	}
	cl, err := wsconn.NewClient(wsconn.Options{
		Loops:            cfg.Loops,
		MaxMessage:       cfg.MaxMessage,
		MaxMessageMemory: 1 << 40, // the load client measures the server; it does not cap itself
		HandshakeTimeout: cfg.ConnectTimeout,
		PingInterval:     -1, // the server pings; the client answers
		TickInterval:     cfg.Tick,
		OnTick:           e.tick,
		Deflate:          upgrade.DeflatePolicy{Mode: cfg.Deflate},
		DeflateOffer:     cfg.DeflateOffer,
		TLS:              cfg.TLS,
	})
	if err != nil {
		return nil, err
	}
	e.cl = cl
	return e, nil
}

// Start exists for callers written against the earlier engine: the loops
// run from New.
func (e *Engine) Start() {}

// Loops returns the engine's loops.
func (e *Engine) Loops() []*Loop { return e.loops }

// Now returns the time since the engine started: the clock of latencies.
func (e *Engine) Now() time.Duration { return time.Since(e.start) }

// Dial opens connections first..first+n-1 at rate per second (0: as fast
// as MaxPending allows), and returns when all have been attempted and
// settled or ctx ends.
func (e *Engine) Dial(ctx context.Context, first, n int, rate float64) error {
	var interval time.Duration
	if rate > 0 {
		interval = time.Duration(float64(time.Second) / rate)
	}
	begin := time.Now()
	for i := range n {
		if interval > 0 {
			if wait := time.Until(begin.Add(time.Duration(i) * interval)); wait > 0 {
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(wait):
				}
			}
		}
		for e.pending.Load() >= int64(e.cfg.MaxPending) {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Millisecond):
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		e.dialOne(first + i)
	}
	for e.pending.Load() > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	return nil
}

func (e *Engine) dialOne(i int) {
	var src netip.Addr
	if len(e.cfg.Sources) > 0 {
		src = e.cfg.Sources[i%len(e.cfg.Sources)]
	}
	c := &Conn{e: e, ID: int32(i), t0: e.Now()}
	e.pending.Add(1)
	_, err := e.cl.Dial(wsconn.Target{Addr: e.cfg.Target, Source: src, Handler: c})
	if err != nil {
		e.pending.Add(-1)
		e.fail(causeOf(err), err.Error())
	}
}

func (e *Engine) fail(c Cause, msg string) {
	e.failures[c].Add(1)
	e.errMu.Lock()
	e.lastError[c] = msg
	e.errMu.Unlock()
}

// tick runs the scenario on one loop.
func (e *Engine) tick(loop int, conns iter.Seq[*wsconn.Conn]) {
	l := e.loops[loop]
	l.conns = conns
	e.sc.Tick(l, e.Now())
	l.conns = nil
}

// EachOpen calls fn for each open connection of the loop; scenarios call
// it from Tick.
func (l *Loop) EachOpen(fn func(c *Conn)) {
	for wc := range l.conns {
		if c, ok := wc.Handler().(*Conn); ok && wc.IsOpen() {
			fn(c)
		}
	}
}

// Bytes returns the bytes read from and written to all sockets so far
// (TCP payload: handshakes and frames).
func (e *Engine) Bytes() (in, out int64) {
	st := e.cl.Stats()
	return st.BytesIn, st.BytesOut
}

// Wire is what crossed the sockets beside what the scenario sent and
// received: frames (every byte after the handshakes' heads), the heads,
// and the data messages' payloads.
type Wire struct {
	FramesIn, FramesOut   int64 // TCP payload less the heads: frames, as compressed
	HeadsIn, HeadsOut     int64 // response heads read, request heads written
	PayloadIn, PayloadOut int64 // data messages' payloads (received ones inflated)
}

// Wire returns the bytes so far. It runs on the loops: call it before
// Close.
func (e *Engine) Wire() Wire {
	var w Wire
	var mu sync.Mutex
	e.OnLoops(func(l *Loop) {
		mu.Lock()
		w.PayloadIn += l.PayloadIn
		w.PayloadOut += l.PayloadOut
		mu.Unlock()
	})
	in, out := e.Bytes()
	w.HeadsIn, w.HeadsOut = e.cl.HandshakeBytes()
	w.FramesIn, w.FramesOut = in-w.HeadsIn, out-w.HeadsOut
	return w
}

// Extensions returns how many connections opened with each
// Sec-WebSocket-Extensions answer, by the server's text
// (wsconn.NoExtension: none).
func (e *Engine) Extensions() map[string]int64 { return e.cl.ExtensionAnswers() }

// Segments sums TCP_INFO's segment counters over the open connections:
// packets received and sent, as the kernel counts them.
func (e *Engine) Segments() (in, out int64) {
	var mu sync.Mutex
	e.cl.OnLoops(func(_ int, conns iter.Seq[*wsconn.Conn]) {
		var si, so int64
		for c := range conns {
			if ti, err := c.TCPInfo(); err == nil && c.IsOpen() {
				si += int64(ti.Segs_in)
				so += int64(ti.Segs_out)
			}
		}
		mu.Lock()
		in, out = in+si, out+so
		mu.Unlock()
	})
	return in, out
}

// Stats is a snapshot of the engine's counters.
type Stats struct {
	Open     int64             `json:"open"`
	Opened   int64             `json:"opened"`
	Closed   int64             `json:"closed"`
	Pending  int64             `json:"pending"`
	Failures map[string]int64  `json:"failures"`
	Errors   map[string]string `json:"last_errors,omitempty"`
}

// Failed returns the total of failures.
func (s Stats) Failed() int64 {
	var n int64
	for _, v := range s.Failures {
		n += v
	}
	return n
}

// Stats returns the counters now.
func (e *Engine) Stats() Stats {
	s := Stats{Open: e.open.Load(), Opened: e.opened.Load(), Closed: e.closed.Load(), Pending: e.pending.Load(), Failures: map[string]int64{}, Errors: map[string]string{}}
	e.errMu.Lock()
	defer e.errMu.Unlock()
	for c := range numCauses {
		if v := e.failures[c].Load(); v > 0 {
			s.Failures[c.String()] = v
			s.Errors[c.String()] = e.lastError[c]
		}
	}
	return s
}

// OnLoops runs fn on every loop and waits for all.
func (e *Engine) OnLoops(fn func(l *Loop)) {
	e.cl.OnLoops(func(i int, conns iter.Seq[*wsconn.Conn]) {
		l := e.loops[i]
		l.conns = conns
		fn(l)
		l.conns = nil
	})
}

// Collect merges the loops' histograms.
func (e *Engine) Collect() (connect, handshake, latency Histogram) {
	var mu sync.Mutex
	e.OnLoops(func(l *Loop) {
		mu.Lock()
		connect.Merge(&l.ConnectHist)
		handshake.Merge(&l.HandshakeHist)
		latency.Merge(&l.Hist)
		mu.Unlock()
	})
	return
}

// CollectTLS merges the loops' TLS handshake times (empty for ws://).
func (e *Engine) CollectTLS() (h Histogram) {
	var mu sync.Mutex
	e.OnLoops(func(l *Loop) {
		mu.Lock()
		h.Merge(&l.TLSHist)
		mu.Unlock()
	})
	return h
}

// Close sends a Close (1000) on every open connection, waits up to timeout
// for the server's answer, then cuts what is left and stops the loops.
func (e *Engine) Close(timeout time.Duration) {
	e.closing.Store(true)
	e.cl.Close(timeout)
}

// ExpandPath replaces {i} in a path template.
func ExpandPath(tmpl string, i int) string {
	if !strings.Contains(tmpl, "{i}") {
		return tmpl
	}
	return strings.ReplaceAll(tmpl, "{i}", strconv.Itoa(i))
}

// ParseSources parses "127.0.0.2-127.0.0.50" or a comma list.
func ParseSources(s string) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := netip.ParseAddr(lo)
		if err != nil {
			return nil, fmt.Errorf("source address %q: %w", lo, err)
		}
		if !isRange {
			out = append(out, a)
			continue
		}
		b, err := netip.ParseAddr(hi)
		if err != nil {
			return nil, fmt.Errorf("source address %q: %w", hi, err)
		}
		for x := a; x.Compare(b) <= 0; x = x.Next() {
			out = append(out, x)
			if len(out) > 1<<16 {
				return nil, fmt.Errorf("source range %q too large", part)
			}
		}
	}
	return out, nil
}
