package wsconn

import (
	"math/rand/v2"
	"sync"

	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/poller"
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
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.flags.Load()&(fClosed|fSentClose) != 0 {
		return ErrClosed
	}
	c.writeFrameLocked(op, payload)
	c.l.stats.msgsOut.Add(1)
	return nil
}

// Prepared is a frame encoded once and sent to many connections: server
// frames are not masked, so every recipient gets the same bytes (§5.1).
// It is immutable; connections that cannot take it at once queue a
// reference to it, not a copy.
type Prepared struct {
	b    []byte
	hdr  uint8 // header length: a client connection masks b[hdr:] afresh
	op   frame.Opcode
	each bool          // PrepareEach: compressed per connection where context is kept
	z    deflatedSlots // compressed forms, made once each when a connection needs one
}

// Prepare encodes a message as one frame for SendPrepared.
func Prepare(op frame.Opcode, payload []byte) *Prepared {
	h := frame.Header{Fin: true, OpCode: op, Length: int64(len(payload))}
	b := make([]byte, 0, h.Size()+len(payload))
	b = frame.AppendHeader(b, h)
	return &Prepared{b: append(b, payload...), hdr: uint8(h.Size()), op: op}
}

// PrepareEach is Prepare for a message that goes to a few connections (one
// user's): a connection with context takeover compresses it against its
// own window, as Send would, instead of taking the shared compressed form —
// a user's notifications then refer to the ones before them (RFC 7692
// §7.1.1), which is what takeover is for. Others get the shared frames.
func PrepareEach(op frame.Opcode, payload []byte) *Prepared {
	p := Prepare(op, payload)
	p.each = true
	return p
}

// Len returns the frame's size on the wire.
func (p *Prepared) Len() int { return len(p.b) }

// SendPrepared writes a prepared frame. Safe from any goroutine; allocates
// nothing (a queued frame is referenced, not copied). A client connection
// masks it afresh (§5.3), as Send would.
func (c *Conn) SendPrepared(p *Prepared) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.flags.Load()&(fClosed|fSentClose) != 0 {
		return ErrClosed
	}
	switch f := c.flags.Load(); {
	case f&fClient != 0, p.each && f&fSendCtx != 0:
		c.writeFrameLocked(p.op, p.b[p.hdr:]) // masked afresh, or compressed with this connection's context
	default:
		b := p.b
		if f&fDeflate != 0 {
			if z := p.deflated(c.l.e, c.sendBits()); z != nil {
				b = z
				if f&fSendCtx != 0 {
					c.keepSent(p.b[p.hdr:])
				}
			}
		}
		if obs := c.observer(); obs != nil {
			obs.Sent(b)
		}
		c.sendSharedLocked(b)
	}
	c.l.stats.msgsOut.Add(1)
	return nil
}

// writeFrameLocked encodes and writes one whole frame in this side's role:
// a server's as it is, a client's masked with a fresh key (§5.3). The
// caller holds c.mu. Nothing here keeps payload: callers may build it on
// the stack.
func (c *Conn) writeFrameLocked(op frame.Opcode, payload []byte) {
	if c.flags.Load()&fDeflate != 0 && op.IsData() && len(payload) >= c.l.e.opt.DeflateMinSize {
		// The compressor gets a pooled copy, never payload itself: to the
		// compiler the flate writer keeps what it is given, so handing it
		// payload would move every caller's stack buffer to the heap, on
		// every connection, deflate or not (the hub's hello, built in a
		// [256]byte, became 256 B of garbage per connection: ~100 B more
		// RSS per idle /ws/{user} connection). The copy is a memcpy beside
		// a compression.
		src := zbufs.Get().(*[]byte)
		*src = append((*src)[:0], payload...)
		z, buf, ok := c.compress(*src)
		if ok {
			c.writeHeaderedLocked(frame.Header{Fin: true, Rsv: frame.Rsv1, OpCode: op, Length: int64(len(z))}, z)
		} else {
			c.writeHeaderedLocked(frame.Header{Fin: true, OpCode: op, Length: int64(len(payload))}, payload)
		}
		zbufs.Put(buf)
		zbufs.Put(src)
		return
	}
	c.writeHeaderedLocked(frame.Header{Fin: true, OpCode: op, Length: int64(len(payload))}, payload)
}

// writeHeaderedLocked writes a frame with header h in this side's role.
func (c *Conn) writeHeaderedLocked(h frame.Header, payload []byte) {
	if c.flags.Load()&fClient == 0 {
		var hb [frame.MaxHeaderSize]byte
		hdr := hb[:h.Encode(hb[:])]
		if obs := c.observer(); obs != nil {
			observeHeader(obs, h)
			observeCopy(obs, payload)
		}
		c.sendLocked(hdr, payload)
		return
	}
	h.Masked = true
	k := rand.Uint32() // the runtime's per-thread ChaCha8: unpredictable, as §5.3 asks
	h.Mask = [4]byte{byte(k), byte(k >> 8), byte(k >> 16), byte(k >> 24)}
	c.writeMaskedLocked(h, payload)
}

