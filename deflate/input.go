package deflate

import "io"

// messageReader feeds the inflater one message: the payload, then the
// 00 00 ff ff of §7.2.2, then finalBlock, an empty stored block with BFINAL
// set. It watches how the inflater reads that last block to tell a message
// that ends on a block boundary from one cut inside a block.
//
// A well-formed message (with the 4 octets put back) ends exactly at the
// end of a block on a byte boundary (§7.2.1: the sender's data ended with
// an empty stored block whose LEN and NLEN it removed), so the inflater
// next reads finalBlock as a block: its first byte alone (ReadByte, a block
// header, with no bits left over from before), then LEN and NLEN in one
// 4-byte read of the stored block's header (io.ReadFull), then stops with
// io.EOF. A message cut inside a block reads finalBlock's bytes as more of
// that block instead, in any other pattern (or fails): a stored block's
// data reads them with a longer Read, a Huffman block byte by byte past the
// first. So the message is complete exactly when finalBlock was read in
// that pattern (inflate.go checks this). This relies on how
// klauspost/compress/flate reads an io.ByteReader (ReadByte for bits, one
// io.ReadFull for a stored block's LEN and NLEN once aligned); the tests
// hold it to an independent inflater.
type messageReader struct {
	msg []byte
	pos int // bytes given out, over msg + syncTail + finalBlock

	finalHeader bool // finalBlock's first byte was read alone by ReadByte
	finalLen    bool // then its LEN and NLEN, in one Read of 4
	odd         bool // finalBlock was read in any other way
}

// finalBlock is BFINAL=1, BTYPE=00 (stored), LEN=0, NLEN=0xffff.
var finalBlock = [5]byte{0x01, 0x00, 0x00, 0xff, 0xff}

func (m *messageReader) reset(msg []byte) { *m = messageReader{msg: msg} }

// total is the length of everything the reader gives out.
func (m *messageReader) total() int { return len(m.msg) + len(syncTail) + len(finalBlock) }

// finalStart is where finalBlock begins.
func (m *messageReader) finalStart() int { return len(m.msg) + len(syncTail) }

func (m *messageReader) at(i int) byte {
	switch {
	case i < len(m.msg):
		return m.msg[i]
	case i < m.finalStart():
		return syncTail[i-len(m.msg)]
	}
	return finalBlock[i-m.finalStart()]
}

func (m *messageReader) ReadByte() (byte, error) {
	if m.pos >= m.total() {
		return 0, io.EOF
	}
	switch f := m.finalStart(); {
	case m.pos == f:
		m.finalHeader = true
	case m.pos > f:
		m.odd = true
	}
	c := m.at(m.pos)
	m.pos++
	return c, nil
}

func (m *messageReader) Read(p []byte) (int, error) {
	if m.pos >= m.total() {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	f := m.finalStart()
	end := min(m.pos+len(p), m.total())
	if end > f { // touches finalBlock
		if m.pos == f+1 && len(p) == 4 && m.finalHeader && !m.finalLen {
			m.finalLen = true
		} else {
			m.odd = true
		}
	}
	n := 0
	if m.pos < len(m.msg) {
		n = copy(p, m.msg[m.pos:])
	}
	for ; m.pos+n < end; n++ {
		p[n] = m.at(m.pos + n)
	}
	m.pos += n
	return n, nil
}

// overran reports whether the inflater read finalBlock other than as a
// block: the payload ended inside a block, which took finalBlock's bytes as
// its own, and output made since may come from them.
func (m *messageReader) overran() bool {
	return m.pos > m.finalStart() && !(m.finalHeader && m.finalLen && !m.odd)
}

// complete reports, once the inflater stopped with io.EOF, whether the
// message was a complete DEFLATE stream: it ended on a block boundary and
// finalBlock was read as a block (see messageReader), or a block of its own
// with BFINAL set ended it (§7.2.1 allows such blocks). After such a block
// the payload may hold only the 0x00 that §7.2.1 leaves of the empty stored
// block a sender appends behind it (the example of §7.2.3.4:
// f3 48 cd c9 c9 07 00 00), or nothing; anything else is data past the end
// of the stream (RFC 1951 §3.2.3: BFINAL marks the last block). Whatever
// the final block left unread of the 4 octets put back is not the
// payload's.
func (m *messageReader) complete() bool {
	if m.pos <= m.finalStart() {
		rest := m.msg[min(m.pos, len(m.msg)):]
		return len(rest) == 0 || len(rest) == 1 && rest[0] == 0x00
	}
	return m.pos == m.total() && m.finalHeader && m.finalLen && !m.odd
}
