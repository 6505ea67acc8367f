package load

import (
	"errors"
	"time"

	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/poller"
	"github.com/wsd-dev/wsd/upgrade"
)

const (
	csConnecting uint8 = iota
	csHandshake
	csOpen
	csClosing // our Close is sent
	csDone
)

// Conn is one client connection. Its methods run on its loop.
type Conn struct {
	fd    int32
	ID    int32 // index given at Dial
	state uint8
	l     *Loop
	rd    frame.MessageReader
	key   [24]byte
	head  []byte // response head split over reads
	out   []byte // bytes the socket did not take
	t0    time.Duration
	tReq  time.Duration
	slot  int32 // index in l.conns

	// Scenario state.
	Sent, Recv int64
	Next       time.Duration // rate mode: when the next message is due
}

// Loop returns the connection's loop.
func (c *Conn) Loop() *Loop { return c.l }

func (c *Conn) event(ev uint32) {
	e := c.l.e
	switch c.state {
	case csConnecting:
		if err := poller.SocketError(int(c.fd)); err != nil {
			c.drop(causeOf(err), err.Error())
			return
		}
		if ev&poller.Out == 0 {
			return
		}
		now := e.Now()
		c.l.ConnectHist.Record(now - c.t0)
		c.key = upgrade.NewKey()
		req := upgrade.AppendRequest(c.l.wbuf[:0], upgrade.ClientRequest{
			Host: e.cfg.Host, URI: ExpandPath(e.cfg.Path, int(c.ID)), Key: c.key[:], Origin: e.cfg.Origin,
		})
		c.tReq = now
		c.state = csHandshake
		c.l.Mod(int(c.fd), poller.In|poller.RdHup)
		c.write(req)
		return
	}
	if ev&poller.Out != 0 {
		c.flush()
	}
	if ev&(poller.In|poller.RdHup|poller.Hup|poller.Err) != 0 {
		c.readable()
	}
}

func (c *Conn) readable() {
	n, err := poller.Read(int(c.fd), c.l.Buf)
	if err == poller.ErrAgain || err == poller.ErrIntr {
		return
	}
	if n <= 0 {
		switch c.state {
		case csHandshake:
			c.drop(CauseBadResponse, "connection closed during the handshake")
		case csOpen:
			c.drop(CauseClosed, "server closed the connection without a close frame")
		default:
			c.finish()
		}
		return
	}
	c.l.e.bytesIn.Add(int64(n))
	data := c.l.Buf[:n]
	if c.state == csHandshake {
		data = c.handshake(data)
		if data == nil {
			return
		}
	}
	c.frames(data)
}

// handshake parses the 101; it returns the bytes after the head, or nil.
func (c *Conn) handshake(data []byte) []byte {
	in := data
	if c.head != nil {
		c.head = append(c.head, data...)
		in = c.head
	}
	resp, n, err := upgrade.ParseResponse(in, 0)
	if err == upgrade.ErrIncomplete {
		if c.head == nil {
			c.head = append([]byte(nil), data...)
		}
		return nil
	}
	if err == nil {
		err = resp.Check(c.key[:])
	}
	if err != nil {
		cause := CauseBadResponse
		switch {
		case errors.Is(err, upgrade.ErrBadStatus):
			cause = CauseBadStatus
		case errors.Is(err, upgrade.ErrBadAccept):
			cause = CauseBadAccept
		}
		c.drop(cause, err.Error())
		return nil
	}
	e := c.l.e
	c.l.HandshakeHist.Record(e.Now() - c.tReq)
	c.state = csOpen
	c.head = nil
	e.pending.Add(-1)
	e.open.Add(1)
	e.opened.Add(1)
	c.slot = int32(len(c.l.conns))
	c.l.conns = append(c.l.conns, c)
	e.sc.Open(c)
	rest := in[n:]
	if len(rest) == 0 {
		return nil
	}
	return append([]byte(nil), rest...) // in may be c.head, released above
}

