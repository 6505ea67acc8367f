package wsconn

import (
	"errors"

	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/poller"
)

// readable handles an In (or hang-up) event: one read into the loop's
// buffer, then the bytes go to the state's parser. Loop goroutine only.
func (c *Conn) readable() {
	if c.flags.Load()&fTLS != 0 {
		c.readableTLS()
		return
	}
	l := c.l
	buf := l.pl.Buf
	n, err := poller.Read(int(c.fd), buf)
	if err == poller.ErrAgain || err == poller.ErrIntr {
		return
	}
	if n <= 0 {
		c.dropped()
		return
	}
	c.heard()
	l.stats.bytesIn.Add(int64(n))
	c.dispatch(buf[:n])
}

// dropped ends a connection whose peer is gone: EOF or a socket error.
func (c *Conn) dropped() {
	if c.state == stHandshake && c.IsClient() {
		c.dialFailed(&DialError{Stage: "handshake", Err: errors.New("the server closed the connection before its answer")})
		return
	}
	c.closeNow(frame.CloseAbnormal, "connection dropped without a close frame")
}

// heard notes that bytes came from the peer.
func (c *Conn) heard() {
	c.lastRead = c.l.e.clock()
	if t := c.timer.Load(); t != 0 && c.state == stOpen && c.flags.Load()&fSentClose == 0 {
		c.timer.CompareAndSwap(t, 0) // any traffic answers our ping (unless a close set it meanwhile)
	}
}

// dispatch hands bytes read (decrypted, with TLS) to the state's parser.
func (c *Conn) dispatch(data []byte) {
	switch c.state {
	case stHandshake:
		if c.IsClient() {
			c.answer(data)
		} else {
			c.handshake(data)
		}
	case stOpen:
		c.input(data)
	case stDraining:
		// Discard: the connection is ending.
	}
}

// input takes bytes of an open connection: observed (before parsing
// unmasks them in place), parsed, and the replies they cause written
// together.
func (c *Conn) input(data []byte) {
	if obs := c.observer(); obs != nil {
		c.mu.Lock()
		obs.Received(data)
		c.mu.Unlock()
	}
	c.cork()
	c.frames(data)
	c.uncork()
}

// frames parses frames from data and dispatches messages.
func (c *Conn) frames(data []byte) {
	rd := c.beginRead()
	c.parse(rd, data)
	c.endRead(rd)
}

// parse reads frames from data with rd and dispatches the messages; it
// returns early once the connection fails or closes.
func (c *Conn) parse(rd *frame.MessageReader, data []byte) {
	l := c.l
	for len(data) > 0 {
		msg, n, err := rd.Next(data)
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
			if l.e.opt.ClientMsgRate > 0 && !c.allowMessage(c.lastRead) {
				l.stats.rateLimited.Add(1)
				c.failWith(frame.ClosePolicyViolation, "rate limit")
				return
			}
			l.stats.msgsIn.Add(1)
			if msg.Compressed {
				p, err := c.inflate(msg.OpCode, msg.Payload)
				if err != nil {
					c.failWith(closeFor(err))
					return
				}
				c.h.OnMessage(c, msg.OpCode, p)
				l.decomp.Release(p)
			} else {
				c.h.OnMessage(c, msg.OpCode, msg.Payload)
			}
			if c.state != stOpen || c.flags.Load()&fClosed != 0 {
				return
			}
		}
	}
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
	c.failWith(code, reason)
}

// failWith closes the connection for something it did: a Close with code
// and reason, then it drains.
func (c *Conn) failWith(code frame.CloseCode, reason string) {
	c.mu.Lock()
	c.decideLocked(code, reason)
	c.mu.Unlock()
	c.sendClose(code, reason)
	c.state = stDraining
	c.dropReader()
	c.uncork()
	c.shutdownWrite()
}

// closeReceived handles the peer's Close (§5.5.1, §7.1.5): answer with the
// same code unless ours went first. The server then closes the TCP
// connection (it closes first, §7.1.1); a client waits for the server to
// close it, up to CloseTimeout.
func (c *Conn) closeReceived(p []byte) {
	code, reason, _ := frame.ParseClose(p) // validated by the reader
	c.l.stats.codes.received[codeSlot(code)].Add(1)
	var b [2]byte
	echo := b[:0]
	if code != frame.CloseNoStatus {
		echo = append(echo, byte(code>>8), byte(code))
	}
	c.mu.Lock()
	if c.controlLocked(frame.OpClose, echo) {
		c.closingLocked()
		c.l.stats.codes.sent[codeSlot(code)].Add(1)
	}
	client := c.flags.Load()&fClient != 0
	if client {
		if x := c.extraLocked(); x.cls.code == 0 {
			x.cls = closeInfo{code, string(reason)}
		}
	}
	c.mu.Unlock()
	c.uncork()
	if client {
		c.state = stDraining
		c.dropReader()
		return
	}
	c.closeNow(code, string(reason))
}

// control writes a control frame (pong, ping) in order with the data.
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
	c.writeFrameLocked(op, payload)
	return true
}
