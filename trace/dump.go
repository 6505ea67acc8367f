package trace

import (
	"encoding/hex"
	"strconv"

	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/internal/jsonw"
)

// Dump is one frame as it crossed the wire, for rendering to learners.
type Dump struct {
	Header   frame.Header
	Head     []byte // the header as sent; nil: as Header encodes
	Wire     []byte // payload bytes as sent: masked when Header.Masked
	Text     bool   // the payload belongs to a text message (for continuations)
	Fragment string // "" for a whole message or a control frame; "first", "middle", "last"
	Message  []byte // on the last fragment: the reassembled message
	// On the last fragment: the message's frames and its length on the
	// wire (compressed, if it is).
	Frames     int
	MessageLen int64

	// permessage-deflate (RFC 7692)
	PMCE       bool       // the connection agreed on it: RSV1 means "compressed" (websocket.pmc)
	Compressed bool       // the frame belongs to a compressed message (RSV1 on its first frame)
	Inflation  *Inflation // on the frame that ends a compressed message: what it inflated to
}

// Payload returns the unmasked payload (a copy when the frame was masked).
func (d *Dump) Payload() []byte {
	if !d.Header.Masked {
		return d.Wire
	}
	p := append([]byte(nil), d.Wire...)
	frame.Mask(d.Header.Mask, 0, p)
	return p
}

// head returns the header's bytes as sent, or as Header encodes them.
func (d *Dump) head(buf *[frame.MaxHeaderSize]byte) []byte {
	if len(d.Head) >= 2 {
		return d.Head
	}
	return buf[:d.Header.Encode(buf[:])]
}

// lengthEncoding names the payload-length encoding the header used and says
// why (§5.2).
func lengthEncoding(h frame.Header) (name, why string) {
	switch {
	case h.Length > 0xFFFF:
		return "64-bit", "byte 1 holds 127 and the next 8 bytes the length, as it is over 65535 (most significant bit 0)"
	case h.Length > 125:
		return "16-bit", "byte 1 holds 126 and the next 2 bytes the length, as it is 126-65535"
	}
	return "7-bit", "the length (0-125) fits in byte 1 itself"
}

