package wsconn

import "github.com/wsd-dev/wsd/frame"

// The frame reader's state belongs to a connection only while a read ends
// inside a frame or a fragmented message (RFC 6455 §5.4 lets both span any
// number of reads). Between frames it is the role, the negotiated RSV bits
// and the limits alone, all of which the connection and its engine know: so
// each loop parses with one reader of its own, and an idle connection
// carries no reader at all (64 bytes of the 128 a connection took before).
// The loop keeps the readers of split connections in a map, found through
// a flag: no lookup for the usual read, and no allocation in steady state.

// maxSpareReaders bounds the readers a loop keeps for reuse.
const maxSpareReaders = 64

// beginRead returns the reader to parse c's bytes with: the one the loop
// kept for c from a read that ended inside a frame, or the loop's own,
// made new for c. Loop goroutine only; endRead must follow.
func (c *Conn) beginRead() *frame.MessageReader {
	l := c.l
	if c.flags.Load()&fSplit != 0 {
		return l.split[c]
	}
	if l.rdConn != nil {
		// A handler parsing on this loop made another connection read:
		// not a path wsconn takes, but a reader of its own keeps it right.
		return c.keepReader(c.newReader())
	}
	l.rd.Reader = frame.Reader{Role: l.e.role, Rsv: c.rsv()}
	l.rdConn = c
	return &l.rd
}

// endRead ends a read that beginRead began: a reader holding part of a
// frame or message stays with c (the loop's is copied into one kept for
// c), one that is idle goes back to the loop.
func (c *Conn) endRead(rd *frame.MessageReader) {
	l := c.l
	open := c.state == stOpen && c.flags.Load()&fClosed == 0
	if rd == &l.rd {
		l.rdConn = nil
		rd.Release()
		switch {
		case rd.Idle():
		case !open:
			rd.Reset()
		default:
			own := c.newReader()
			*own, *rd = *rd, *own // the partial message goes with c; the loop's takes the spare's empty state
			c.keepReader(own)
		}
		return
	}
	if c.flags.Load()&fSplit == 0 || l.split[c] != rd {
		return // dropped already: the connection failed or closed
	}
	rd.Release()
	if rd.Idle() || !open {
		c.dropReader()
	}
}

// keepReader records rd as c's reader between reads.
func (c *Conn) keepReader(rd *frame.MessageReader) *frame.MessageReader {
	l := c.l
	if l.split == nil {
		l.split = make(map[*Conn]*frame.MessageReader)
	}
	l.split[c] = rd
	c.mu.Lock()
	c.setFlag(fSplit)
	c.mu.Unlock()
	return rd
}

// dropReader gives back every buffer of c's partial frame or message and
// forgets it: for a connection that is done with a message, fails, closes
// or stops reading. Loop goroutine only.
func (c *Conn) dropReader() {
	l := c.l
	if l.rdConn == c {
		l.rd.Reset()
	}
	if c.flags.Load()&fSplit == 0 {
		return
	}
	rd := l.split[c]
	delete(l.split, c)
	c.mu.Lock()
	c.clearFlag(fSplit)
	c.mu.Unlock()
	rd.Reset()
	if len(l.spare) < maxSpareReaders {
		l.spare = append(l.spare, rd)
	}
}

// newReader returns a reader for c from the loop's spares, or a new one.
func (c *Conn) newReader() *frame.MessageReader {
	l := c.l
	var rd *frame.MessageReader
	if n := len(l.spare); n > 0 {
		rd, l.spare = l.spare[n-1], l.spare[:n-1]
	} else {
		rd = new(frame.MessageReader)
	}
	rd.Reader = frame.Reader{Role: l.e.role, Rsv: c.rsv()} // a spare was Reset: it holds nothing
	rd.Limits = &l.e.limits
	return rd
}

// rsv is the RSV bits c's frames may carry: RSV1 once permessage-deflate
// is agreed (RFC 7692 §6).
func (c *Conn) rsv() uint8 {
	if c.flags.Load()&fDeflate != 0 {
		return frame.Rsv1
	}
	return 0
}
