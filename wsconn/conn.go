package wsconn

import (
	"errors"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/poller"
	"github.com/wsd-dev/wsd/trace"
)

// Read-side states, owned by the loop's goroutine.
const (
	stHandshake uint8 = iota // reading the request head
	stOpen                   // frames flow (after our Close, until the peer's: see fSentClose)
	stDraining               // nothing more to parse (a protocol error, an HTTP error sent): discard until EOF
)

// Write-side flags, under Conn.mu; read atomically elsewhere.
const (
	fSentClose      uint32 = 1 << iota // a Close frame was written or queued: no more data
	fClosed                            // the fd is closed: nothing may touch it
	fWantOut                           // EPOLLOUT is armed
	fCorked                            // the loop is handling this connection's input: small writes gather in the loop's cork buffer
	fShutAfterFlush                    // shut the write side once the queue drains (HTTP error answers)
)

// Conn is one WebSocket connection. Its methods are safe from any goroutine.
type Conn struct {
	mu    sync.Mutex
	flags atomic.Uint32
	fd    int32
	state uint8

	// Times in milliseconds since the server started (wrapping uint32).
	lastRead  uint32 // last bytes received
	pingAt    uint32 // our unanswered ping was sent; during the handshake: accept time
	closingAt uint32 // our Close was sent (under mu)

	l   *loop
	h   Handler
	rd  frame.MessageReader
	q   *queue      // bytes the socket did not take yet; nil when none (under mu)
	hs  *[]byte     // a request head split over reads; nil otherwise
	cls *closeInfo  // set when the close is decided before the socket closes
	tr  *trace.Conn // the dump of this connection, when traced
}

// closeInfo is what OnClose will report.
type closeInfo struct {
	code   frame.CloseCode
	reason string
}

// ErrClosed is returned by Send on a connection that is closing or closed.
var ErrClosed = errors.New("wsconn: connection closing or closed")

// Handler returns the handler the UpgradeFunc chose for this connection;
// applications keep their per-connection state in it.
func (c *Conn) Handler() Handler { return c.h }

// Loop returns the index of the event loop that owns the connection.
func (c *Conn) Loop() int { return c.l.ID }

// RemoteAddr returns the peer's address (a getpeername call).
func (c *Conn) RemoteAddr() netip.AddrPort { return poller.PeerAddr(int(c.fd)) }

// Server returns the server the connection belongs to.
func (c *Conn) Server() *Server { return c.l.s }

// readable handles an In (or hang-up) event: one read into the loop's
// buffer, then the bytes go to the state's parser. Loop goroutine only.
func (c *Conn) readable() {
	l := c.l
	n, err := poller.Read(int(c.fd), l.Buf)
	if err == poller.ErrAgain || err == poller.ErrIntr {
		return
	}
	if n <= 0 {
		// EOF or a socket error: the peer is gone.
		c.closeNow(frame.CloseAbnormal, "connection dropped without a close frame")
		return
	}
	c.lastRead = l.s.clock()
	if c.state != stHandshake {
		c.pingAt = 0 // any traffic answers our ping
	}
	l.stats.bytesIn.Add(int64(n))
	data := l.Buf[:n]
	switch c.state {
	case stHandshake:
		c.handshake(data)
	case stOpen:
		c.input(data)
	case stDraining:
		// Discard: the connection is ending.
	}
}

// input takes bytes of an open connection: traced (before parsing
// unmasks them in place), parsed, and the replies they cause written
// together.
func (c *Conn) input(data []byte) {
	if c.tr != nil {
		c.tr.Feed(trace.ClientToServer, data)
	}
	c.cork()
	c.frames(data)
	c.uncork()
}

// frames parses frames from data and dispatches messages.
func (c *Conn) frames(data []byte) {
	l := c.l
	for len(data) > 0 {
		msg, n, err := c.rd.Next(data)
		data = data[n:]
		if err == frame.ErrNeedMore {
			break
		}
		if err != nil {
			c.fail(err)
			return
		}
		switch msg.OpCode {
		case frame.OpPing:
			c.control(frame.OpPong, msg.Payload)
		case frame.OpPong:
			// Liveness was noted on read.
		case frame.OpClose:
			c.closeReceived(msg.Payload)
			return
		default:
			if c.flags.Load()&fSentClose != 0 {
				continue // after our Close only the peer's Close matters (§7.1.2)
			}
			l.stats.msgsIn.Add(1)
			c.h.OnMessage(c, msg.OpCode, msg.Payload)
			if c.state != stOpen || c.flags.Load()&fClosed != 0 {
				return
			}
		}
	}
	c.rd.Release()
}

