package wsconn

import (
	"fmt"
	"iter"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsd-dev/wsd/deflate"
	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/internal/chunked"
	"github.com/wsd-dev/wsd/poller"
	"github.com/wsd-dev/wsd/upgrade"
)

// engine is what a Server and a Client share: the event loops, the
// connections by fd, the limits and the memory budget, the clock.
type engine struct {
	opt    Options
	role   frame.Role
	loops  []*loop
	table  *chunked.Table[Conn] // by fd: slots, not a map
	conns  atomic.Int64
	start  time.Time
	next   atomic.Uint32 // round-robin over loops for new connections
	limits frame.Limits
	budget budget
	groups groupRegistry
	slots  *chunked.Slots[connSlot] // per-connection state some features need, by fd
	wins   *chunked.Table[byte]     // context takeover windows by fd (deflate_window.go)
	comps  compressors              // permessage-deflate compressors, shared
	srv    *Server                  // nil in a client
	cl     *Client                  // nil in a server
	tls    *tlsEngine
}

// loop is one event loop with the engine's per-loop state. Everything but
// the inbox and the counters is touched only on the loop's goroutine.
type loop struct {
	id            int
	pl            *poller.Loop
	e             *engine
	conns         chunked.List[Conn] // the loop's connections: what its sweep walks
	allConns      iter.Seq[*Conn]    // conns.All, made once: a method value made per tick is an allocation per tick
	cork          []byte             // gathers small writes to the connection being handled
	req           upgrade.Request    // the request being handshaken
	scratch       []byte             // responses and control frames are built here
	inbox         inbox
	decomp        *deflate.Decompressor // permessage-deflate, made on first need
	deflateAnswer [128]byte             // the 101's Sec-WebSocket-Extensions value is built here
	stats         stats
	tls           loopTLS
	rd            frame.MessageReader            // parses the connection being read (reader.go)
	rdConn        *Conn                          // whose bytes rd is parsing, nil between reads
	split         map[*Conn]*frame.MessageReader // the readers of connections whose last read ended inside a frame
	spare         []*frame.MessageReader         // readers given back, for reuse
}

// inbox hands new connections to a loop from other goroutines (the
// accepting loop, a dialer): the loop adopts them into its list before it
// handles any event, so that its list is complete whenever it walks it.
type inbox struct {
	n    atomic.Int32
	mu   sync.Mutex
	list []*Conn
}

func (e *engine) init(opt Options, role frame.Role, h func(l *loop)) error {
	opt.setDefaults()
	// The clock starts at 1 s, not 0: times of 0 mean "none" in the
	// connections' fields, and nonzero() must not move a real time.
	e.opt, e.role, e.start = opt, role, time.Now().Add(-time.Second)
	e.budget.max = opt.MaxMessageMemory
	e.limits = frame.Limits{MaxMessage: opt.MaxMessage, Buffers: &e.budget}
	maxFDs, err := poller.MaxFDs()
	if err != nil {
		return fmt.Errorf("wsconn: %w", err)
	}
	e.comps.level = opt.DeflateLevel
	e.table = chunked.NewTable[Conn](maxFDs)
	e.slots = chunked.NewSlots[connSlot](maxFDs)
	e.wins = chunked.NewTable[byte](maxFDs)
	for i := range opt.Loops {
		l := &loop{id: i, e: e, cork: make([]byte, 0, 64<<10), scratch: make([]byte, 0, 1024)}
		l.allConns = l.conns.All
		l.rd.Limits = &e.limits
		pl, err := poller.NewLoop(i, events{l}, opt.ReadBuffer, opt.TickInterval)
		if err != nil {
			e.stopLoops()
			return err
		}
		l.pl = pl
		e.loops = append(e.loops, l)
	}
	return nil
}

func (e *engine) runLoops() {
	for _, l := range e.loops {
		go l.pl.Run()
	}
}

func (e *engine) stopLoops() {
	for _, l := range e.loops {
		l.pl.Stop()
		<-l.pl.Done()
	}
}

// clock returns milliseconds since the engine started, wrapping at 2^32
// (49 days; only differences are used).
func (e *engine) clock() uint32 { return uint32(time.Since(e.start) / time.Millisecond) }

func nonzero(t uint32) uint32 { return max(t, 1) }

func ms(d time.Duration) uint32 { return uint32(d / time.Millisecond) }

// Conns returns the number of connections (handshaking included).
func (e *engine) Conns() int { return int(e.conns.Load()) }

// NumLoops returns the number of event loops.
func (e *engine) NumLoops() int { return len(e.loops) }

// pick chooses the loop of a new connection, in turn.
func (e *engine) pick() *loop { return e.loops[int(e.next.Add(1))%len(e.loops)] }

// register makes c reachable by its fd and hands it to its loop. The
// caller has set c's fields; the fd is not yet in epoll.
func (e *engine) register(c *Conn, events uint32) error {
	e.table.Store(int(c.fd), c)
	if s := e.slots.Peek(int(c.fd)); s != nil {
		s.reset() // the fd's last connection may have left something
	}
	e.conns.Add(1)
	l := c.l
	l.inbox.mu.Lock()
	l.inbox.list = append(l.inbox.list, c)
	l.inbox.n.Add(1)
	l.inbox.mu.Unlock()
	if err := l.pl.Add(int(c.fd), events); err != nil {
		// The conn stays in the inbox: the loop adopts it and sees it
		// closed.
		c.mu.Lock()
		c.setFlag(fClosed)
		c.mu.Unlock()
		e.table.Store(int(c.fd), nil)
		poller.Close(int(c.fd))
		e.conns.Add(-1)
		return err
	}
	return nil
}

