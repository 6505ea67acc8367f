package trace

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"

	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/upgrade"
)

const maxHead = 64 << 10 // a head longer than this is not HTTP we can show

// stream parses one direction of a connection.
type stream struct {
	c   *Conn
	dir Direction
	off int64 // bytes of this direction seen so far

	head    []byte // handshake head being read
	pending []byte // client bytes after the request, before the answer

	hb      [frame.MaxHeaderSize]byte
	hlen    int
	inFrame bool
	h       frame.Header
	hsize   int   // the header's size: hb[:hsize] is the header as sent
	hStart  int64 // stream offset of the frame's first byte
	hNotes  []violation
	left    int64
	wire    []byte // payload as sent, up to MaxKeep
	frames  int    // frames seen

	fragOp      frame.Opcode // data opcode of the open fragmented message, 0 if none
	msg         []byte       // its reassembled payload, up to MaxKeep
	msgLen      int64
	msgFrames   int // frames of the open data message so far
	utf8        frame.UTF8State
	utf8Bad     bool
	plain       int64  // bytes relayed unparsed
	stopped     string // why parsing stopped, if it did
	requestDone bool   // the client's request head is complete
	notHTTPAt   int    // > 0: the head is not HTTP; report it once this many bytes are in (or at the end)

	// permessage-deflate (inflate.go)
	inf    inflater
	zFrame bool   // the current frame's payload belongs to a compressed message
	comp   bool   // the open data message is compressed (RSV1 on its first frame)
	zmsg   []byte // its compressed payload so far, unmasked, up to MaxMessage
	zlen   int64  // its compressed length so far
}

// seenBytes is how many first bytes a head that is not HTTP is shown with
// (at least those that proved it is not): the report waits for them, so
// that it says the same whatever the reads were.
const seenBytes = 16

// violation is a rule of RFC 6455 the traffic broke.
type violation struct {
	Section string          `json:"section"`
	Code    frame.CloseCode `json:"close_code,omitempty"`
	Reason  string          `json:"reason"`
}

func fromError(err error) violation {
	var pe *frame.ProtocolError
	if errors.As(err, &pe) {
		return violation{Section: pe.Section, Code: pe.Code, Reason: pe.CloseReason()}
	}
	var ue *upgrade.Error
	if errors.As(err, &ue) {
		return violation{Section: "4.2.1", Reason: strconv.Itoa(ue.Status) + " " + ue.Msg}
	}
	return violation{Section: "4", Reason: err.Error()}
}

func (s *stream) feed(b []byte) {
	s.off += int64(len(b))
	switch {
	case s.stopped != "":
		s.plain += int64(len(b))
	case s.c.state == stHandshake:
		s.handshake(b)
	case s.c.state == stFrames:
		s.parseFrames(b)
	default:
		s.plain += int64(len(b))
	}
}

func (s *stream) handshake(b []byte) {
	c := s.c
	if s.requestDone {
		s.pending = append(s.pending, b...) // frames sent before the answer wait for it
		return
	}
	s.head = append(s.head, b...)
	if s.notHTTPAt > 0 {
		s.notHTTP()
		return
	}
	if s.dir == ClientToServer {
		req, n, err := upgrade.Parse(s.head, maxHead)
		if err == upgrade.ErrIncomplete {
			return
		}
		if err != nil {
			s.notHTTP()
			return
		}
		c.key = append([]byte(nil), req.Key...)
		c.offers = extensionValue(req.Head)
		var notes []violation
		if req.IsUpgrade() {
			if verr := req.Validate(); verr != nil {
				notes = append(notes, fromError(verr))
			}
		}
		c.emitRequest(s, &req, notes)
		s.pending = append([]byte{}, s.head[n:]...)
		s.head = nil
		s.requestDone = true
		return
	}
	resp, n, err := upgrade.ParseResponse(s.head, maxHead)
	if err == upgrade.ErrIncomplete {
		return
	}
	if err != nil {
		s.notHTTP()
		return
	}
	accepted := resp.Status == 101
	var notes []violation
	if accepted {
		c.neg, notes = negotiate(c.offers, extensionValue(resp.Head))
		if n := c.neg; n != nil && n.answer != "" {
			c.rsv = frame.Rsv1 // RSV1 marks a compressed message (RFC 7692 §6)
			for i := range c.dirs {
				takeover, bits := n.direction(Direction(i))
				c.dirs[i].inf = inflater{on: true, takeover: takeover, bits: bits}
			}
		}
	}
	c.emitResponse(s, &resp, notes)
	rest := append([]byte(nil), s.head[n:]...)
	s.head = nil
	if !accepted {
		c.state = stPlain
		c.dirs[ClientToServer].plain += int64(len(c.dirs[ClientToServer].pending))
		s.plain += int64(len(rest))
		return
	}
	c.state = stFrames
	s.parseFrames(rest)
	cs := &c.dirs[ClientToServer]
	p := cs.pending
	cs.pending = nil
	cs.parseFrames(p)
}

