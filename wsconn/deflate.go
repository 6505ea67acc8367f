package wsconn

import (
	"errors"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/wsd-dev/wsd/deflate"
	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/upgrade"
)

// permessage-deflate (RFC 7692). A connection that negotiated it keeps no
// compression state between messages unless it negotiated context
// takeover: then only the last 2^bits bytes of each direction's data, in
// its extra. Compressors (~0.8 MB each at level 1) and decompressors
// (~40 KB) belong to the engine and its loops, not to connections: a
// decompressor per loop, and a small pool of compressors shared by the
// loops and the goroutines that Send (the hub's publishes). A frame
// prepared for many connections is compressed once per window size.

// Deflate flags, in Conn.flags (set at the handshake, before the
// connection is handed to anyone).
const (
	fDeflate uint32 = 1 << (16 + iota) // negotiated: RSV1 marks a compressed message
	fSendCtx                           // we keep our compression context between messages (takeover)
	fRecvCtx                           // the peer keeps its context: we keep what we inflated, as its window
	fSendBits0
	fSendBits1
	fSendBits2 // our window: 8 + the three bits (8..15)
	fRecvBits0
	fRecvBits1
	fRecvBits2 // the peer's window, likewise
)

// DefaultDeflateMinSize is the smallest message compressed: below it the
// DEFLATE block overhead eats the gain.
const DefaultDeflateMinSize = 64

// setDeflate applies an agreed configuration to a connection in the given
// role, before its first frame: at a server's handshake, or when a client
// reads the server's answer.
func (c *Conn) setDeflate(p upgrade.DeflateParams, client bool) {
	sendCtx, recvCtx := !p.ServerNoContextTakeover, !p.ClientNoContextTakeover
	sendBits, recvBits := p.ServerWindowBits(), p.ClientWindowBits()
	if client {
		sendCtx, recvCtx = recvCtx, sendCtx
		sendBits, recvBits = recvBits, sendBits
	}
	f := fDeflate | uint32(sendBits-8)*fSendBits0 | uint32(recvBits-8)*fRecvBits0
	if sendCtx {
		f |= fSendCtx
	}
	if recvCtx {
		f |= fRecvCtx
	}
	// Under mu: a client's Conn is already its caller's, who may Close it
	// meanwhile; and the reader allows RSV1 from now on (Conn.rsv).
	c.mu.Lock()
	c.setFlag(f)
	c.mu.Unlock()
	if sendCtx || recvCtx {
		c.makeWindows()
	}
}

// sendBits is the window this side compresses with.
func (c *Conn) sendBits() uint8 {
	return 8 + uint8(c.flags.Load()/fSendBits0&7)
}

// Compressed reports whether the connection negotiated permessage-deflate.
func (c *Conn) Compressed() bool { return c.flags.Load()&fDeflate != 0 }

// compressors is the engine's pool of compressors: made as needed, kept
// for reuse (as many as were ever in use at once).
type compressors struct {
	mu    sync.Mutex
	free  []*deflate.Compressor
	level int
}

func (p *compressors) get() *deflate.Compressor {
	p.mu.Lock()
	if n := len(p.free); n > 0 {
		c := p.free[n-1]
		p.free = p.free[:n-1]
		p.mu.Unlock()
		return c
	}
	p.mu.Unlock()
	c, err := deflate.NewCompressor(p.level)
	if err != nil {
		panic("wsconn: deflate level checked in setDefaults: " + err.Error())
	}
	return c
}

func (p *compressors) put(c *deflate.Compressor) {
	p.mu.Lock()
	p.free = append(p.free, c)
	p.mu.Unlock()
}

// zbufs hold compressed frames on their way to the socket.
var zbufs = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

