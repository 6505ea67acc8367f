package wsconn

import (
	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/poller"
	"github.com/wsd-dev/wsd/trace"
)

// queue holds what a socket did not take at once, frame by frame: the
// first entry may be partly written. Shared (prepared) frames are held by
// reference, never copied.
type queue struct {
	segs  [][]byte
	bytes int
}

func (q *queue) empty() bool { return q == nil || len(q.segs) == 0 }

// corkMax is the largest frame gathered in the loop's cork buffer; larger
// ones go out at once with what was gathered before them.
const corkMax = 4 << 10

// Send writes one message as a single frame (text or binary; control
// opcodes are written as given). Safe from any goroutine. It does not wait:
// what the socket does not take is queued (copied) up to QueueCap, and at
// the cap the connection is closed with 1008 or its oldest queued messages
// are dropped (Options.DropOldest). It returns ErrClosed once the
// connection is closing.
func (c *Conn) Send(op frame.Opcode, payload []byte) error {
	var hb [frame.MaxHeaderSize]byte
	h := frame.Header{Fin: true, OpCode: op, Length: int64(len(payload))}
	n := h.Encode(hb[:])
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.flags.Load()&(fClosed|fSentClose) != 0 {
		return ErrClosed
	}
	c.writeLocked(hb[:n], payload, false)
	c.l.stats.msgsOut.Add(1)
	return nil
}

// Prepared is a frame encoded once and sent to many connections: server
// frames are not masked, so every recipient gets the same bytes (§5.1).
// It is immutable; connections that cannot take it at once queue a
// reference to it, not a copy.
type Prepared struct {
	b []byte
}

// Prepare encodes a message as one frame for SendPrepared.
func Prepare(op frame.Opcode, payload []byte) *Prepared {
	h := frame.Header{Fin: true, OpCode: op, Length: int64(len(payload))}
	b := make([]byte, 0, h.Size()+len(payload))
	b = frame.AppendHeader(b, h)
	return &Prepared{b: append(b, payload...)}
}

// Len returns the frame's size on the wire.
func (p *Prepared) Len() int { return len(p.b) }

// SendPrepared writes a prepared frame. Safe from any goroutine; allocates
// nothing (a queued frame is referenced, not copied).
func (c *Conn) SendPrepared(p *Prepared) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.flags.Load()&(fClosed|fSentClose) != 0 {
		return ErrClosed
	}
	c.writeLocked(nil, p.b, true)
	c.l.stats.msgsOut.Add(1)
	return nil
}

// writeLocked writes hdr+payload after anything already queued or corked.
// shared means payload is immutable and may be queued by reference. The
// caller holds c.mu.
func (c *Conn) writeLocked(hdr, payload []byte, shared bool) {
	l := c.l
	if c.tr != nil {
		c.tr.Feed(trace.ServerToClient, hdr)
		c.tr.Feed(trace.ServerToClient, payload)
	}
	size := len(hdr) + len(payload)
	if !c.q.empty() {
		c.enqueue(hdr, payload, shared, size)
		return
	}
	var cork []byte
	if c.flags.Load()&fCorked != 0 {
		if len(l.cork)+size <= cap(l.cork) && len(payload) <= corkMax {
			l.cork = append(l.cork, hdr...)
			l.cork = append(l.cork, payload...)
			return
		}
		cork = l.cork
		l.cork = l.cork[:0]
	}
	n, err := poller.Write(int(c.fd), cork, hdr, payload)
	if err != nil && err != poller.ErrAgain {
		return // the socket is broken: the loop sees it on its next read
	}
	l.stats.bytesOut.Add(int64(n))
	// Queue the part the socket did not take.
	if k := len(cork) - n; k > 0 {
		c.enqueue(nil, cork[n:], false, k)
		n = 0
	} else {
		n -= len(cork)
	}
	if n < len(hdr) {
		c.enqueue(hdr[n:], payload, shared, size-n)
	} else if n < size {
		c.enqueue(nil, payload[n-len(hdr):], shared, size-n)
	}
}

