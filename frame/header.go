package frame

import (
	"encoding/binary"
	"strconv"
)

// Header sizes and limits from RFC 6455 §5.2 and §5.5.
const (
	MaxHeaderSize     = 14  // 2 + 8 (64-bit length) + 4 (masking key)
	MaxControlPayload = 125 // §5.5
	len16             = 126 // 7-bit length value announcing a 16-bit length
	len64             = 127 // 7-bit length value announcing a 64-bit length
)

// RSV bits as they sit in Header.Rsv (RSV1 is the high one, as on the wire).
const (
	Rsv1 uint8 = 1 << 2
	Rsv2 uint8 = 1 << 1
	Rsv3 uint8 = 1 << 0
)

// Header is a decoded frame header (RFC 6455 §5.2).
type Header struct {
	Length int64   // payload length
	Mask   [4]byte // masking key; meaningful when Masked
	OpCode Opcode
	Rsv    uint8 // RSV1-3 as the low three bits: RSV1 = 4, RSV2 = 2, RSV3 = 1
	Fin    bool
	Masked bool
}

// Size returns the number of bytes the header takes on the wire.
func (h Header) Size() int {
	n := 2
	switch {
	case h.Length > 0xFFFF:
		n += 8
	case h.Length > 125:
		n += 2
	}
	if h.Masked {
		n += 4
	}
	return n
}

// Encode writes h into dst, which must hold h.Size() bytes (MaxHeaderSize
// always suffices), and returns the number of bytes written. The length is
// written in its minimal encoding (§5.2). A negative Length is encoded as 0.
func (h Header) Encode(dst []byte) int {
	_ = dst[1]
	b0 := byte(h.OpCode&0xF) | h.Rsv&7<<4
	if h.Fin {
		b0 |= 0x80
	}
	var b1 byte
	if h.Masked {
		b1 = 0x80
	}
	n := 2
	switch l := h.Length; {
	case l <= 125:
		b1 |= byte(max(l, 0))
	case l <= 0xFFFF:
		b1 |= len16
		binary.BigEndian.PutUint16(dst[2:4], uint16(l))
		n = 4
	default:
		b1 |= len64
		binary.BigEndian.PutUint64(dst[2:10], uint64(l))
		n = 10
	}
	dst[0], dst[1] = b0, b1
	if h.Masked {
		copy(dst[n:n+4], h.Mask[:])
		n += 4
	}
	return n
}

// AppendHeader appends h's wire form to dst.
func AppendHeader(dst []byte, h Header) []byte {
	var b [MaxHeaderSize]byte
	n := h.Encode(b[:])
	return append(dst, b[:n]...)
}

// ParseHeader decodes the header at the start of b. It returns the header
// and its size, or ErrNeedMore (n = 0) when b is shorter than the header.
// It rejects only what makes the header itself malformed (§5.2): a 64-bit
// length with the high bit set and a length not in its minimal encoding.
// Rules that depend on the endpoint's role or on earlier frames are checked
// by Header.Validate and the Reader.
func ParseHeader(b []byte) (h Header, n int, err error) {
	if len(b) < 2 {
		return h, 0, ErrNeedMore
	}
	b0, b1 := b[0], b[1]
	h.Fin = b0&0x80 != 0
	h.Rsv = b0 >> 4 & 7
	h.OpCode = Opcode(b0 & 0xF)
	h.Masked = b1&0x80 != 0
	n = 2
	switch l := b1 & 0x7F; l {
	case len16:
		if len(b) < 4 {
			return h, 0, ErrNeedMore
		}
		h.Length = int64(binary.BigEndian.Uint16(b[2:4]))
		n = 4
		if h.Length <= 125 {
			return h, 0, ErrNonMinimalLength.with("16-bit length " + strconv.FormatInt(h.Length, 10))
		}
	case len64:
		if len(b) < 10 {
			return h, 0, ErrNeedMore
		}
		u := binary.BigEndian.Uint64(b[2:10])
		if u>>63 != 0 {
			return h, 0, ErrLength64MSB.with("0x" + strconv.FormatUint(u, 16))
		}
		h.Length = int64(u)
		n = 10
		if h.Length <= 0xFFFF {
			return h, 0, ErrNonMinimalLength.with("64-bit length " + strconv.FormatInt(h.Length, 10))
		}
	default:
		h.Length = int64(l)
	}
	if h.Masked {
		if len(b) < n+4 {
			return h, 0, ErrNeedMore
		}
		copy(h.Mask[:], b[n:n+4])
		n += 4
	}
	return h, n, nil
}

// Role says which side of the connection reads the frames: a server reads
// client frames, which must be masked; a client reads server frames, which
// must not be (§5.1).
type Role uint8

const (
	RoleServer Role = iota
	RoleClient
)

// Validate checks the rules of §5 that a single header can break, for an
// endpoint in the given role that negotiated the RSV bits in allowedRsv:
// reserved opcodes and RSV bits (§5.2), control frame length and
// fragmentation (§5.5), and masking (§5.1).
func (h Header) Validate(role Role, allowedRsv uint8) error {
	if h.OpCode.IsReserved() {
		return ErrReservedOpcode.with("opcode 0x" + strconv.FormatUint(uint64(h.OpCode), 16))
	}
	if h.Rsv&^allowedRsv != 0 {
		return ErrReservedBits.with("RSV bits " + rsvString(h.Rsv))
	}
	if h.OpCode.IsControl() {
		if h.Length > MaxControlPayload {
			return ErrControlTooLong.with(h.OpCode.String() + " of " + strconv.FormatInt(h.Length, 10) + " bytes")
		}
		if !h.Fin {
			return ErrControlFragmented.with(h.OpCode.String() + " with FIN=0")
		}
	}
	if role == RoleServer && !h.Masked {
		return ErrUnmaskedClient
	}
	if role == RoleClient && h.Masked {
		return ErrMaskedServer
	}
	return nil
}

// rsvString renders RSV bits as three binary digits, RSV1 first.
func rsvString(rsv uint8) string {
	b := [3]byte{'0', '0', '0'}
	for i := range 3 {
		if rsv&(4>>i) != 0 {
			b[i] = '1'
		}
	}
	return string(b[:])
}
