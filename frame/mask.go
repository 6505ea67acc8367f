package frame

import (
	"encoding/binary"
	"math/bits"
)

// Mask XORs b in place with the masking key (RFC 6455 §5.3). pos is the
// number of payload bytes already masked before b, modulo 4, so that a
// payload split over several chunks can be masked piece by piece; Mask
// returns the position for the next piece. Masking and unmasking are the
// same operation.
//
// Whole 16-byte blocks go through SIMD code on amd64 (AVX2 when present);
// only the last few bytes are done one at a time.
func Mask(key [4]byte, pos int, b []byte) int {
	pos &= 3
	n := len(b)
	if n >= 16 {
		// Rotate the key so that its first byte meets b[0]; as blocks are a
		// multiple of 4 bytes long, the tail then starts at the same pos.
		k := bits.RotateLeft32(binary.LittleEndian.Uint32(key[:]), -8*pos)
		blocks := n &^ 15
		maskBlocks(b[:blocks], k)
		b = b[blocks:]
	}
	for i := range b {
		b[i] ^= key[(pos+i)&3]
	}
	return (pos + n) & 3
}

// maskWords is the portable block kernel: len(p) is a multiple of 16 and
// key is the little-endian key aligned to p[0].
func maskWords(p []byte, key uint32) {
	k := uint64(key)<<32 | uint64(key)
	for len(p) >= 64 {
		binary.LittleEndian.PutUint64(p[0:], binary.LittleEndian.Uint64(p[0:])^k)
		binary.LittleEndian.PutUint64(p[8:], binary.LittleEndian.Uint64(p[8:])^k)
		binary.LittleEndian.PutUint64(p[16:], binary.LittleEndian.Uint64(p[16:])^k)
		binary.LittleEndian.PutUint64(p[24:], binary.LittleEndian.Uint64(p[24:])^k)
		binary.LittleEndian.PutUint64(p[32:], binary.LittleEndian.Uint64(p[32:])^k)
		binary.LittleEndian.PutUint64(p[40:], binary.LittleEndian.Uint64(p[40:])^k)
		binary.LittleEndian.PutUint64(p[48:], binary.LittleEndian.Uint64(p[48:])^k)
		binary.LittleEndian.PutUint64(p[56:], binary.LittleEndian.Uint64(p[56:])^k)
		p = p[64:]
	}
	for len(p) >= 16 {
		binary.LittleEndian.PutUint64(p[0:], binary.LittleEndian.Uint64(p[0:])^k)
		binary.LittleEndian.PutUint64(p[8:], binary.LittleEndian.Uint64(p[8:])^k)
		p = p[16:]
	}
}