// enqueue appends a frame (or its unwritten tail) to the queue and arms
// EPOLLOUT. At QueueCap the slow-consumer policy applies.
func (c *Conn) enqueue(hdr, payload []byte, shared bool, size int) {
	s := c.l.s
	if c.q == nil {
		c.q = &queue{}
	}
	q := c.q
	if q.bytes+size > s.opt.QueueCap && len(q.segs) > 0 {
		if !s.opt.DropOldest {
			c.slowConsumer()
			return
		}
		// Drop whole frames after the first (which may be on the wire).
		drop := 1
		for drop < len(q.segs) && q.bytes+size > s.opt.QueueCap {
			q.bytes -= len(q.segs[drop])
			drop++
			c.l.stats.queueDrops.Add(1)
		}
		q.segs = append(q.segs[:1], q.segs[drop:]...)
		if q.bytes+size > s.opt.QueueCap {
			c.l.stats.queueDrops.Add(1) // the new frame itself does not fit
			return
		}
	}
	var seg []byte
	if shared && len(hdr) == 0 {
		seg = payload
	} else {
		seg = make([]byte, 0, size)
		seg = append(append(seg, hdr...), payload...)
	}
	q.segs = append(q.segs, seg)
	q.bytes += len(seg)
	if c.flags.Load()&fWantOut == 0 {
		c.setFlag(fWantOut)
		c.l.Mod(int(c.fd), poller.In|poller.RdHup|poller.Out)
	}
}

// slowConsumer closes a connection whose queue reached the cap: the queue
// is cut to the frame on the wire, a Close 1008 goes after it, and the
// close timeout ends the connection if the peer never reads it.
func (c *Conn) slowConsumer() {
	q := c.q
	q.segs = q.segs[:1]
	q.bytes = len(q.segs[0])
	var pb [frame.MaxControlPayload]byte
	p := frame.AppendClose(pb[:0], frame.ClosePolicyViolation, "slow consumer: send queue over its cap")
	var hb [frame.MaxHeaderSize]byte
	n := frame.Header{Fin: true, OpCode: frame.OpClose, Length: int64(len(p))}.Encode(hb[:])
	seg := append(append(make([]byte, 0, n+len(p)), hb[:n]...), p...)
	if c.tr != nil {
		c.tr.Feed(trace.ServerToClient, seg)
	}
	q.segs = append(q.segs, seg)
	q.bytes += len(seg)
	c.closingLocked()
	c.cls = &closeInfo{frame.ClosePolicyViolation, "slow consumer"}
	c.l.stats.slowCloses.Add(1)
}

// flush writes queued frames on EPOLLOUT, several per writev. Loop
// goroutine only.
func (c *Conn) flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.flags.Load()&fClosed != 0 {
		return
	}
	q := c.q
	for !q.empty() {
		n, err := c.l.Writev(int(c.fd), q.segs)
		if err != nil {
			if err != poller.ErrAgain {
				poller.ShutdownBoth(int(c.fd)) // the read side reports it
			}
			return
		}
		c.l.stats.bytesOut.Add(int64(n))
		q.bytes -= n
		for n > 0 {
			if n >= len(q.segs[0]) {
				n -= len(q.segs[0])
				q.segs[0] = nil
				q.segs = q.segs[1:]
			} else {
				q.segs[0] = q.segs[0][n:]
				n = 0
			}
		}
	}
	c.q = nil // an idle connection holds no queue
	if c.flags.Load()&fWantOut != 0 {
		c.clearFlag(fWantOut)
		c.l.Mod(int(c.fd), poller.In|poller.RdHup)
	}
	if c.flags.Load()&fShutAfterFlush != 0 {
		poller.ShutdownWrite(int(c.fd))
	}
}

// cork starts gathering the loop goroutine's small writes to this
// connection (replies to a batch of messages) into one write at uncork.
func (c *Conn) cork() {
	c.mu.Lock()
	c.setFlag(fCorked)
	c.mu.Unlock()
}

func (c *Conn) uncork() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.flags.Load()&fCorked == 0 {
		return
	}
	c.clearFlag(fCorked)
	l := c.l
	if len(l.cork) == 0 || c.flags.Load()&fClosed != 0 {
		l.cork = l.cork[:0]
		return
	}
	cork := l.cork
	l.cork = l.cork[:0]
	tr := c.tr
	c.tr = nil                      // the corked frames were traced when they were written to the cork
	c.writeLocked(nil, cork, false) // copies into the queue whatever does not go out
	c.tr = tr
}
