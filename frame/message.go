package frame

import (
	"errors"
	"strconv"
)

// Message is a whole data message or a control frame.
type Message struct {
	OpCode  Opcode
	Payload []byte // unmasked; valid until the next call to Next or Release
	// Compressed: RSV1 was set on the message's first frame (RFC 7692
	// §6): Payload is DEFLATE data to inflate, and a text message's UTF-8
	// is not checked yet.
	Compressed bool
}

// Buffers lends the memory that holds partly received messages. A server
// uses it to cap that memory across all connections.
type Buffers interface {
	// Get returns a buffer of length 0 and capacity at least n, or nil when
	// the budget is spent.
	Get(n int) []byte
	// Put gives back a buffer that Get returned.
	Put(b []byte)
}

// Limits are shared by the MessageReaders of many connections.
type Limits struct {
	MaxMessage int64   // largest message accepted; 0 means no limit
	Buffers    Buffers // nil: allocate with make and let the GC reclaim
}

// MessageReader reassembles messages from frames fed in any chunking
// (§5.4), answering the rules of §5 through its Reader and the size limit
// of Limits (close code 1009).
//
// A message that arrives whole in one input (the common case) is returned
// as a slice of that input: no copy. Only a message split over inputs or
// fragmented is copied into a buffer, borrowed from Limits.Buffers for the
// time it is needed: a connection between messages holds no buffer.
// Control frames between fragments are returned as they come.
type MessageReader struct {
	Reader
	Limits *Limits
	asm    *assembly // set once a message or control frame spans inputs
}

// assembly holds what a message split over inputs needs. It is kept out of
// line: most readers never need it, and a reader kept for a connection
// whose read ended inside a frame should cost little.
type assembly struct {
	buf     []byte // the data message being assembled
	ctl     []byte // a control frame split over inputs (rare)
	op      Opcode // opcode of the message in buf
	lent    bool   // buf holds a message already returned
	ctlLent bool   // ctl holds a control frame already returned
}

var noLimits Limits

// Next reads from b until it completes a message and returns it with the
// number of bytes consumed. When b runs out first it returns ErrNeedMore
// with n = len(b); the partial message is kept. Any other error is a
// *ProtocolError to close the connection with.
func (m *MessageReader) Next(b []byte) (msg Message, n int, err error) {
	m.Release()
	lim := m.limits()
	for n < len(b) {
		c, k, err := m.Reader.Next(b[n:])
		n += k
		if err != nil {
			return msg, n, m.sizeFirst(lim, err)
		}
		h := &c.Header
		if h.OpCode.IsControl() {
			if c.First && c.Last {
				return m.control(h.OpCode, c.Payload, n)
			}
			a := m.assembly()
			if c.First {
				if a.ctl = m.get(lim, MaxControlPayload); a.ctl == nil {
					return msg, n, ErrMessageTooBig.with("no memory left for messages")
				}
			}
			a.ctl = append(a.ctl, c.Payload...)
			if c.Last {
				a.ctlLent = true
				return m.control(h.OpCode, a.ctl, n)
			}
			continue
		}
		if c.First {
			held := 0
			if m.asm != nil {
				held = len(m.asm.buf)
			}
			total := int64(held) + h.Length
			if lim.MaxMessage > 0 && total > lim.MaxMessage {
				return msg, n, ErrMessageTooBig.with(strconv.FormatInt(total, 10) + " bytes, limit " + strconv.FormatInt(lim.MaxMessage, 10))
			}
			if c.Last && h.Fin && h.OpCode != OpContinuation {
				return Message{OpCode: h.OpCode, Payload: c.Payload, Compressed: m.comp}, n, nil // whole in b: no copy
			}
			if h.OpCode != OpContinuation {
				m.assembly().op = h.OpCode
			}
		}
		a := m.assembly()
		if err := m.append(lim, a, c.Payload, h); err != nil {
			return msg, n, err
		}
		if c.Last && h.Fin {
			a.lent = true
			return Message{OpCode: a.op, Payload: a.buf, Compressed: m.comp}, n, nil
		}
	}
	return msg, n, ErrNeedMore
}

