package wsconn

import (
	"context"
	"fmt"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/poller"
	"github.com/wsd-dev/wsd/upgrade"
)

// Server accepts connections on a listening socket and runs them on its
// event loops.
type Server struct {
	opt    Options
	lfd    int
	addr   netip.AddrPort
	loops  []*loop
	table  []atomic.Pointer[Conn] // by fd: slots, not a map
	conns  atomic.Int64
	start  time.Time
	next   atomic.Uint32 // round-robin over loops for new connections
	limits frame.Limits
	budget budget
	http   *httpBridge

	acceptPaused atomic.Bool // out of fds: the listener is off until the next tick
	shutting     atomic.Bool
	stopped      chan struct{} // closed when Shutdown is done
}

// loop is a poller loop with the server's per-loop state.
type loop struct {
	*poller.Loop
	s       *Server
	cork    []byte          // gathers small writes to the connection being handled
	req     upgrade.Request // the request being handshaken (loop goroutine only)
	scratch []byte          // responses and control frames are built here
	stats   stats
}

// New makes a server listening on opt.Addr. Call Start to serve.
func New(opt Options) (*Server, error) {
	opt.setDefaults()
	s := &Server{opt: opt, start: time.Now(), stopped: make(chan struct{})}
	s.budget.max = opt.MaxMessageMemory
	s.limits = frame.Limits{MaxMessage: opt.MaxMessage, Buffers: &s.budget}
	maxFDs, err := poller.MaxFDs()
	if err != nil {
		return nil, fmt.Errorf("wsconn: %w", err)
	}
	s.table = make([]atomic.Pointer[Conn], maxFDs)
	fd, addr, err := poller.Listen(opt.Addr, poller.ListenOptions{ReusePort: opt.ReusePort})
	if err != nil {
		return nil, err
	}
	s.lfd, s.addr = fd, addr
	for i := range opt.Loops {
		l := &loop{s: s, cork: make([]byte, 0, 64<<10), scratch: make([]byte, 0, 1024)}
		pl, err := poller.NewLoop(i, s, opt.ReadBuffer, opt.tick())
		if err != nil {
			s.closeLoops()
			poller.Close(fd)
			return nil, err
		}
		l.Loop = pl
		s.loops = append(s.loops, l)
	}
	if opt.HTTP != nil {
		s.http = newHTTPBridge(opt.HTTP, addr)
	}
	return s, nil
}

// Addr returns the address the server listens on.
func (s *Server) Addr() netip.AddrPort { return s.addr }

// Options returns the options in effect, defaults filled in.
func (s *Server) Options() Options { return s.opt }

// Start runs the loops and begins accepting. It returns at once.
func (s *Server) Start() error {
	for _, l := range s.loops {
		go l.Run()
	}
	if s.http != nil {
		go s.http.serve()
	}
	return s.loops[0].Add(s.lfd, poller.In)
}

func (s *Server) closeLoops() {
	for _, l := range s.loops {
		l.Stop()
	}
}

// clock returns milliseconds since the server started, wrapping at 2^32
// (49 days; only differences are used).
func (s *Server) clock() uint32 { return uint32(time.Since(s.start) / time.Millisecond) }

// Conns returns the number of open connections (handshaking included).
func (s *Server) Conns() int { return int(s.conns.Load()) }

// Post runs fn on loop i's goroutine, where the connections of that loop
// can be written to in parallel with the other loops.
func (s *Server) Post(i int, fn func()) { s.loops[i].Post(fn) }

// NumLoops returns the number of event loops.
func (s *Server) NumLoops() int { return len(s.loops) }

// Event implements poller.Handler.
func (s *Server) Event(pl *poller.Loop, fd int, ev uint32) {
	l := s.loops[pl.ID]
	if fd == s.lfd {
		s.accept(l)
		return
	}
	c := s.table[fd].Load()
	if c == nil || c.l != l {
		return
	}
	if ev&poller.Out != 0 {
		c.flush()
	}
	if ev&(poller.In|poller.RdHup|poller.Hup|poller.Err) != 0 && c.flags.Load()&fClosed == 0 {
		c.readable()
	}
}