// AppendText renders the frame as an annotated block: the bits of bytes 0
// and 1, the length encoding, the masking key, the masked bytes and the
// payload as text or hex, and a close frame's code with its meaning. At
// most maxShow payload bytes are shown (0: all).
func (d *Dump) AppendText(dst []byte, maxShow int) []byte {
	h := d.Header
	var buf [frame.MaxHeaderSize]byte
	hb := d.head(&buf)
	n := len(hb)
	b0, b1 := hb[0], hb[1]

	dst = append(dst, "  byte 0  "...)
	dst = appendBits(dst, b0)
	dst = append(dst, "  FIN="...)
	dst = appendBit(dst, h.Fin)
	dst = append(dst, " RSV1="...)
	dst = appendBit(dst, h.Rsv&frame.Rsv1 != 0)
	dst = append(dst, " RSV2="...)
	dst = appendBit(dst, h.Rsv&frame.Rsv2 != 0)
	dst = append(dst, " RSV3="...)
	dst = appendBit(dst, h.Rsv&frame.Rsv3 != 0)
	dst = append(dst, " opcode=0x"...)
	dst = strconv.AppendUint(dst, uint64(h.OpCode), 16)
	dst = append(dst, " ("...)
	dst = append(dst, h.OpCode.String()...)
	dst = append(dst, ")\n"...)
	if d.PMCE && h.Rsv&frame.Rsv1 != 0 && (h.OpCode == frame.OpText || h.OpCode == frame.OpBinary) {
		dst = append(dst, "  RSV1    compressed: this message's payload is DEFLATE data, inflated once the message is whole (permessage-deflate, RFC 7692 §6)\n"...)
	}
	dst = append(dst, "  byte 1  "...)
	dst = appendBits(dst, b1)
	dst = append(dst, "  MASK="...)
	dst = appendBit(dst, h.Masked)
	dst = append(dst, " length="...)
	dst = strconv.AppendUint(dst, uint64(b1&0x7F), 10)
	enc, why := lengthEncoding(h)
	dst = append(dst, "\n  length  "...)
	dst = strconv.AppendInt(dst, h.Length, 10)
	dst = append(dst, " bytes, "...)
	dst = append(dst, enc...)
	dst = append(dst, " encoding: "...)
	dst = append(dst, why...)
	if ext := hb[2 : n-maskLen(h)]; len(ext) > 0 {
		dst = append(dst, "; extended length bytes "...)
		dst = appendHexSpaced(dst, ext, 0)
	}
	dst = append(dst, '\n')
	if h.Masked {
		dst = append(dst, "  mask    key "...)
		dst = appendHexSpaced(dst, h.Mask[:], 0)
		dst = append(dst, "\n  masked  "...)
		dst = appendHexSpaced(dst, d.Wire, maxShow)
		dst = append(dst, '\n')
	}
	p := d.Payload()
	if d.Fragment != "" {
		kind := "binary"
		if d.Text {
			kind = "text"
		}
		dst = append(dst, "  fragment "...)
		dst = append(dst, d.Fragment...)
		dst = append(dst, " fragment of a "...)
		if d.Compressed {
			dst = append(dst, "compressed "...)
		}
		dst = append(dst, kind...)
		dst = append(dst, " message (§5.4)\n"...)
	}
	switch {
	case h.OpCode == frame.OpClose:
		code, reason, err := frame.ParseClose(p)
		dst = append(dst, "  close   "...)
		if len(p) >= 2 {
			dst = strconv.AppendUint(dst, uint64(code), 10)
			info := code.Info()
			dst = append(dst, ' ')
			dst = append(dst, info.Name...)
			dst = append(dst, ": "...)
			dst = append(dst, info.Meaning...)
			if len(reason) > 0 || len(p) > 2 {
				dst = append(dst, "; reason "...)
				dst = strconv.AppendQuote(dst, string(p[2:]))
			}
		} else if len(p) == 0 {
			dst = append(dst, "no status code (the receiver reports 1005)"...)
		}
		if err != nil {
			dst = append(dst, "\n  VIOLATION "...)
			dst = append(dst, err.Error()...)
		}
		dst = append(dst, '\n')
	case d.Compressed && d.Inflation != nil && d.Fragment == "":
		// The frame is the message: shown below, beside what it inflated to.
	case d.Compressed:
		dst = append(dst, "  deflate "...)
		dst = appendHexSpaced(dst, p, maxShow)
		dst = append(dst, '\n')
	case d.Text || h.OpCode == frame.OpText:
		dst = append(dst, "  text    "...)
		dst = strconv.AppendQuote(dst, string(clip(p, maxShow)))
		if maxShow > 0 && len(p) > maxShow {
			dst = append(dst, " …"...)
		}
		dst = append(dst, '\n')
	case len(p) > 0:
		dst = append(dst, "  payload "...)
		dst = appendHexSpaced(dst, p, maxShow)
		dst = append(dst, '\n')
	}
	if d.Inflation != nil {
		dst = d.Inflation.appendText(dst, d.Text, maxShow)
	} else if d.Fragment == "last" {
		dst = append(dst, "  message reassembled, "...)
		dst = strconv.AppendInt(dst, int64(len(d.Message)), 10)
		dst = append(dst, " bytes: "...)
		if d.Text {
			dst = strconv.AppendQuote(dst, string(clip(d.Message, maxShow)))
		} else {
			dst = appendHexSpaced(dst, d.Message, maxShow)
		}
		dst = append(dst, '\n')
	}
	return dst
}

func maskLen(h frame.Header) int {
	if h.Masked {
		return 4
	}
	return 0
}

func clip(p []byte, n int) []byte {
	if n > 0 && len(p) > n {
		return p[:n]
	}
	return p
}

func appendBit(dst []byte, b bool) []byte {
	if b {
		return append(dst, '1')
	}
	return append(dst, '0')
}

// appendBits writes a byte as two nibbles of binary digits: "1000 0001".
func appendBits(dst []byte, b byte) []byte {
	for i := 7; i >= 0; i-- {
		dst = append(dst, '0'+(b>>i)&1)
		if i == 4 {
			dst = append(dst, ' ')
		}
	}
	return dst
}