// adopt moves the inbox into the loop's list. Loop goroutine only.
func (l *loop) adopt() {
	if l.inbox.n.Load() == 0 {
		return
	}
	l.inbox.mu.Lock()
	for i, c := range l.inbox.list {
		l.inbox.list[i] = nil
		if c.flags.Load()&fClosed == 0 {
			l.conns.Push(c)
		}
	}
	l.inbox.list = l.inbox.list[:0]
	l.inbox.n.Store(0)
	l.inbox.mu.Unlock()
}

// compact drops closed connections from the loop's list (a connection
// keeps no index into it: the sweep that walks the list anyway drops them).
func (l *loop) compact() {
	for i := l.conns.Len() - 1; i >= 0; i-- {
		if l.conns.At(i).flags.Load()&fClosed != 0 {
			l.conns.SwapRemove(i)
		}
	}
}

// onLoops runs fn on every loop's goroutine and waits for all.
func (e *engine) onLoops(fn func(l *loop)) {
	var wg sync.WaitGroup
	for _, l := range e.loops {
		wg.Add(1)
		l.pl.Post(func() {
			l.adopt()
			l.compact()
			fn(l)
			wg.Done()
		})
	}
	wg.Wait()
}

// OnLoops runs fn on every loop's goroutine with the loop's connections
// and waits for all: fn may use the connections as a handler would.
func (e *engine) OnLoops(fn func(loop int, conns iter.Seq[*Conn])) {
	e.onLoops(func(l *loop) { fn(l.id, l.conns.All) })
}

// events adapts a loop to poller.Handler, keeping Event and Tick out of
// the package's API.
type events struct{ l *loop }

func (ev events) Event(_ *poller.Loop, fd int, bits uint32) {
	l := ev.l
	l.adopt()
	if s := l.e.srv; s != nil && fd == s.lfd {
		s.accept(l)
		return
	}
	c := l.e.table.Load(fd)
	if c == nil || c.l != l {
		return
	}
	if c.state == stConnecting {
		c.connected(bits)
		return
	}
	if bits&poller.Out != 0 {
		c.flush()
	}
	if bits&(poller.In|poller.RdHup|poller.Hup|poller.Err) != 0 && c.flags.Load()&fClosed == 0 {
		c.readable()
	}
}

func (ev events) Tick(_ *poller.Loop, _ time.Time) {
	l := ev.l
	l.adopt()
	if s := l.e.srv; s != nil && l.id == 0 {
		s.resumeAccepts()
	}
	l.sweep()
	l.tlsIdle()
	if fn := l.e.opt.OnTick; fn != nil {
		fn(l.id, l.allConns)
	}
}

// sweep is the loop's timer wheel: one pass over its own connections per
// tick serves handshake, ping and close timeouts, with no timer object per
// connection, and drops the connections that closed since.
func (l *loop) sweep() {
	o := &l.e.opt
	now := l.e.clock()
	unix := uint32(time.Now().Unix())
	hs, closeT := ms(o.HandshakeTimeout), ms(o.CloseTimeout)
	ping := ms(o.PingInterval)
	// Backwards: removing a connection moves the last one into its slot,
	// and the last one has been visited already.
	for i := l.conns.Len() - 1; i >= 0; i-- {
		c := l.conns.At(i)
		if c.flags.Load()&fClosed != 0 {
			l.conns.SwapRemove(i)
			continue
		}
		t := c.timer.Load()
		switch c.state {
		case stConnecting, stHandshake:
			if now-t >= hs {
				l.stats.handshakeTimeouts.Add(1)
				if c.IsClient() {
					stage := "handshake"
					if c.state == stConnecting {
						stage = "connect"
					}
					c.dialFailed(&DialError{Stage: stage, Err: ErrTimeout})
				} else {
					c.closeNow(frame.CloseAbnormal, "handshake timeout")
				}
			}
		case stOpen, stDraining:
			if c.flags.Load()&fSentClose != 0 || c.state == stDraining {
				if t == 0 {
					// A read cleared the ping time just as the close set
					// it: the close timeout starts now.
					c.timer.CompareAndSwap(0, nonzero(now))
				} else if now-t >= closeT {
					c.closeNow(frame.CloseAbnormal, "no close from the peer in time")
				}
				continue
			}
			if c.state == stOpen && c.expired(unix) {
				c.expire()
				continue
			}
			if o.PingInterval < 0 {
				continue
			}
			switch {
			case t != 0 && now-t >= 2*ping:
				l.stats.pingTimeouts.Add(1)
				c.closeNow(frame.CloseAbnormal, "ping timeout")
			case t == 0 && now-c.lastRead >= ping+pingSpread(c.fd, ping):
				c.control(frame.OpPing, nil)
				c.timer.CompareAndSwap(0, nonzero(now)) // unless a close set it meanwhile
			}
		}
	}
}

// pingSpread delays a connection's ping by up to half the interval, by its
// fd: connections that went quiet together (opened in one burst, or all
// reconnected after a restart) are pinged over several sweeps instead of
// all in one, which would hold the loop for thousands of sends and their
// pongs.
func pingSpread(fd int32, ping uint32) uint32 {
	return uint32(uint64(ping/2) * uint64(fd%64) / 64)
}
