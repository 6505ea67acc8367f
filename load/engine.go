package load

import (
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/poller"
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
	CauseOther                    // any other error (out of fds, ...)
	numCauses
)

var causeNames = [numCauses]string{"refused", "timeout", "bad_status", "bad_accept", "bad_response", "protocol_error", "closed", "other"}

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
	Loops          int            // event loops [GOMAXPROCS]
	ConnectTimeout time.Duration  // connect + handshake [10s]
	MaxMessage     int64          // largest message accepted from the server [64 MiB]
	Tick           time.Duration  // scenario tick [10ms]
	MaxPending     int            // connects in flight at once [512]
}

// Engine owns the loops and connections of one load process.
type Engine struct {
	cfg    Config
	sc     Scenario
	loops  []*Loop
	table  []atomic.Pointer[Conn]
	start  time.Time
	limits frame.Limits

	pending  atomic.Int64 // connects and handshakes in flight
	open     atomic.Int64
	opened   atomic.Int64
	closed   atomic.Int64 // opened connections that have ended
	bytesIn  atomic.Int64 // bytes read from and written to the sockets
	bytesOut atomic.Int64
	failures [numCauses]atomic.Int64
	closing  atomic.Bool

	errMu     sync.Mutex
	lastError [numCauses]string
}

// Loop is one client event loop.
type Loop struct {
	*poller.Loop
	e     *Engine
	rng   *rand.ChaCha8
	wbuf  []byte
	conns []*Conn // open connections of this loop

	// Per-loop measurements, merged by Engine.Collect.
	ConnectHist   Histogram // TCP connect time
	HandshakeHist Histogram // request sent → 101 parsed
	Hist          Histogram // scenario latency
	Data          any       // scenario's per-loop state
}

// New makes an engine; Start runs its loops.
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
	maxFDs, err := poller.MaxFDs()
	if err != nil {
		return nil, err
	}
	e := &Engine{cfg: cfg, sc: sc, table: make([]atomic.Pointer[Conn], maxFDs), start: time.Now()}
	e.limits = frame.Limits{MaxMessage: cfg.MaxMessage}
	for i := range cfg.Loops {
		var seed [32]byte
		crand.Read(seed[:]) // §5.3: masking keys must be unpredictable
		l := &Loop{e: e, rng: rand.NewChaCha8(seed), wbuf: make([]byte, 0, 64<<10)}
		pl, err := poller.NewLoop(i, e, 64<<10, cfg.Tick)
		if err != nil {
			return nil, err
		}
		l.Loop = pl
		e.loops = append(e.loops, l)
	}
	return e, nil
}

// Start runs the loops.
func (e *Engine) Start() {
	for _, l := range e.loops {
		go l.Run()
	}
}

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
	t0 := e.Now()
	fd, err := poller.Dial(src, e.cfg.Target)
	if err != nil {
		e.fail(causeOf(err), err.Error())
		return
	}
	if fd >= len(e.table) {
		poller.Close(fd)
		e.fail(CauseOther, "fd "+strconv.Itoa(fd)+" beyond the table")
		return
	}
	l := e.loops[i%len(e.loops)]
	c := &Conn{fd: int32(fd), ID: int32(i), l: l, t0: t0, state: csConnecting}
	c.rd.Role = frame.RoleClient
	c.rd.Limits = &e.limits
	e.pending.Add(1)
	e.table[fd].Store(c)
	if err := l.Add(fd, poller.In|poller.Out|poller.RdHup); err != nil {
		e.table[fd].Store(nil)
		poller.Close(fd)
		e.pending.Add(-1)
		e.fail(CauseOther, err.Error())
	}
}

func causeOf(err error) Cause {
	switch {
	case poller.IsRefused(err):
		return CauseRefused
	case poller.IsTimeout(err):
		return CauseTimeout
	}
	return CauseOther
}

func (e *Engine) fail(c Cause, msg string) {
	e.failures[c].Add(1)
	e.errMu.Lock()
	e.lastError[c] = msg
	e.errMu.Unlock()
}

// Event implements poller.Handler.
func (e *Engine) Event(pl *poller.Loop, fd int, ev uint32) {
	c := e.table[fd].Load()
	if c == nil {
		return
	}
	c.event(ev)
}

// Tick implements poller.Handler: connect timeouts, then the scenario.
func (e *Engine) Tick(pl *poller.Loop, _ time.Time) {
	l := e.loops[pl.ID]
	now := e.Now()
	// The scan touches every connection; once all are open it would only
	// burn the CPU the measured server needs (they share the machine).
	for i := range e.table {
		if e.pending.Load() == 0 {
			break // the last one connecting has opened or failed
		}
		c := e.table[i].Load()
		if c == nil || c.l != l || c.state >= csOpen {
			continue
		}
		if now-c.t0 > e.cfg.ConnectTimeout {
			c.drop(CauseTimeout, "no connection or 101 within "+e.cfg.ConnectTimeout.String())
		}
	}
	e.sc.Tick(l, now)
}

// Bytes returns the bytes read from and written to all sockets so far
// (TCP payload: handshakes and frames).
func (e *Engine) Bytes() (in, out int64) { return e.bytesIn.Load(), e.bytesOut.Load() }

// Segments sums TCP_INFO's segment counters over the open connections:
// packets received and sent, as the kernel counts them.
func (e *Engine) Segments() (in, out int64) {
	var mu sync.Mutex
	e.OnLoops(func(l *Loop) {
		var si, so int64
		for _, c := range l.conns {
			if ti, err := poller.TCPInfo(int(c.fd)); err == nil {
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
	var wg sync.WaitGroup
	for _, l := range e.loops {
		wg.Add(1)
		l.Post(func() { fn(l); wg.Done() })
	}
	wg.Wait()
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

// Close sends a Close (1000) on every open connection, waits up to timeout
// for the server's answer, then cuts what is left and stops the loops.
func (e *Engine) Close(timeout time.Duration) {
	e.closing.Store(true)
	e.OnLoops(func(l *Loop) {
		for _, c := range append([]*Conn(nil), l.conns...) {
			c.close(frame.CloseNormal)
		}
	})
	deadline := time.Now().Add(timeout)
	for e.open.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	e.OnLoops(func(l *Loop) {
		for i := range e.table {
			if c := e.table[i].Load(); c != nil && c.l == l {
				c.finish()
			}
		}
	})
	for _, l := range e.loops {
		l.Stop()
		<-l.Done()
	}
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