// parseHead parses the direction's head; only its error matters here.
func (s *stream) parseHead(b []byte) error {
	if s.dir == ClientToServer {
		if _, _, err := upgrade.Parse(b, maxHead); err != nil {
			return err
		}
		return nil
	}
	_, _, err := upgrade.ParseResponse(b, maxHead)
	return err
}

// notHTTP reports a head that is not HTTP, once the bytes it is shown with
// are in: the shortest prefix that fails, and at least seenBytes. The
// connection is then relayed without parsing.
func (s *stream) notHTTP() {
	if s.notHTTPAt == 0 {
		k := 1
		for k < len(s.head) && s.parseHead(s.head[:k]) == upgrade.ErrIncomplete {
			k++
		}
		s.notHTTPAt = max(k, seenBytes)
	}
	if len(s.head) < s.notHTTPAt {
		return // wait for the rest of what it is shown with
	}
	s.reportNotHTTP(s.head[:s.notHTTPAt])
}

// reportNotHTTP emits the report on the given first bytes.
func (s *stream) reportNotHTTP(seen []byte) {
	s.c.emitNotHTTP(s, s.parseHead(seen), seen)
	s.c.state = stPlain
	s.plain += int64(len(s.head))
	s.notHTTPAt = -1
}

// parseFrames parses frames; a malformed header stops parsing (the rest of the
// stream cannot be framed any more) but never the relay.
func (s *stream) parseFrames(b []byte) {
	for len(b) > 0 && s.stopped == "" {
		if !s.inFrame {
			k := copy(s.hb[s.hlen:], b)
			h, size, notes, err := parseHeader(s.hb[:s.hlen+k])
			if err == frame.ErrNeedMore {
				s.hlen += k
				return
			}
			start := s.off - int64(len(b)) - int64(s.hlen)
			used := size - s.hlen
			s.hlen = 0
			if err != nil {
				s.stop(fmt.Sprintf("unreadable frame header at stream byte %d: %v", start, err), err)
				s.plain += int64(len(b) - used)
				return
			}
			b = b[used:]
			s.h, s.hsize, s.hStart, s.hNotes, s.left, s.inFrame = h, size, start, notes, h.Length, true
			s.wire = s.wire[:0]
			s.beginFrame(h)
		}
		take := int(min(s.left, int64(len(b))))
		if keep := s.c.t.opt.MaxKeep - len(s.wire); keep > 0 {
			s.wire = append(s.wire, b[:min(take, keep)]...)
		}
		if s.zFrame {
			s.keepCompressed(b[:take], &s.h, s.h.Length-s.left)
		}
		s.left -= int64(take)
		b = b[take:]
		if s.left == 0 {
			s.inFrame = false
			s.finishFrame()
		}
	}
}

// parseHeader decodes a header leniently: a length not in its minimal
// encoding is read anyway and reported; a 64-bit length with its high bit
// set cannot be.
func parseHeader(b []byte) (h frame.Header, n int, notes []violation, err error) {
	h, n, err = frame.ParseHeader(b)
	if !errors.Is(err, frame.ErrNonMinimalLength) {
		return h, n, nil, err
	}
	notes = append(notes, fromError(err))
	n = 2
	switch b[1] & 0x7F {
	case 126:
		h.Length, n = int64(binary.BigEndian.Uint16(b[2:4])), 4
	case 127:
		h.Length, n = int64(binary.BigEndian.Uint64(b[2:10])), 10
	}
	if h.Masked {
		if len(b) < n+4 {
			return h, 0, nil, frame.ErrNeedMore
		}
		copy(h.Mask[:], b[n:n+4])
		n += 4
	}
	return h, n, notes, nil
}