// sizeFirst makes a frame over the size limit fail as too big (1009) even
// when the Reader found bad UTF-8 (1007) in the same input: the limit is
// checked as soon as the header is in, so when the header arrives alone
// that is what fails, and the outcome must not depend on the reads.
func (m *MessageReader) sizeFirst(lim *Limits, err error) error {
	if lim.MaxMessage <= 0 || !errors.Is(err, ErrInvalidUTF8) || !m.h.OpCode.IsData() {
		return err
	}
	held := int64(0)
	if m.asm != nil {
		held = int64(len(m.asm.buf))
	}
	if total := held + m.h.Length; total > lim.MaxMessage {
		return ErrMessageTooBig.with(strconv.FormatInt(total, 10) + " bytes, limit " + strconv.FormatInt(lim.MaxMessage, 10))
	}
	return err
}

// assembly returns the out-of-line state, making it on first need. It is
// kept afterwards: a connection that sent one split message likely sends
// more.
func (m *MessageReader) assembly() *assembly {
	if m.asm == nil {
		m.asm = &assembly{}
	}
	return m.asm
}

func (m *MessageReader) control(op Opcode, p []byte, n int) (Message, int, error) {
	if op == OpClose {
		if _, _, err := ParseClose(p); err != nil {
			return Message{}, n, err
		}
	}
	return Message{OpCode: op, Payload: p}, n, nil
}

// append adds payload bytes to the message being assembled, growing its
// buffer as bytes arrive (not as lengths are announced: a peer that
// announces 16 MiB and sends one byte gets a small buffer).
func (m *MessageReader) append(lim *Limits, a *assembly, p []byte, h *Header) error {
	need := len(a.buf) + len(p)
	if need > cap(a.buf) {
		size := max(need, 2*cap(a.buf), 512)
		if h.Fin {
			// The final frame's length bounds the message. Up to 1 MiB is
			// taken at once (no regrowth); beyond that the buffer grows as
			// bytes arrive, so an announcement alone cannot claim much.
			total := need + int(m.left)
			size = min(max(size, min(total, 1<<20)), total)
		}
		nb := m.get(lim, size)
		if nb == nil {
			return ErrMessageTooBig.with("no memory left for messages")
		}
		nb = append(nb, a.buf...)
		m.put(lim, a.buf)
		a.buf = nb
	}
	a.buf = append(a.buf, p...)
	return nil
}

// Release returns the buffer of a message returned by Next. Next calls it
// itself; a caller that is done with the last message calls it so that an
// idle connection holds nothing.
func (m *MessageReader) Release() {
	a := m.asm
	if a == nil {
		return
	}
	if a.lent {
		m.put(m.limits(), a.buf)
		a.buf, a.lent = nil, false
	}
	if a.ctlLent {
		m.put(m.limits(), a.ctl)
		a.ctl, a.ctlLent = nil, false
	}
}

// Reset gives back every buffer, including those of a partial message, and
// makes the reader new: for a connection that closes. It keeps its empty
// assembly record, so that a reader used again allocates nothing.
func (m *MessageReader) Reset() {
	a := m.asm
	if a != nil {
		lim := m.limits()
		m.put(lim, a.buf)
		m.put(lim, a.ctl)
		*a = assembly{}
	}
	*m = MessageReader{Reader: Reader{Role: m.Role, Rsv: m.Rsv}, Limits: m.Limits, asm: a}
}

// Idle reports whether the reader holds nothing between inputs: no frame,
// header or fragmented message open, and no buffer but lent ones (which
// Release gives back). An idle reader's state is its Role, Rsv and Limits
// alone, so a server can keep one reader per event loop and give a
// connection its own only while a read ends inside a frame.
func (m *MessageReader) Idle() bool {
	return m.Reader.Idle() && (m.asm == nil || ((m.asm.buf == nil || m.asm.lent) && (m.asm.ctl == nil || m.asm.ctlLent)))
}

// Buffered returns the bytes held for a partial message.
func (m *MessageReader) Buffered() int {
	if m.asm == nil {
		return 0
	}
	return cap(m.asm.buf) + cap(m.asm.ctl)
}

func (m *MessageReader) limits() *Limits {
	if m.Limits == nil {
		return &noLimits
	}
	return m.Limits
}

func (m *MessageReader) get(lim *Limits, n int) []byte {
	if lim.Buffers == nil {
		return make([]byte, 0, n)
	}
	return lim.Buffers.Get(n)
}

func (m *MessageReader) put(lim *Limits, b []byte) {
	if b != nil && lim.Buffers != nil {
		lim.Buffers.Put(b[:0])
	}
}
