package frame

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"unicode/utf8"

	"github.com/gobwas/ws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// randomHeader draws a header valid for the given role.
func randomHeader(rng *rand.Rand, masked bool) Header {
	ops := []Opcode{OpText, OpBinary, OpClose, OpPing, OpPong}
	h := Header{OpCode: ops[rng.IntN(len(ops))], Fin: true, Masked: masked, Rsv: uint8(rng.IntN(8))}
	switch rng.IntN(4) {
	case 0:
		h.Length = int64(rng.IntN(126))
	case 1:
		h.Length = 126 + int64(rng.IntN(65536-126))
	case 2:
		h.Length = 65536 + int64(rng.IntN(200000))
	default:
		h.Length = int64(rng.IntN(10))
	}
	if h.OpCode.IsControl() {
		h.Length %= 126
	}
	if masked {
		fill(rng, h.Mask[:])
	}
	return h
}

// Frames we encode decode identically with gobwas/ws, and the other way.
func TestDifferentialFramesGobwas(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for i := range 500 {
		h := randomHeader(rng, i%2 == 0)
		payload := make([]byte, h.Length)
		fill(rng, payload)

		// ours → gobwas
		wire := AppendHeader(nil, h)
		hn := len(wire)
		wire = append(wire, payload...)
		if h.Masked {
			Mask(h.Mask, 0, wire[hn:])
		}
		f, err := ws.ReadFrame(bytes.NewReader(wire))
		require.NoError(t, err)
		assert.Equal(t, ws.Header{Fin: h.Fin, Rsv: h.Rsv, OpCode: ws.OpCode(h.OpCode), Masked: h.Masked, Mask: h.Mask, Length: h.Length}, f.Header)
		if f.Header.Masked {
			f = ws.UnmaskFrame(f)
		}
		require.Equal(t, string(payload), string(f.Payload))

		// gobwas → ours, fed in random chunks
		var buf bytes.Buffer
		require.NoError(t, ws.WriteFrame(&buf, ws.Frame{Header: ws.Header{Fin: h.Fin, Rsv: h.Rsv, OpCode: ws.OpCode(h.OpCode), Masked: h.Masked, Mask: h.Mask, Length: h.Length}, Payload: maskedCopy(h, payload)}))
		require.Equal(t, wire, buf.Bytes(), "both encode the same bytes")
		role := RoleClient
		if h.Masked {
			role = RoleServer
		}
		r := Reader{Role: role, Rsv: 7}
		in := buf.Bytes()
		var got []byte
		var gotH Header
		for len(in) > 0 {
			k := min(len(in), 1+rng.IntN(3000))
			chunk := in[:k]
			in = in[k:]
			for len(chunk) > 0 {
				c, n, err := r.Next(chunk)
				chunk = chunk[n:]
				if err == ErrNeedMore {
					break
				}
				if h.Rsv&Rsv1 != 0 && (h.OpCode.IsControl() || h.OpCode == OpContinuation) {
					// RSV1 marks a compressed message, on its first frame only (RFC 7692 §6.1)
					require.ErrorIs(t, err, ErrCompressedNotFirst)
					in = nil
					break
				}
				if h.OpCode == OpText && h.Rsv&Rsv1 == 0 && err != nil {
					// random bytes are rarely UTF-8: both must agree it is not
					require.ErrorIs(t, err, ErrInvalidUTF8)
					require.False(t, utf8.Valid(payload))
					in = nil
					break
				}
				require.NoError(t, err)
				gotH = c.Header
				got = append(got, c.Payload...)
			}
		}
		if h.Rsv&Rsv1 != 0 && (h.OpCode.IsControl() || h.OpCode == OpContinuation) {
			continue
		}
		if h.OpCode != OpText || h.Rsv&Rsv1 != 0 || utf8.Valid(payload) { // a compressed text's UTF-8 is checked once inflated
			assert.Equal(t, h, gotH)
			assert.Equal(t, string(payload), string(got))
		}
	}
}

func maskedCopy(h Header, p []byte) []byte {
	p = append([]byte(nil), p...)
	if h.Masked {
		ws.Cipher(p, h.Mask, 0)
	}
	return p
}

func TestMaskAgreesWithGobwasCipher(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for n := range 600 {
		p := make([]byte, n)
		fill(rng, p)
		key := [4]byte{byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32())}
		off := rng.IntN(4)
		a := append([]byte(nil), p...)
		b := append([]byte(nil), p...)
		Mask(key, off, a)
		ws.Cipher(b, key, off)
		require.Equal(t, b, a, "n=%d off=%d", n, off)
	}
}

func fill(rng *rand.Rand, b []byte) {
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
}
