//go:build amd64 && !purego

package frame

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"golang.org/x/sys/cpu"
)

// maskRef is the byte-at-a-time definition of §5.3: byte i of a payload is
// XORed with key[i mod 4]; pos is the payload offset of b[0].
func maskRef(key [4]byte, pos int, b []byte) {
	for i := range b {
		b[i] ^= key[(pos+i)&3]
	}
}

// checkMaskPaths runs Mask on every length 0..300, at every start offset
// in a 16-byte window of a guarded buffer (aligned and not, odd and even)
// and every key position, and compares with maskRef: the payload must be
// masked, the guard bytes on each side untouched, the returned position
// right.
func checkMaskPaths(t *testing.T) {
	t.Helper()
	rng := rand.New(rand.NewPCG(11, 17))
	const guard = 64
	for n := 0; n <= 300; n++ {
		for off := range 16 {
			for pos := range 4 {
				key := [4]byte{byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32())}
				buf := make([]byte, guard+off+n+guard)
				for i := range buf {
					buf[i] = byte(rng.Uint32())
				}
				want := append([]byte(nil), buf...)
				maskRef(key, pos, want[guard+off:guard+off+n])
				// Any pos is taken modulo 4: pass a large one when pos is odd.
				p := pos
				if pos&1 == 1 {
					p += 4 * (n + 1)
				}
				next := Mask(key, p, buf[guard+off:guard+off+n])
				if !bytes.Equal(buf, want) {
					i := firstDiff(buf, want)
					t.Fatalf("n=%d off=%d pos=%d key=%x: buffer byte %d (payload byte %d) is %#x, want %#x",
						n, off, pos, key, i, i-guard-off, buf[i], want[i])
				}
				if next != (pos+n)&3 {
					t.Fatalf("n=%d pos=%d: Mask returned %d, want %d", n, pos, next, (pos+n)&3)
				}
			}
		}
	}
}

func firstDiff(a, b []byte) int {
	for i := range a {
		if a[i] != b[i] {
			return i
		}
	}
	return -1
}

// forceAVX2 sets the CPU-feature switch of maskBlocks for one test.
func forceAVX2(t *testing.T, on bool) {
	old := haveAVX2
	haveAVX2 = on
	t.Cleanup(func() { haveAVX2 = old })
}

// TestMaskSSE2Path forces the SSE2 kernel (as on a CPU without AVX2, or
// with the OS not saving YMM state), which the CPU-feature switch would
// otherwise skip on this machine.
func TestMaskSSE2Path(t *testing.T) {
	forceAVX2(t, false)
	checkMaskPaths(t)
}

// TestMaskAVX2Path checks the AVX2 kernel the same way, when the CPU has it.
func TestMaskAVX2Path(t *testing.T) {
	if !cpu.X86.HasAVX2 {
		t.Skip("no AVX2 on this CPU")
	}
	forceAVX2(t, true)
	checkMaskPaths(t)
}

// TestMaskKernelsDirect calls both assembly kernels on every multiple of
// 16 up to 512 bytes, at every offset in a 16-byte window, against the
// portable kernel and the byte-at-a-time reference: nothing beyond len(p)
// may be touched (guards on both sides).
func TestMaskKernelsDirect(t *testing.T) {
	kernels := map[string]func([]byte, uint32){"sse2": maskSSE2, "words": maskWords}
	if cpu.X86.HasAVX2 {
		kernels["avx2"] = maskAVX2
	}
	rng := rand.New(rand.NewPCG(5, 6))
	const guard = 48
	for name, kernel := range kernels {
		for n := 0; n <= 512; n += 16 {
			for off := range 16 {
				key := [4]byte{byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32())}
				buf := make([]byte, guard+off+n+guard)
				for i := range buf {
					buf[i] = byte(rng.Uint32())
				}
				want := append([]byte(nil), buf...)
				maskRef(key, 0, want[guard+off:guard+off+n])
				kernel(buf[guard+off:guard+off+n], binary.LittleEndian.Uint32(key[:]))
				if i := firstDiff(buf, want); i >= 0 {
					t.Fatalf("%s n=%d off=%d: buffer byte %d (payload byte %d) is %#x, want %#x",
						name, n, off, i, i-guard-off, buf[i], want[i])
				}
			}
		}
	}
}