// compress deflates payload for this connection into a pooled buffer; ok
// is false when it does not shrink the message (then it goes plain, and
// with context takeover the window is left as it was: the peer's
// inflater never sees a plain message). The caller holds c.mu and puts
// the buffer back.
func (c *Conn) compress(payload []byte) (z []byte, buf *[]byte, ok bool) {
	e := c.l.e
	f := c.flags.Load()
	var dict, w []byte
	if f&fSendCtx != 0 {
		if w = c.windows(); w == nil {
			return nil, nil, false // ended meanwhile
		}
		dict = sendWindow(w, f)
	}
	comp := e.comps.get()
	buf = zbufs.Get().(*[]byte)
	z = comp.CompressWindow((*buf)[:0], payload, dict, c.sendBits())
	e.comps.put(comp)
	*buf = z[:0]
	if len(z) >= len(payload) {
		return nil, buf, false
	}
	if w != nil {
		keepSentIn(w, f, payload)
	}
	return z, buf, true
}

// keepSent adds a message sent compressed to this connection's send
// window, for a connection with context takeover. A frame compressed
// without the context (a prepared one, shared by every connection) is
// still valid for a peer that keeps it: the peer's window is the data it
// inflated, whatever the compressor chose to refer to (RFC 7692 §7.1.1:
// takeover lets a compressor use the context, never obliges it), so a
// broadcast costs one compression in takeover mode too. The caller holds
// c.mu.
func (c *Conn) keepSent(payload []byte) {
	if w := c.windows(); w != nil {
		keepSentIn(w, c.flags.Load(), payload)
	}
}

// inflate inflates a compressed message with the loop's decompressor; the
// caller releases the result (l.decomp.Release) once the handler is done.
// A text message's UTF-8 is checked here, as the reader could not.
func (c *Conn) inflate(op frame.Opcode, payload []byte) ([]byte, error) {
	l := c.l
	if l.decomp == nil {
		l.decomp = deflate.NewDecompressor(&l.e.limits)
	}
	f := c.flags.Load()
	var dict, w []byte
	if f&fRecvCtx != 0 {
		if w = c.windows(); w == nil {
			return nil, ErrClosed
		}
		dict = recvWindow(w, f)
	}
	out, err := l.decomp.Inflate(payload, dict)
	if err != nil {
		return nil, err
	}
	if op == frame.OpText && !utf8.Valid(out) {
		l.decomp.Release(out)
		return nil, frame.ErrInvalidUTF8
	}
	if w != nil {
		keepRecv(w, f, out)
	}
	return out, nil
}

// closeFor is the close a failed inflate answers: 1009 past the size
// limit, 1007 for data that does not inflate or is not UTF-8.
func closeFor(err error) (frame.CloseCode, string) {
	var de *deflate.Error
	if errors.As(err, &de) {
		return de.Code, de.CloseReason()
	}
	var pe *frame.ProtocolError
	if errors.As(err, &pe) {
		return pe.Code, pe.CloseReason()
	}
	return frame.CloseInvalidPayload, err.Error()
}

// deflated returns the prepared frame compressed for a window of bits,
// made once (the first connection that needs it pays); nil when
// compressing does not shrink it or it is under the minimum size.
func (p *Prepared) deflated(e *engine, bits uint8) []byte {
	payload := p.b[p.hdr:]
	if len(payload) < e.opt.DeflateMinSize {
		return nil
	}
	slot := &p.z[bits-8]
	if z := slot.Load(); z != nil {
		if len(*z) == 0 {
			return nil
		}
		return *z
	}
	comp := e.comps.get()
	body := comp.CompressWindow(nil, payload, nil, bits)
	e.comps.put(comp)
	var frameBytes []byte
	if len(body) < len(payload) {
		h := frame.Header{Fin: true, Rsv: frame.Rsv1, OpCode: p.op, Length: int64(len(body))}
		frameBytes = append(frame.AppendHeader(make([]byte, 0, h.Size()+len(body)), h), body...)
	} else {
		frameBytes = []byte{} // not worth it: send the plain frame
	}
	slot.CompareAndSwap(nil, &frameBytes)
	if z := *slot.Load(); len(z) > 0 {
		return z
	}
	return nil
}

// deflatedSlots holds a prepared frame's compressed forms, by window size
// 8..15.
type deflatedSlots [8]atomic.Pointer[[]byte]