const hexDigits = "0123456789abcdef"

// appendHexSpaced writes bytes in hex, 16 to a line (continuation lines
// indented to the column the block's values start at).
func appendHexSpaced(dst, p []byte, maxShow int) []byte {
	return appendHexIndent(dst, p, maxShow, 10)
}

// appendHexIndent is appendHexSpaced with continuation lines indented by
// indent spaces.
func appendHexIndent(dst, p []byte, maxShow, indent int) []byte {
	for i, c := range clip(p, maxShow) {
		switch {
		case i > 0 && i%16 == 0:
			dst = append(dst, '\n')
			for range indent {
				dst = append(dst, ' ')
			}
		case i > 0:
			dst = append(dst, ' ')
		}
		dst = append(dst, hexDigits[c>>4], hexDigits[c&15])
	}
	if maxShow > 0 && len(p) > maxShow {
		dst = append(dst, " … ("...)
		dst = strconv.AppendInt(dst, int64(len(p)), 10)
		dst = append(dst, " bytes)"...)
	}
	return dst
}

// AppendJSON renders the frame as a JSON object whose field names are those
// of Wireshark's websocket dissector (websocket.fin, websocket.opcode, ...),
// so that a dump can be checked against tshark field by field. Fields that
// Wireshark does not have are under "wsd.".
func (d *Dump) AppendJSON(dst []byte) []byte {
	dst = append(dst, '{')
	dst = d.AppendJSONFields(dst)
	return append(dst, '}')
}

