package wsconn

import (
	"errors"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/poller"
	"github.com/wsd-dev/wsd/upgrade"
	"golang.org/x/sys/unix"
)

// Read-side states, owned by the loop's goroutine.
const (
	stConnecting uint8 = iota // client: the TCP connect is under way
	stHandshake               // reading the request head (server) or the response head (client)
	stOpen                    // frames flow (after our Close too, until the peer's: see fSentClose)
	stDraining                // nothing more to parse: discard until EOF or the close timeout
)

// Flags, changed under Conn.mu and read atomically anywhere.
const (
	fSentClose      uint32 = 1 << iota // a Close frame was written or queued: no more data
	fClosed                            // the fd is closed: nothing may touch it
	fWantOut                           // EPOLLOUT is armed
	fCorked                            // the loop is handling this connection's input: small writes gather in the loop's cork buffer
	fShutAfterFlush                    // shut the write side once the queue drains (HTTP error answers)
	fClient                            // the client role: frames we send are masked, frames we read must not be (§5.1)
	fOpened                            // OnOpen was called: OnClose will be
	fLocalClose                        // this side decided the close (Close, a violation, a timeout, the queue cap)
	fTooFast                           // over Options.HandshakeRate: the handshake is answered 429
	fTLS                               // TLS: the bytes on the wire go through extra.tls (tls.go)
	fSplit                             // a read ended inside a frame or message: the loop keeps this connection's reader (reader.go)
)

// Conn is one WebSocket connection, in either role. Its methods are safe
// from any goroutine. It is kept small (64 bytes): a server holds one per
// connection and nothing else while the connection is idle.
type Conn struct {
	mu    sync.Mutex
	flags atomic.Uint32
	fd    int32
	state uint8
	gid   uint16 // the Group the connection is in (its number in the engine's registry), 0 for none
	gslot int32  // index in its group's list on this loop

	// Times in milliseconds since the engine started (wrapping uint32).
	// lastRead is the loop's alone. timer means, by state: before the
	// open, the accept (or dial) time; while open, when our unanswered
	// ping went out (0: none); once our Close is out or the connection
	// drains, when that began. The loop writes it, and so does whoever
	// closes (under mu): atomic.
	lastRead uint32
	timer    atomic.Uint32

	l *loop
	h Handler
	x atomic.Pointer[extra] // what only some connections need; nil for most
}

// extra holds what a connection needs only at times: a queue while the
// socket is full, a head split over reads, an observer, a close decided
// early, a client's request. It is made on first need (under mu, or before the
// connection is handed to a handler) and dropped again once empty, so that
// an idle connection carries none.
type extra struct {
	q    queue // bytes the socket did not take yet (under mu)
	obs  Observer
	head []byte                 // a head split over reads
	cls  closeInfo              // the close decided before the socket's (code 0: none)
	dial *upgrade.ClientRequest // a client's request until it is written, when its handler is not a DialHandler
	tls  *tlsConn               // a TLS connection's state, for its whole life
}

// closeInfo is what OnClose will report.
type closeInfo struct {
	code   frame.CloseCode
	reason string
}

// ErrClosed is returned by Send on a connection that is closing or closed.
var ErrClosed = errors.New("wsconn: connection closing or closed")

// Handler returns the handler chosen for this connection (by the
// UpgradeFunc, or given to Dial); applications keep their state in it.
func (c *Conn) Handler() Handler { return c.h }

// Loop returns the index of the event loop that owns the connection.
func (c *Conn) Loop() int { return c.l.id }

// RemoteAddr returns the peer's address (a getpeername call).
func (c *Conn) RemoteAddr() netip.AddrPort { return poller.PeerAddr(int(c.fd)) }

// Server returns the server the connection belongs to, nil for a client
// connection.
func (c *Conn) Server() *Server { return c.l.e.srv }

// IsClient reports whether this side is the client.
func (c *Conn) IsClient() bool { return c.flags.Load()&fClient != 0 }

// IsOpen reports whether the handshake is done and no Close has been sent.
func (c *Conn) IsOpen() bool {
	return c.state == stOpen && c.flags.Load()&(fSentClose|fClosed) == 0
}

// ClosedLocally reports whether this side decided the close: Close was
// called, the peer broke the protocol, a timeout passed or the queue cap
// was reached. Meaningful in OnClose.
func (c *Conn) ClosedLocally() bool { return c.flags.Load()&fLocalClose != 0 }

// Buffered returns the bytes queued for the socket.
func (c *Conn) Buffered() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if q := c.queued(); q != nil {
		return q.bytes
	}
	return 0
}

// TCPInfo returns the kernel's TCP_INFO for the connection's socket:
// segment and byte counters, RTT, retransmissions.
func (c *Conn) TCPInfo() (*unix.TCPInfo, error) { return poller.TCPInfo(int(c.fd)) }

// extraLocked returns c's extra, making it. The caller holds mu or has
// not handed c to anyone yet.
func (c *Conn) extraLocked() *extra {
	x := c.x.Load()
	if x == nil {
		x = &extra{}
		c.x.Store(x)
	}
	return x
}