// fail answers a protocol violation: a Close with its code and reason, then
// the connection drains until the peer hangs up or CloseTimeout passes
// (§7.1.7: fail the WebSocket connection).
func (c *Conn) fail(err error) {
	code, reason := frame.CloseProtocolError, err.Error()
	var pe *frame.ProtocolError
	if errors.As(err, &pe) {
		code, reason = pe.Code, pe.CloseReason()
	}
	c.l.stats.protocolErrors.Add(1)
	c.cls = &closeInfo{code, reason}
	c.sendClose(code, reason)
	c.state = stDraining
	c.rd.Reset()
	c.uncork()
	c.shutdownWrite()
}

// closeReceived handles the peer's Close (§5.5.1, §7.1.5): answer with the
// same code unless ours went first, then close the TCP connection (the
// server closes first, §7.1.1).
func (c *Conn) closeReceived(p []byte) {
	code, reason, _ := frame.ParseClose(p) // validated by the reader
	var b [2]byte
	echo := b[:0]
	if code != frame.CloseNoStatus {
		echo = append(echo, byte(code>>8), byte(code))
	}
	c.mu.Lock()
	if c.controlLocked(frame.OpClose, echo) {
		c.closingLocked()
	}
	c.mu.Unlock()
	c.uncork()
	c.closeNow(code, string(reason))
}

// control writes a control frame (pong, close) in order with the data.
func (c *Conn) control(op frame.Opcode, payload []byte) {
	c.mu.Lock()
	c.controlLocked(op, payload)
	c.mu.Unlock()
}

// controlLocked writes a control frame unless our Close went already; it
// reports whether it did. The caller holds c.mu.
func (c *Conn) controlLocked(op frame.Opcode, payload []byte) bool {
	if c.flags.Load()&(fClosed|fSentClose) != 0 {
		return false
	}
	var hb [frame.MaxHeaderSize]byte
	n := frame.Header{Fin: true, OpCode: op, Length: int64(len(payload))}.Encode(hb[:])
	c.writeLocked(hb[:n], payload, false)
	return true
}

// Close starts the closing handshake (§7.1.2): it sends a Close frame with
// code and reason and, once the peer answers or CloseTimeout passes, closes
// the TCP connection. Safe from any goroutine; later calls do nothing.
func (c *Conn) Close(code frame.CloseCode, reason string) {
	c.sendClose(code, reason)
}

// sendClose queues a Close frame once.
func (c *Conn) sendClose(code frame.CloseCode, reason string) {
	var pb [frame.MaxControlPayload]byte
	p := frame.AppendClose(pb[:0], code, reason)
	c.mu.Lock()
	if c.controlLocked(frame.OpClose, p) {
		c.closingLocked()
	}
	c.mu.Unlock()
}

// closingLocked records that our Close is out: no more data, and the
// sweep's close timeout starts. The caller holds c.mu.
func (c *Conn) closingLocked() {
	c.setFlag(fSentClose)
	c.closingAt = nonzero(c.l.s.clock())
}

// setFlag and clearFlag change flags; callers hold mu, so plain
// load-and-store is enough against other writers.
func (c *Conn) setFlag(f uint32)   { c.flags.Store(c.flags.Load() | f) }
func (c *Conn) clearFlag(f uint32) { c.flags.Store(c.flags.Load() &^ f) }

// shutdownWrite sends FIN once everything queued is out.
func (c *Conn) shutdownWrite() {
	c.mu.Lock()
	if c.q.empty() {
		poller.ShutdownWrite(int(c.fd))
	} else {
		c.setFlag(fShutAfterFlush)
	}
	c.mu.Unlock()
}

// closeNow closes the socket and reports OnClose. Loop goroutine only: the
// fd number is freed here and may be reused by the next accept.
func (c *Conn) closeNow(code frame.CloseCode, reason string) {
	if c.flags.Load()&fClosed != 0 {
		return
	}
	l, s := c.l, c.l.s
	if c.cls != nil { // decided earlier: a protocol error, a slow consumer
		code, reason = c.cls.code, c.cls.reason
	}
	s.table[c.fd].Store(nil) // before close: the number may be reused at once
	c.mu.Lock()
	c.setFlag(fClosed)
	poller.Close(int(c.fd))
	c.q = nil
	c.mu.Unlock()
	c.rd.Reset()
	c.releaseHead()
	if c.tr != nil {
		c.tr.End("connection closed, reported as " + strconv.Itoa(int(code)) + " " + reason)
	}
	s.conns.Add(-1)
	l.stats.closed.Add(1)
	if c.h != nil {
		c.h.OnClose(c, code, reason)
	}
}