// accept takes waiting connections and spreads them over the loops.
func (s *Server) accept(l *loop) {
	for range 256 {
		fd, err := poller.Accept(s.lfd)
		if err == poller.ErrAgain {
			return
		}
		if err != nil {
			if poller.OutOfFDs(err) && s.acceptPaused.CompareAndSwap(false, true) {
				// Level-triggered: the listener would wake us forever. Stop
				// listening until the next tick frees some fds.
				s.opt.Logger.Warn("accept: out of file descriptors; pausing accepts", "err", err, "conns", s.Conns())
				l.Del(s.lfd)
			}
			l.stats.refused.Add(1)
			return
		}
		if (s.opt.MaxConns > 0 && s.conns.Load() >= int64(s.opt.MaxConns)) || fd >= len(s.table) || s.shutting.Load() {
			l.stats.refused.Add(1) // counted before the client can see the close
			poller.Close(fd)
			continue
		}
		poller.SetNoDelay(fd)
		target := s.loops[int(s.next.Add(1))%len(s.loops)]
		now := s.clock()
		c := &Conn{fd: int32(fd), l: target, state: stHandshake, lastRead: now, pingAt: nonzero(now)}
		c.rd.Role = frame.RoleServer
		c.rd.Limits = &s.limits
		s.table[fd].Store(c)
		s.conns.Add(1)
		target.stats.accepted.Add(1)
		if err := target.Add(fd, poller.In|poller.RdHup); err != nil {
			s.table[fd].Store(nil)
			poller.Close(fd)
			s.conns.Add(-1)
		}
	}
}

func nonzero(t uint32) uint32 { return max(t, 1) }

// Tick implements poller.Handler: the loop's timer sweep over its
// connections (no timer per connection).
func (s *Server) Tick(pl *poller.Loop, _ time.Time) {
	l := s.loops[pl.ID]
	if pl.ID == 0 && s.acceptPaused.Load() && !s.shutting.Load() {
		if s.loops[0].Add(s.lfd, poller.In) == nil {
			s.acceptPaused.Store(false)
		}
	}
	now := s.clock()
	hs := ms(s.opt.HandshakeTimeout)
	ping := ms(s.opt.PingInterval)
	closeT := ms(s.opt.CloseTimeout)
	for i := range s.table {
		c := s.table[i].Load()
		if c == nil || c.l != l {
			continue
		}
		switch c.state {
		case stHandshake:
			if now-c.pingAt >= hs {
				l.stats.handshakeTimeouts.Add(1)
				c.closeNow(frame.CloseAbnormal, "handshake timeout")
			}
		case stOpen, stDraining:
			if c.flags.Load()&fSentClose != 0 || c.state == stDraining {
				c.mu.Lock()
				since := c.closingAt
				c.mu.Unlock()
				if now-since >= closeT {
					c.closeNow(frame.CloseAbnormal, "no close frame from the peer in time")
				}
				continue
			}
			switch {
			case c.pingAt != 0 && now-c.pingAt >= 2*ping:
				l.stats.pingTimeouts.Add(1)
				c.closeNow(frame.CloseAbnormal, "ping timeout")
			case c.pingAt == 0 && now-c.lastRead >= ping+pingSpread(c.fd, ping):
				c.control(frame.OpPing, nil)
				c.pingAt = nonzero(now)
			}
		}
	}
}

func ms(d time.Duration) uint32 { return uint32(d / time.Millisecond) }

// pingSpread delays a connection's ping by up to half the interval, by its
// fd: connections that went quiet together (opened in one burst, or all
// reconnected after a restart) are pinged over several sweeps instead of
// all in one, which would hold the loop for thousands of sends and their
// pongs.
func pingSpread(fd int32, ping uint32) uint32 {
	return uint32(uint64(ping/2) * uint64(fd%64) / 64)
}

// Shutdown stops accepting, closes every connection with 1001 and waits
// for them to finish the close handshake until ctx ends; then it cuts the
// rest and stops the loops.
func (s *Server) Shutdown(ctx context.Context) error {
	if !s.shutting.CompareAndSwap(false, true) {
		<-s.stopped // a second call waits for the first
		return nil
	}
	defer close(s.stopped)
	done := make(chan struct{})
	s.loops[0].Post(func() {
		s.loops[0].Del(s.lfd)
		poller.Close(s.lfd)
		close(done)
	})
	<-done
	if s.http != nil {
		s.http.shutdown(ctx)
	}
	s.eachLoopConn(func(c *Conn) {
		if c.state == stOpen {
			c.Close(frame.CloseGoingAway, "server shutting down")
		} else {
			c.closeNow(frame.CloseGoingAway, "server shutting down")
		}
	})
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	var err error
wait:
	for s.conns.Load() > 0 {
		select {
		case <-ctx.Done():
			err = ctx.Err()
			break wait
		case <-t.C:
		}
	}
	s.eachLoopConn(func(c *Conn) { c.closeNow(frame.CloseGoingAway, "server shut down") })
	for _, l := range s.loops {
		l.Stop()
		<-l.Done()
	}
	return err
}

// eachLoopConn runs fn on every connection, on its loop, and waits.
func (s *Server) eachLoopConn(fn func(c *Conn)) {
	done := make(chan struct{}, len(s.loops))
	for _, l := range s.loops {
		l.Post(func() {
			for i := range s.table {
				if c := s.table[i].Load(); c != nil && c.l == l {
					fn(c)
				}
			}
			done <- struct{}{}
		})
	}
	for range s.loops {
		<-done
	}
}
