package frame

import "strconv"

// Chunk is a piece of one frame's payload as the Reader found it in its
// input. A frame arrives as one or more chunks: the first carries First,
// the one that completes the payload carries Last (a frame that fits in the
// input is one chunk with both). Payload is unmasked in place and points
// into the caller's buffer.
type Chunk struct {
	Header  Header
	Payload []byte
	First   bool
	Last    bool
}

// Reader parses frames incrementally from input fed in any chunking, down
// to one byte at a time (RFC 6455 §5.2), validating each frame as it goes
// (§5.1, §5.2, §5.4, §5.5) and text messages as UTF-8 across fragments and
// chunks (§8.1).
//
// Between chunks it keeps only a few bytes of state: at most a split header
// (14 bytes), the frame being read and the UTF-8 state. It never buffers
// payload; see MessageReader for reassembly.
type Reader struct {
	h         Header // the frame being read
	left      int64  // its payload bytes still to come
	hbuf      [MaxHeaderSize]byte
	hlen      uint8     // bytes of a split header held in hbuf
	pos       uint8     // masking key offset
	Role      Role      // RoleServer expects masked frames (§5.1)
	Rsv       uint8     // RSV bits allowed by negotiated extensions (§5.2)
	inPayload bool      // the header was read; payload bytes follow
	fragOp    Opcode    // opcode of the unfinished fragmented message, 0 if none
	text      bool      // the current data message is text, its UTF-8 checked as it comes
	utf8      UTF8State // of the current text message
	comp      bool      // the current data message is compressed (RSV1 on its first frame, RFC 7692 §6)
	// The fields are ordered so that the struct packs into 48 bytes: a
	// server holds one per event loop, and one per connection whose last
	// read ended inside a frame.
}

// Idle reports whether the reader is between frames with nothing held and
// no fragmented message open.
func (r *Reader) Idle() bool { return !r.inPayload && r.hlen == 0 && r.fragOp == 0 }

// Next reads from b the next chunk of the current frame, reading its header
// first if one is due, and returns the chunk and the number of bytes of b it
// consumed. When b ends inside a header it keeps those bytes, returns
// ErrNeedMore and n = len(b). A frame whose header is read but none of its
// payload yet is returned as a First chunk with an empty payload.
//
// Any other error is a *ProtocolError: the connection must be closed with
// its Code, and the Reader must not be used again.
func (r *Reader) Next(b []byte) (c Chunk, n int, err error) {
	first := false
	if !r.inPayload {
		var h Header
		if h, n, err = r.readHeader(b); err != nil {
			return c, n, err
		}
		if err = r.begin(h); err != nil {
			return c, n, err
		}
		first = true
	}
	take := len(b) - n
	if int64(take) > r.left {
		take = int(r.left)
	}
	p := b[n : n+take]
	n += take
	if r.h.Masked {
		r.pos = uint8(Mask(r.h.Mask, int(r.pos), p))
	}
	if r.text && r.h.OpCode.IsData() {
		st, bad := r.utf8.Feed(p)
		if bad >= 0 {
			return c, n, ErrInvalidUTF8.with("at payload byte " + strconv.FormatInt(r.h.Length-r.left+int64(bad), 10))
		}
		r.utf8 = st
	}
	r.left -= int64(take)
	c = Chunk{Header: r.h, Payload: p, First: first, Last: r.left == 0}
	if c.Last {
		r.inPayload = false
		if r.h.OpCode.IsData() && r.h.Fin {
			if r.text && !r.utf8.Complete() {
				return c, n, ErrInvalidUTF8.with("message ends inside a character")
			}
			r.fragOp, r.text, r.utf8 = 0, false, utf8Accept
		}
	}
	return c, n, nil
}

// readHeader decodes the next header from the bytes held from earlier calls
// followed by b.
func (r *Reader) readHeader(b []byte) (h Header, n int, err error) {
	if r.hlen == 0 {
		h, n, err = ParseHeader(b)
		if err == ErrNeedMore {
			r.hlen = uint8(copy(r.hbuf[:], b))
			return h, len(b), err
		}
		return h, n, err
	}
	// A header split over reads: add what fits to the bytes held and try
	// again. hbuf holds the largest header, so if it fills up the header
	// is complete.
	old := int(r.hlen)
	k := copy(r.hbuf[old:], b)
	h, n, err = ParseHeader(r.hbuf[:old+k])
	if err == ErrNeedMore {
		r.hlen = uint8(old + k)
		return h, k, err
	}
	r.hlen = 0
	if err != nil {
		return h, k, err
	}
	return h, n - old, nil
}

// begin validates a new frame against the role and the fragmentation state
// (§5.4) and makes it current.
func (r *Reader) begin(h Header) error {
	if err := h.Validate(r.Role, r.Rsv); err != nil {
		return err
	}
	if h.Rsv&Rsv1 != 0 && (h.OpCode.IsControl() || h.OpCode == OpContinuation) {
		return ErrCompressedNotFirst.with(h.OpCode.String() + " frame with RSV1")
	}
	if h.OpCode.IsData() {
		if h.OpCode == OpContinuation {
			if r.fragOp == 0 {
				return ErrUnexpectedContinue
			}
		} else {
			if r.fragOp != 0 {
				return ErrExpectedContinue.with(h.OpCode.String() + " frame while a " + r.fragOp.String() + " message is open")
			}
			// A compressed message's UTF-8 is checked once it is inflated:
			// its bytes here are DEFLATE data.
			r.comp = h.Rsv&Rsv1 != 0
			r.text = h.OpCode == OpText && !r.comp
			r.utf8 = utf8Accept
			if !h.Fin {
				r.fragOp = h.OpCode
			}
		}
	}
	r.h, r.left, r.pos, r.inPayload = h, h.Length, 0, true
	return nil
}
