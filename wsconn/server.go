package wsconn

import (
	"context"
	"hash/maphash"
	"net/http"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/poller"
	"github.com/wsd-dev/wsd/upgrade"
)

// Handler receives a connection's events on its loop's goroutine. The
// calls must not block: a slow handler delays every connection of the loop.
type Handler interface {
	// OnOpen is called once the handshake is done (our 101 written, or
	// the server's 101 checked).
	OnOpen(c *Conn)
	// OnMessage is called for each whole text or binary message. payload
	// points into the loop's read buffer or a pooled buffer and is valid
	// only during the call (zero-copy): copy what you keep.
	OnMessage(c *Conn, op frame.Opcode, payload []byte)
	// OnClose is called once when a connection that opened is gone, with
	// the close code received (or 1006 when none was: the TCP connection
	// dropped, a timeout; a protocol error on our side is reported with
	// the code we sent). ClosedLocally tells which side decided.
	OnClose(c *Conn, code frame.CloseCode, reason string)
}

// UpgradeFunc decides an upgrade request that passed the §4.2.1 checks: it
// returns the Handler for the new connection, or an *upgrade.Error (404 for
// an unknown path, 403, ...) to refuse it. req and its fields are valid only
// during the call.
type UpgradeFunc func(_ *Conn, req *upgrade.Request) (Handler, *upgrade.Error)

// Routes say what a server does with what arrives on its port.
type Routes struct {
	Upgrade UpgradeFunc  // routes upgrade requests; nil refuses all with 404
	HTTP    http.Handler // serves requests that are not upgrades; nil answers 404
}

// Server accepts connections on a listening socket and runs them on its
// event loops.
type Server struct {
	engine
	lfd    int
	addr   netip.AddrPort
	routes Routes
	http   *httpBridge
	value  any

	ipRate       *ipLimiter  // Options.HandshakeRate; the accepting loop's
	acceptPaused atomic.Bool // out of fds: the listener is off until the next tick
	shutting     atomic.Bool
	stopped      chan struct{} // closed when Shutdown is done
}

// New makes a server listening on opt.Addr, with its loops ready; Start
// runs them. Groups (NewGroup) can be made in between.
func New(opt Options) (*Server, error) {
	s := &Server{stopped: make(chan struct{})}
	s.srv = s
	if err := s.init(opt, frame.RoleServer, nil); err != nil {
		return nil, err
	}
	if opt.TLS != nil {
		s.tls = newTLSEngine(opt.TLS, true)
	}
	fd, addr, err := poller.Listen(s.opt.Addr, poller.ListenOptions{ReusePort: s.opt.ReusePort})
	if err != nil {
		s.stopLoops()
		return nil, err
	}
	s.lfd, s.addr = fd, addr
	if s.opt.HandshakeRate > 0 {
		s.ipRate = &ipLimiter{rate: s.opt.HandshakeRate, seed: maphash.MakeSeed()}
	}
	return s, nil
}

// SetValue keeps the application's object for the server (before Start),
// so that a handler shared by many connections need not point at it: it
// finds it through c.Server().Value().
func (s *Server) SetValue(v any) { s.value = v }

// Value returns what SetValue kept.
func (s *Server) Value() any { return s.value }

// Addr returns the address the server listens on.
func (s *Server) Addr() netip.AddrPort { return s.addr }

// Options returns the options in effect, defaults filled in.
func (s *Server) Options() Options { return s.opt }

// Start serves r: it runs the loops and begins accepting. It returns at
// once.
func (s *Server) Start(r Routes) error {
	s.routes = r
	if r.HTTP != nil {
		s.http = newHTTPBridge(r.HTTP, s.addr)
		if s.tls != nil {
			withTLSState(s.http.server)
		}
		go s.http.serve()
	}
	s.runLoops()
	return s.loops[0].pl.Add(s.lfd, poller.In)
}

// accept takes waiting connections and spreads them over the loops.
func (s *Server) accept(l *loop) {
	for range 256 {
		var fd int
		var ip netip.Addr
		var err error
		if s.ipRate != nil {
			fd, ip, err = poller.AcceptFrom(s.lfd)
		} else {
			fd, err = poller.Accept(s.lfd)
		}
		if err == poller.ErrAgain {
			return
		}
		if err != nil {
			if poller.OutOfFDs(err) && s.acceptPaused.CompareAndSwap(false, true) {
				// Level-triggered: the listener would wake us forever. Stop
				// listening until the next tick frees some fds.
				s.opt.Logger.Warn("accept: out of file descriptors; pausing accepts", "err", err, "conns", s.Conns())
				l.pl.Del(s.lfd)
			}
			l.stats.refused.Add(1)
			return
		}
		if (s.opt.MaxConns > 0 && s.conns.Load() >= int64(s.opt.MaxConns)) || fd >= s.table.Size() || s.shutting.Load() {
			l.stats.refused.Add(1) // counted before the client can see the close
			poller.Close(fd)
			continue
		}
		poller.SetNoDelay(fd)
		target := s.pick()
		now := s.clock()
		c := &Conn{fd: int32(fd), l: target, state: stHandshake, lastRead: now}
		c.timer.Store(nonzero(now))
		if s.ipRate != nil && !s.ipRate.allow(ip, now) {
			c.flags.Store(fTooFast) // answered 429 once its request is read
		}
		if s.tls != nil {
			c.newTLSConn()
		}
		target.stats.accepted.Add(1)
		s.register(c, poller.In|poller.RdHup)
	}
}

// resumeAccepts turns the listener back on after it ran out of fds.
func (s *Server) resumeAccepts() {
	if s.acceptPaused.Load() && !s.shutting.Load() {
		if s.loops[0].pl.Add(s.lfd, poller.In) == nil {
			s.acceptPaused.Store(false)
		}
	}
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
	s.loops[0].pl.Post(func() {
		s.loops[0].pl.Del(s.lfd)
		poller.Close(s.lfd)
		close(done)
	})
	<-done
	if s.http != nil {
		s.http.shutdown(ctx)
	}
	s.onLoops(func(l *loop) {
		for i := l.conns.Len() - 1; i >= 0; i-- {
			if c := l.conns.At(i); c.state == stOpen {
				c.Close(frame.CloseGoingAway, "server shutting down")
			} else {
				c.closeNow(frame.CloseGoingAway, "server shutting down")
			}
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
	s.onLoops(func(l *loop) {
		for i := l.conns.Len() - 1; i >= 0; i-- {
			l.conns.At(i).closeNow(frame.CloseGoingAway, "server shut down")
		}
	})
	s.stopLoops()
	return err
}