// maskChunk is how much of a client frame is masked at a time into a
// pooled buffer: the caller's payload is never changed.
const maskChunk = 32 << 10

var maskBufs = sync.Pool{New: func() any { return new([maskChunk]byte) }}

// writeMaskedLocked writes a client frame: into the cork buffer, masked in
// place, when it fits, else masked chunk by chunk through a pooled buffer.
func (c *Conn) writeMaskedLocked(h frame.Header, payload []byte) {
	l := c.l
	obs := c.observer()
	var hb [frame.MaxHeaderSize]byte
	hdr := hb[:h.Encode(hb[:])]
	size := len(hdr) + len(payload)
	if c.flags.Load()&fCorked != 0 && c.queued().empty() && len(l.cork)+size <= cap(l.cork) && len(payload) <= corkMax {
		start := len(l.cork)
		l.cork = append(append(l.cork, hdr...), payload...)
		frame.Mask(h.Mask, 0, l.cork[start+len(hdr):])
		if obs != nil {
			obs.Sent(l.cork[start:])
		}
		return
	}
	if obs != nil {
		observeHeader(obs, h)
	}
	buf := maskBufs.Get().(*[maskChunk]byte)
	for off := 0; ; {
		n := copy(buf[:], payload[off:])
		frame.Mask(h.Mask, off, buf[:n])
		if obs != nil {
			obs.Sent(buf[:n])
		}
		c.sendLocked(hdr, buf[:n])
		hdr = nil
		if off += n; off >= len(payload) {
			break
		}
	}
	maskBufs.Put(buf)
}

// sendLocked writes hdr+payload after anything already queued or corked;
// what the socket does not take is copied into the queue, so the caller's
// bytes are free once it returns. The bytes were observed by the caller.
// The caller holds c.mu.
func (c *Conn) sendLocked(hdr, payload []byte) {
	if c.flags.Load()&fTLS != 0 {
		c.sendTLSLocked(hdr, payload)
		return
	}
	size := len(hdr) + len(payload)
	if !c.queued().empty() {
		if c.admit(size) {
			c.push(join(hdr, payload))
		}
		return
	}
	cork, gathered := c.gather(hdr, payload)
	if gathered {
		return
	}
	n, ok := c.write(cork, hdr, payload)
	if !ok {
		return
	}
	// Queue the part the socket did not take.
	if n = c.queueCork(cork, n); n < 0 {
		n = 0
	}
	if n < size && c.admit(size-n) {
		if n < len(hdr) {
			c.push(join(hdr[n:], payload))
		} else {
			c.push(join(nil, payload[n-len(hdr):]))
		}
	}
}

// sendSharedLocked writes an immutable frame after anything queued or
// corked; what the socket does not take is queued by reference. The caller
// holds c.mu.
func (c *Conn) sendSharedLocked(b []byte) {
	if c.flags.Load()&fTLS != 0 {
		c.sendTLSSharedLocked(b)
		return
	}
	if !c.queued().empty() {
		if c.admit(len(b)) {
			c.push(b)
		}
		return
	}
	cork, gathered := c.gather(nil, b)
	if gathered {
		return
	}
	n, ok := c.write(cork, nil, b)
	if !ok {
		return
	}
	if n = c.queueCork(cork, n); n < 0 {
		n = 0
	}
	if n < len(b) && c.admit(len(b)-n) {
		c.push(b[n:])
	}
}

// gather appends a small frame to the loop's cork buffer while the loop
// handles this connection's input; a frame that does not fit takes the
// gathered bytes (returned) out with it.
func (c *Conn) gather(hdr, payload []byte) (cork []byte, gathered bool) {
	if c.flags.Load()&fCorked == 0 {
		return nil, false
	}
	l := c.l
	if len(l.cork)+len(hdr)+len(payload) <= cap(l.cork) && len(payload) <= corkMax {
		l.cork = append(append(l.cork, hdr...), payload...)
		return nil, true
	}
	cork = l.cork
	l.cork = l.cork[:0]
	return cork, false
}

// write sends cork+hdr+payload with one syscall; ok is false when the
// socket is broken (the loop sees it on its next read).
func (c *Conn) write(cork, hdr, payload []byte) (n int, ok bool) {
	n, err := poller.Write(int(c.fd), cork, hdr, payload)
	if err != nil && err != poller.ErrAgain {
		return 0, false
	}
	n = max(n, 0)
	c.l.stats.bytesOut.Add(int64(n))
	return n, true
}