func (c *Conn) frames(data []byte) {
	for len(data) > 0 && c.state != csDone {
		msg, n, err := c.rd.Next(data)
		data = data[n:]
		if err == frame.ErrNeedMore {
			break
		}
		if err != nil {
			var pe *frame.ProtocolError
			if errors.As(err, &pe) {
				c.sendClose(pe.Code)
			}
			c.drop(CauseProtocol, err.Error())
			return
		}
		switch msg.OpCode {
		case frame.OpPing:
			c.Send(frame.OpPong, msg.Payload)
		case frame.OpPong:
		case frame.OpClose:
			code, _, _ := frame.ParseClose(msg.Payload)
			if c.state == csOpen {
				c.sendClose(code)
				if !c.l.e.closing.Load() {
					c.l.e.fail(CauseClosed, "server closed with "+code.String())
				}
			}
			c.finish()
			return
		default:
			if c.state == csOpen {
				c.l.e.sc.Message(c, msg.OpCode, msg.Payload)
			}
		}
	}
	c.rd.Release()
}

// Send writes a masked frame with a fresh key (§5.3).
func (c *Conn) Send(op frame.Opcode, payload []byte) {
	if c.state != csOpen && !(c.state == csClosing && op == frame.OpClose) {
		return
	}
	l := c.l
	k := l.rng.Uint64()
	h := frame.Header{Fin: true, OpCode: op, Length: int64(len(payload)), Masked: true,
		Mask: [4]byte{byte(k), byte(k >> 8), byte(k >> 16), byte(k >> 24)}}
	need := frame.MaxHeaderSize + len(payload)
	if cap(l.wbuf) < need {
		l.wbuf = make([]byte, 0, need)
	}
	b := frame.AppendHeader(l.wbuf[:0], h)
	hn := len(b)
	b = append(b, payload...)
	frame.Mask(h.Mask, 0, b[hn:])
	c.write(b)
}

// write sends b or queues what the socket does not take.
func (c *Conn) write(b []byte) {
	if c.out != nil {
		c.out = append(c.out, b...)
		return
	}
	n, err := poller.Write(int(c.fd), b, nil, nil)
	if err != nil && err != poller.ErrAgain {
		return // the read side reports the failure
	}
	c.l.e.bytesOut.Add(int64(max(n, 0)))
	if n < len(b) {
		c.out = append([]byte(nil), b[max(n, 0):]...)
		c.l.Mod(int(c.fd), poller.In|poller.RdHup|poller.Out)
	}
}

func (c *Conn) flush() {
	if c.out == nil {
		return
	}
	n, err := poller.Write(int(c.fd), c.out, nil, nil)
	if err != nil && err != poller.ErrAgain {
		return
	}
	c.l.e.bytesOut.Add(int64(max(n, 0)))
	c.out = c.out[max(n, 0):]
	if len(c.out) == 0 {
		c.out = nil
		c.l.Mod(int(c.fd), poller.In|poller.RdHup)
	}
}

// Buffered returns the bytes waiting to be written.
func (c *Conn) Buffered() int { return len(c.out) }

func (c *Conn) sendClose(code frame.CloseCode) {
	var p [2]byte
	payload := p[:0]
	if code != frame.CloseNoStatus && code.CanSend() {
		payload = append(payload, byte(code>>8), byte(code))
	}
	if c.state == csOpen {
		c.Send(frame.OpClose, payload)
		c.state = csClosing
	}
}

// close starts the closing handshake.
func (c *Conn) close(code frame.CloseCode) {
	if c.state == csOpen {
		c.sendClose(code)
	}
}

// drop ends a connection as a failure of the given cause.
func (c *Conn) drop(cause Cause, msg string) {
	if c.state == csDone {
		return
	}
	if !(cause == CauseClosed && c.l.e.closing.Load()) {
		c.l.e.fail(cause, msg)
	}
	c.finish()
}

// finish closes the socket and forgets the connection.
func (c *Conn) finish() {
	if c.state == csDone {
		return
	}
	e := c.l.e
	if c.state < csOpen {
		e.pending.Add(-1)
	} else {
		e.open.Add(-1)
		e.closed.Add(1)
		// Remove from the loop's list by swapping the last one in.
		conns := c.l.conns
		last := conns[len(conns)-1]
		conns[c.slot] = last
		last.slot = c.slot
		c.l.conns = conns[:len(conns)-1]
	}
	c.state = csDone
	e.table[c.fd].Store(nil)
	poller.Close(int(c.fd))
	c.rd.Reset()
	c.out, c.head = nil, nil
}

// Conns returns the loop's open connections (do not keep the slice).
func (l *Loop) Conns() []*Conn { return l.conns }

// Engine returns the loop's engine.
func (l *Loop) Engine() *Engine { return l.e }