// observer returns c's observer or nil.
func (c *Conn) observer() Observer {
	if x := c.x.Load(); x != nil {
		return x.obs
	}
	return nil
}

// trimExtra drops c's extra once nothing in it is needed. Loop goroutine
// only; the caller holds mu or has not handed c to anyone yet.
func (c *Conn) trimExtra() {
	if x := c.x.Load(); x != nil && x.obs == nil && x.cls.code == 0 && x.head == nil && x.q.empty() && x.dial == nil && x.tls == nil {
		c.x.Store(nil)
	}
}

// queued returns c's queue, nil when there is none. The caller holds mu.
func (c *Conn) queued() *queue {
	if x := c.x.Load(); x != nil {
		return &x.q
	}
	return nil
}

// decide records the close to report, decided here before the socket's
// end (a violation, the queue cap). The caller holds mu.
func (c *Conn) decideLocked(code frame.CloseCode, reason string) {
	c.setFlag(fLocalClose)
	if x := c.extraLocked(); x.cls.code == 0 {
		x.cls = closeInfo{code, reason}
	}
}

// Close starts the closing handshake (§7.1.2): it sends a Close frame with
// code and reason and, once the peer answers or CloseTimeout passes, closes
// the TCP connection. Safe from any goroutine; later calls do nothing.
func (c *Conn) Close(code frame.CloseCode, reason string) {
	c.mu.Lock()
	if c.flags.Load()&(fClosed|fSentClose) == 0 {
		c.setFlag(fLocalClose)
	}
	c.mu.Unlock()
	c.sendClose(code, reason)
}

// sendClose queues a Close frame once.
func (c *Conn) sendClose(code frame.CloseCode, reason string) {
	var pb [frame.MaxControlPayload]byte
	p := frame.AppendClose(pb[:0], code, reason)
	c.mu.Lock()
	if c.controlLocked(frame.OpClose, p) {
		c.closingLocked()
		c.l.stats.codes.sent[codeSlot(code)].Add(1)
	}
	c.mu.Unlock()
}

// closingLocked records that our Close is out: no more data, and the
// sweep's close timeout starts. The caller holds c.mu.
func (c *Conn) closingLocked() {
	c.setFlag(fSentClose)
	c.timer.Store(nonzero(c.l.e.clock()))
}

// setFlag and clearFlag change flags; callers hold mu, so plain
// load-and-store is enough against other writers.
func (c *Conn) setFlag(f uint32)   { c.flags.Store(c.flags.Load() | f) }
func (c *Conn) clearFlag(f uint32) { c.flags.Store(c.flags.Load() &^ f) }

// shutdownWrite sends FIN once everything queued is out.
func (c *Conn) shutdownWrite() {
	c.mu.Lock()
	if c.queued().empty() {
		c.shutWriteLocked()
	} else {
		c.setFlag(fShutAfterFlush)
	}
	c.mu.Unlock()
}

// closeNow closes the socket and reports the end. Loop goroutine only:
// the fd number is freed here and may be reused by the next accept. The
// loop's next sweep drops the connection from its list.
func (c *Conn) closeNow(code frame.CloseCode, reason string) { c.end(code, reason, nil) }

// end closes the socket and reports the end: OnClose if the connection
// opened, a failed dial if a client's never did (dialErr, or one made of
// reason).
func (c *Conn) end(code frame.CloseCode, reason string, dialErr *DialError) {
	if c.flags.Load()&fClosed != 0 {
		return
	}
	l, e := c.l, c.l.e
	if c.gid != 0 {
		e.groups.get(c.gid).remove(c)
	}
	e.table.Store(int(c.fd), nil) // before close: the number may be reused at once
	c.dropReader()
	c.mu.Lock()
	x := c.x.Load()
	if x != nil && x.cls.code != 0 { // decided earlier: a violation, a slow consumer, the peer's Close
		code, reason = x.cls.code, x.cls.reason
	}
	if x != nil && x.obs != nil { // before the peer can see the socket close
		x.obs.End("connection closed, reported as " + strconv.Itoa(int(code)) + " " + reason)
	}
	if x != nil && x.tls != nil {
		c.tlsCloseLocked(x.tls)
	}
	c.setFlag(fClosed)
	if c.flags.Load()&(fSendCtx|fRecvCtx) != 0 {
		e.wins.Store(int(c.fd), nil) // before the fd number can be reused
	}
	poller.Close(int(c.fd))
	c.x.Store(nil)
	c.mu.Unlock()
	l.stats.closed.Add(1)
	switch {
	case c.flags.Load()&fOpened != 0:
		c.h.OnClose(c, code, reason)
	case c.flags.Load()&fClient != 0:
		if dialErr == nil {
			dialErr = &DialError{Stage: "handshake", Err: errors.New(reason)}
		}
		if dh, ok := c.h.(DialHandler); ok {
			dh.OnDialError(c, dialErr)
		} else {
			c.h.OnClose(c, frame.CloseAbnormal, dialErr.Error())
		}
	}
	e.conns.Add(-1) // after the handler heard it: Conns() == 0 means every OnClose ran
}