// queueCork queues what the socket did not take of the cork (a copy: the
// cork buffer is the loop's) and returns n less the cork's length.
func (c *Conn) queueCork(cork []byte, n int) int {
	if k := len(cork) - n; k > 0 {
		if c.admit(k) {
			c.push(join(nil, cork[n:]))
		}
		return -k
	}
	return n - len(cork)
}

func join(a, b []byte) []byte {
	seg := make([]byte, 0, len(a)+len(b))
	return append(append(seg, a...), b...)
}

// admit decides whether size more bytes may be queued: at QueueCap the
// slow-consumer policy applies (close with 1008, or drop the oldest queued
// frames).
func (c *Conn) admit(size int) bool {
	o := &c.l.e.opt
	q := &c.extraLocked().q
	if q.bytes+size <= o.QueueCap || len(q.segs) == 0 {
		return true
	}
	if !o.DropOldest || c.flags.Load()&fSendCtx != 0 {
		// With context takeover every compressed frame is in the window
		// the next ones may refer to: dropping one would corrupt the rest
		// (RFC 7692 §7.2.3), so such a connection closes instead.
		c.slowConsumer()
		return false
	}
	// Drop whole frames after the first (which may be on the wire).
	drop := 1
	for drop < len(q.segs) && q.bytes+size > o.QueueCap {
		q.bytes -= len(q.segs[drop])
		drop++
		c.l.stats.queueDrops.Add(1)
	}
	q.segs = append(q.segs[:1], q.segs[drop:]...)
	if q.bytes+size > o.QueueCap {
		c.l.stats.queueDrops.Add(1) // the new frame itself does not fit
		return false
	}
	return true
}

// push appends an admitted segment to the queue and arms EPOLLOUT.
func (c *Conn) push(seg []byte) {
	q := c.queued()
	q.segs = append(q.segs, seg)
	q.bytes += len(seg)
	if c.flags.Load()&fWantOut == 0 {
		c.setFlag(fWantOut)
		c.l.pl.Mod(int(c.fd), poller.In|poller.RdHup|poller.Out)
	}
}

// slowConsumer closes a connection whose queue reached the cap: the queue
// is cut to the frame on the wire, a Close 1008 goes after it, and the
// close timeout ends the connection if the peer never reads it.
func (c *Conn) slowConsumer() {
	q := c.queued()
	q.segs = q.segs[:1]
	q.bytes = len(q.segs[0])
	var pb [frame.MaxControlPayload]byte
	p := frame.AppendClose(pb[:0], frame.ClosePolicyViolation, "slow consumer: send queue over its cap")
	seg := c.appendFrame(make([]byte, 0, frame.MaxHeaderSize+len(p)), frame.OpClose, p)
	if obs := c.observer(); obs != nil {
		obs.Sent(seg)
	}
	q.segs = append(q.segs, seg)
	q.bytes += len(seg)
	c.closingLocked()
	c.l.stats.codes.sent[codeSlot(frame.ClosePolicyViolation)].Add(1)
	c.decideLocked(frame.ClosePolicyViolation, "slow consumer")
	c.l.stats.slowCloses.Add(1)
}

// appendFrame appends a whole frame in this side's role (masked for a
// client) to dst.
func (c *Conn) appendFrame(dst []byte, op frame.Opcode, payload []byte) []byte {
	h := frame.Header{Fin: true, OpCode: op, Length: int64(len(payload))}
	if c.flags.Load()&fClient == 0 {
		return append(frame.AppendHeader(dst, h), payload...)
	}
	k := rand.Uint32()
	h.Masked, h.Mask = true, [4]byte{byte(k), byte(k >> 8), byte(k >> 16), byte(k >> 24)}
	dst = frame.AppendHeader(dst, h)
	start := len(dst)
	dst = append(dst, payload...)
	frame.Mask(h.Mask, 0, dst[start:])
	return dst
}

// flush writes queued frames on EPOLLOUT, several per writev. Loop
// goroutine only.
func (c *Conn) flush() {
	if c.flags.Load()&fTLS != 0 {
		c.flushTLS()
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.flags.Load()&fClosed != 0 {
		return
	}
	q := c.queued()
	for !q.empty() {
		n, err := c.l.pl.Writev(int(c.fd), q.segs)
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
	if q != nil {
		*q = queue{}
		c.trimExtra() // an idle connection holds no queue
	}
	if c.flags.Load()&fWantOut != 0 {
		c.clearFlag(fWantOut)
		c.l.pl.Mod(int(c.fd), poller.In|poller.RdHup)
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

// uncork writes what was gathered. The frames were observed when they
// were gathered.
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
	c.sendLocked(nil, cork) // copies into the queue whatever does not go out
}
