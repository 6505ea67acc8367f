package trace

import (
	"errors"
	"strconv"
	"sync"
	"unicode/utf8"

	"github.com/wsd-dev/wsd/deflate"
	"github.com/wsd-dev/wsd/frame"
)

// The tracer inflates compressed messages itself (RFC 7692 §7.2.2), per
// connection and direction: the compressed payload of a message (its
// fragments joined, unmasked) is kept up to the size limit, then inflated
// in one go, primed with the direction's window when its sender keeps
// context (§7.1.1). Inflating is bounded by the same limit (a bomb stops
// there), and a payload that does not inflate is a violation, never a
// crash. Decompressors (~40 KiB each) are shared by all connections of a
// tracer; a connection keeps only its windows.

// Inflation is what inflating one compressed message gave.
type Inflation struct {
	Compressed    []byte // the compressed payload, fragments joined, unmasked (up to MaxKeep)
	CompressedLen int64
	Fragments     int    // frames the message came in
	Inflated      []byte // the message (up to MaxKeep); nil unless OK
	InflatedLen   int64  // its length, when OK
	OK            bool   // it inflated
	Window        int    // bytes of earlier messages it was inflated after (context takeover)
	Takeover      bool   // the sender keeps context: Window is meaningful
	WindowBits    uint8  // the sender's window (2^WindowBits bytes)
	Bomb          int64  // > 0: it inflates past this limit and was stopped there
	TooBig        int64  // > 0: its compressed payload alone passes this limit: not inflated
	Failed        bool   // the payload does not inflate (a violation, in the frame's notes)
	NotInflated   string // why it was not even tried (context lost)
}

// Ratio is compressed size over inflated size; 0 when unknown or empty.
func (in *Inflation) Ratio() float64 {
	if !in.OK || in.InflatedLen == 0 {
		return 0
	}
	return float64(in.CompressedLen) / float64(in.InflatedLen)
}

// inflater is one direction's state.
type inflater struct {
	on       bool   // the connection negotiated permessage-deflate
	takeover bool   // the sender keeps its window between messages
	bits     uint8  // its window: 2^bits bytes
	window   []byte // the last 2^bits bytes inflated (takeover only)
	lost     string // why the window can no longer be followed
}

// decompressors are a tracer's, shared by its connections: one per
// message being inflated at a time.
type decompressors struct {
	limit int64
	pool  sync.Pool
}

func (d *decompressors) get() *deflate.Decompressor {
	if x := d.pool.Get(); x != nil {
		return x.(*deflate.Decompressor)
	}
	return deflate.NewDecompressor(&frame.Limits{MaxMessage: d.limit})
}

func (d *decompressors) put(x *deflate.Decompressor) { d.pool.Put(x) }

// keepCompressed appends a piece of a compressed message's payload, as on
// the wire (masked when h is), at offset pos of its frame: unmasked, up to
// the limit. What passes the limit is only counted.
func (s *stream) keepCompressed(b []byte, h *frame.Header, pos int64) {
	s.zlen += int64(len(b))
	room := s.c.t.opt.MaxMessage - int64(len(s.zmsg))
	if room <= 0 {
		return
	}
	b = b[:min(int64(len(b)), room)]
	start := len(s.zmsg)
	s.zmsg = append(s.zmsg, b...)
	if h.Masked {
		frame.Mask(h.Mask, int(pos&3), s.zmsg[start:])
	}
}

// inflate inflates the compressed message that just ended, adds what
// went wrong to notes, and forgets the compressed bytes.
func (s *stream) inflate(text bool, notes *[]violation) *Inflation {
	t := s.c.t
	inf := &s.inf
	r := &Inflation{
		Compressed:    clip(s.zmsg, t.opt.MaxKeep),
		CompressedLen: s.zlen,
		Fragments:     s.msgFrames,
		Takeover:      inf.takeover,
		WindowBits:    inf.bits,
	}
	defer s.dropCompressed()
	switch {
	case s.zlen > t.opt.MaxMessage:
		r.TooBig = t.opt.MaxMessage
		s.loseWindow("a compressed message passed the size limit and was not inflated")
		return r
	case inf.lost != "":
		r.NotInflated = inf.lost
		return r
	}
	var dict []byte
	if inf.takeover {
		dict = inf.window
		r.Window = len(dict)
	}
	dec := t.decomps.get()
	out, err := dec.Inflate(s.zmsg, dict)
	t.decomps.put(dec)
	if err != nil {
		var de *deflate.Error
		switch {
		case errors.Is(err, deflate.ErrTooBig):
			r.Bomb = t.opt.MaxMessage
			s.loseWindow("an earlier message inflated past the size limit")
		case errors.As(err, &de):
			r.Failed = true
			*notes = append(*notes, violation{Section: de.Section, Code: de.Code, Reason: de.Reason + ": " + de.Detail})
			s.loseWindow("an earlier message did not inflate")
		default:
			r.Failed = true
			*notes = append(*notes, violation{Section: "RFC 7692 §7.2.2", Code: frame.CloseInvalidPayload, Reason: err.Error()})
			s.loseWindow("an earlier message did not inflate")
		}
		return r
	}
	r.OK, r.InflatedLen = true, int64(len(out))
	r.Inflated = clip(out, t.opt.MaxKeep)
	if text && !utf8.Valid(out) {
		*notes = append(*notes, fromError(frame.ErrInvalidUTF8))
	}
	if inf.takeover {
		inf.window = deflate.AppendWindow(inf.window, out, inf.bits)
	}
	return r
}

// loseWindow: with context takeover, the messages after one that could not
// be inflated refer to bytes the dump does not have.
func (s *stream) loseWindow(why string) {
	if s.inf.takeover && s.inf.lost == "" {
		s.inf.lost = why + ", and with context takeover every message may refer to the ones before (RFC 7692 §7.1.1): not inflated"
		s.inf.window = nil
	}
}

// dropCompressed forgets a message's compressed bytes; a big buffer is
// let go, so that a connection holds nothing large between messages.
func (s *stream) dropCompressed() {
	s.zlen = 0
	if cap(s.zmsg) > 64<<10 {
		s.zmsg = nil
	} else {
		s.zmsg = s.zmsg[:0]
	}
}

// describeRatio says how the sizes compare.
func describeRatio(r *Inflation) string {
	if r.InflatedLen == 0 {
		return "- (an empty message)"
	}
	ratio := r.Ratio()
	s := strconv.FormatFloat(ratio, 'f', 2, 64) + " (" + strconv.FormatInt(r.CompressedLen, 10) + " / " + strconv.FormatInt(r.InflatedLen, 10) + " bytes"
	if ratio < 1 {
		return s + ": " + strconv.Itoa(int((1-ratio)*100+0.5)) + "% saved)"
	}
	return s + ": no gain, a message this small or random does not shrink)"
}