// finishFrame checks a whole frame against §5 and renders it.
func (s *stream) finishFrame() {
	c := s.c
	h := s.h
	s.frames++
	notes := s.hNotes
	role := frame.RoleServer // the server reads client frames: masked
	if s.dir == ServerToClient {
		role = frame.RoleClient
	}
	if err := h.Validate(role, c.rsv); err != nil {
		notes = append(notes, fromError(err))
	} else if s.inf.on && h.Rsv&frame.Rsv1 != 0 && (h.OpCode.IsControl() || h.OpCode == frame.OpContinuation) {
		notes = append(notes, fromError(frame.ErrCompressedNotFirst))
	}
	d := Dump{Header: h, Head: s.hb[:s.hsize], Wire: s.wire, PMCE: s.inf.on}
	truncated := int64(len(s.wire)) < h.Length
	payload := d.Payload()
	switch {
	case h.OpCode.IsControl():
		if h.OpCode == frame.OpClose && !truncated {
			if _, _, err := frame.ParseClose(payload); err != nil {
				notes = append(notes, fromError(err))
			}
		}
	case h.OpCode == frame.OpContinuation:
		if s.fragOp == 0 {
			notes = append(notes, fromError(frame.ErrUnexpectedContinue))
			break
		}
		d.Text = s.fragOp == frame.OpText
		d.Compressed = s.comp
		d.Fragment = "middle"
		s.msgFrames++
		s.addToMessage(payload, truncated, &notes)
		if h.Fin {
			d.Fragment = "last"
			d.Frames, d.MessageLen = s.msgFrames, s.msgLen
			if s.comp {
				d.Inflation = s.inflate(d.Text, &notes)
			} else {
				d.Message = s.msg
			}
			s.endMessage(&notes)
		}
	default: // text or binary
		if s.fragOp != 0 {
			notes = append(notes, fromError(frame.ErrExpectedContinue))
		}
		s.fragOp, s.msg, s.msgLen, s.msgFrames, s.utf8, s.utf8Bad, s.comp = h.OpCode, s.msg[:0], 0, 1, 0, false, s.zFrame
		d.Text = h.OpCode == frame.OpText
		d.Compressed = s.comp
		s.addToMessage(payload, truncated, &notes)
		if h.Fin {
			if s.comp {
				d.Inflation = s.inflate(d.Text, &notes)
			}
			s.endMessage(&notes)
		} else {
			d.Fragment = "first"
		}
	}
	c.emitFrame(s, &d, notes, truncated)
	if d.Fragment == "last" || (d.Fragment == "" && !h.OpCode.IsControl()) {
		s.fragOp = 0
	}
}

func (s *stream) addToMessage(p []byte, truncated bool, notes *[]violation) {
	s.msgLen += s.h.Length // p may be cut to MaxKeep
	if s.comp {
		return // DEFLATE data: kept whole by keepCompressed, checked once inflated
	}
	if keep := s.c.t.opt.MaxKeep - len(s.msg); keep > 0 {
		s.msg = append(s.msg, p[:min(len(p), keep)]...)
	}
	if s.fragOp == frame.OpText && !s.utf8Bad && !truncated {
		st, bad := s.utf8.Feed(p)
		if bad >= 0 {
			s.utf8Bad = true
			*notes = append(*notes, fromError(frame.ErrInvalidUTF8))
		}
		s.utf8 = st
	}
}

func (s *stream) endMessage(notes *[]violation) {
	if s.fragOp == frame.OpText && !s.comp && !s.utf8Bad && !s.utf8.Complete() {
		*notes = append(*notes, fromError(frame.ErrInvalidUTF8))
	}
}

// stop gives up parsing this direction (the relay goes on).
func (s *stream) stop(why string, err error) {
	s.stopped = why
	s.c.emitStop(s, why, err)
}

func (s *stream) broken(why string, r any) {
	s.stop(fmt.Sprintf("%s: %v", why, r), nil)
}

// where says where the direction stands, for the end of the connection.
func (s *stream) where() string {
	switch {
	case s.stopped != "":
		return "parsing stopped: " + s.stopped + "; " + strconv.FormatInt(s.plain, 10) + " bytes relayed after that"
	case s.c.state == stHandshake && len(s.head) > 0:
		return "cut during the handshake after " + strconv.Itoa(len(s.head)) + " bytes of head"
	case s.c.state == stPlain:
		return strconv.FormatInt(s.plain, 10) + " bytes relayed unparsed (not WebSocket)"
	case s.inFrame:
		return fmt.Sprintf("cut mid-frame: %s frame of %d payload bytes, %d received (frame began at stream byte %d)",
			s.h.OpCode, s.h.Length, s.h.Length-s.left, s.hStart)
	case s.hlen > 0:
		return fmt.Sprintf("cut inside a frame header after %d of its bytes", s.hlen)
	case s.fragOp != 0 && s.comp:
		return fmt.Sprintf("cut inside a fragmented compressed %s message after %d compressed bytes", s.fragOp, s.msgLen)
	case s.fragOp != 0:
		return fmt.Sprintf("cut inside a fragmented %s message after %d bytes", s.fragOp, s.msgLen)
	}
	return "between frames"
}

// beginFrame notes, from a frame's header, whether its payload belongs to
// a compressed message: a text or binary frame with RSV1 once
// permessage-deflate was agreed starts one (RFC 7692 §6), and its
// continuations carry it on (§6.1: RSV1 only on the first frame).
func (s *stream) beginFrame(h frame.Header) {
	switch {
	case !s.inf.on:
		s.zFrame = false
	case h.OpCode == frame.OpText || h.OpCode == frame.OpBinary:
		s.dropCompressed() // a message left unfinished is abandoned (§5.4)
		s.zFrame = h.Rsv&frame.Rsv1 != 0
	case h.OpCode == frame.OpContinuation:
		s.zFrame = s.fragOp != 0 && s.comp
	default:
		s.zFrame = false
	}
}