// AppendJSONFields writes the fields of AppendJSON without the braces, for
// callers that add their own (direction, time, connection).
func (d *Dump) AppendJSONFields(dst []byte) []byte {
	h := d.Header
	var buf [frame.MaxHeaderSize]byte
	hb := d.head(&buf)
	dst = jsonKey(dst, "websocket.fin", true)
	dst = strconv.AppendBool(dst, h.Fin)
	dst = jsonKey(dst, "websocket.rsv", false)
	dst = strconv.AppendUint(dst, uint64(h.Rsv), 10)
	if d.PMCE {
		// As Wireshark: on every frame of a connection that agreed on
		// permessage-deflate, the frame's own RSV1.
		dst = jsonKey(dst, "websocket.pmc", false)
		dst = strconv.AppendBool(dst, h.Rsv&frame.Rsv1 != 0)
	}
	dst = jsonKey(dst, "websocket.opcode", false)
	dst = strconv.AppendUint(dst, uint64(h.OpCode), 10)
	dst = jsonKey(dst, "websocket.mask", false)
	dst = strconv.AppendBool(dst, h.Masked)
	dst = jsonKey(dst, "websocket.payload_length", false)
	dst = strconv.AppendUint(dst, uint64(hb[1]&0x7F), 10)
	switch hb[1] & 0x7F {
	case 126: // §5.2: a 16-bit extended length follows
		dst = jsonKey(dst, "websocket.payload_length_ext_16", false)
		dst = strconv.AppendInt(dst, h.Length, 10)
	case 127: // §5.2: a 64-bit extended length follows
		dst = jsonKey(dst, "websocket.payload_length_ext_64", false)
		dst = strconv.AppendInt(dst, h.Length, 10)
	}
	if h.Masked {
		dst = jsonKey(dst, "websocket.masking_key", false)
		dst = jsonHex(dst, h.Mask[:])
		dst = jsonKey(dst, "websocket.masked_payload", false)
		dst = jsonHex(dst, d.Wire)
	}
	p := d.Payload()
	switch op := h.OpCode; {
	case d.Compressed:
		// As Wireshark: a continuation's own bytes as "continue"; the
		// message, inflated, as text or data on the frame that ends it.
		if op == frame.OpContinuation {
			dst = jsonKey(dst, "websocket.payload.continue", false)
			dst = jsonHex(dst, p)
		}
		dst = jsonKey(dst, "wsd.deflate.payload", false)
		dst = jsonHex(dst, p)
		if in := d.Inflation; in != nil && in.OK && d.Text {
			dst = jsonKey(dst, "websocket.payload.text", false)
			dst = jsonw.AppendString(dst, in.Inflated)
		} else if in != nil && in.OK {
			dst = jsonKey(dst, "data.data", false)
			dst = jsonHex(dst, in.Inflated)
		}
	case op == frame.OpClose:
		if len(p) >= 2 {
			code := frame.CloseCode(uint16(p[0])<<8 | uint16(p[1]))
			dst = jsonKey(dst, "websocket.payload.close.status_code", false)
			dst = strconv.AppendUint(dst, uint64(code), 10)
			if len(p) > 2 {
				dst = jsonKey(dst, "websocket.payload.close.reason", false)
				dst = jsonw.AppendString(dst, p[2:])
			}
			info := code.Info()
			dst = jsonKey(dst, "wsd.close_name", false)
			dst = jsonw.AppendString(dst, []byte(info.Name))
			dst = jsonKey(dst, "wsd.close_meaning", false)
			dst = jsonw.AppendString(dst, []byte(info.Meaning))
		}
	case op == frame.OpPing:
		dst = jsonKey(dst, "websocket.payload.ping", false)
		dst = jsonHex(dst, p)
	case op == frame.OpPong:
		dst = jsonKey(dst, "websocket.payload.pong", false)
		dst = jsonHex(dst, p)
	case op == frame.OpText:
		dst = jsonKey(dst, "websocket.payload.text", false)
		dst = jsonw.AppendString(dst, p)
	case op == frame.OpContinuation:
		// As Wireshark: a fragment's own bytes as "continue", and on the
		// last fragment the reassembled message.
		dst = jsonKey(dst, "websocket.payload.continue", false)
		dst = jsonHex(dst, p)
		if d.Fragment == "last" && d.Text {
			dst = jsonKey(dst, "websocket.payload.text", false)
			dst = jsonw.AppendString(dst, d.Message)
		} else if d.Fragment == "last" {
			dst = jsonKey(dst, "data.data", false)
			dst = jsonHex(dst, d.Message)
		}
	case op == frame.OpBinary:
		dst = jsonKey(dst, "data.data", false)
		dst = jsonHex(dst, p)
	default:
		dst = jsonKey(dst, "websocket.payload.unknown", false)
		dst = jsonHex(dst, p)
	}
	if d.Fragment != "" {
		dst = jsonKey(dst, "wsd.fragment", false)
		dst = jsonw.AppendString(dst, []byte(d.Fragment))
	}
	if d.Fragment == "last" && d.Frames > 0 {
		// Wireshark's reassembly of the message, on its last frame.
		dst = jsonKey(dst, "websocket.fragment.count", false)
		dst = strconv.AppendInt(dst, int64(d.Frames), 10)
		dst = jsonKey(dst, "websocket.reassembled.length", false)
		dst = strconv.AppendInt(dst, d.MessageLen, 10)
	}
	if d.Compressed {
		dst = jsonKey(dst, "wsd.compressed", false)
		dst = append(dst, "true"...)
	}
	if d.Inflation != nil {
		dst = d.Inflation.appendJSON(dst)
	}
	// The header and the unmasked payload as bytes, for views that draw
	// them (trace/web): the fields above name them, these are them.
	dst = jsonKey(dst, "wsd.header", false)
	dst = jsonHex(dst, hb)
	dst = jsonKey(dst, "wsd.payload", false)
	dst = jsonHex(dst, p)
	enc, _ := lengthEncoding(h)
	dst = jsonKey(dst, "wsd.opcode_name", false)
	dst = jsonw.AppendString(dst, []byte(h.OpCode.String()))
	dst = jsonKey(dst, "wsd.length", false)
	dst = strconv.AppendInt(dst, h.Length, 10)
	dst = jsonKey(dst, "wsd.length_encoding", false)
	dst = jsonw.AppendString(dst, []byte(enc))
	return dst
}

func jsonKey(dst []byte, k string, first bool) []byte {
	if !first {
		dst = append(dst, ',')
	}
	dst = append(dst, '"')
	dst = append(dst, k...)
	return append(dst, '"', ':')
}

func jsonHex(dst, p []byte) []byte {
	dst = append(dst, '"')
	dst = hex.AppendEncode(dst, p)
	return append(dst, '"')
}
