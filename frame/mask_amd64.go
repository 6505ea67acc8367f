//go:build !purego

package frame

import "golang.org/x/sys/cpu"

// AVX2 needs both the CPU feature and the OS saving YMM state; x/sys/cpu
// checks both.
var haveAVX2 = cpu.X86.HasAVX2

// maskBlocks XORs p (a multiple of 16 bytes) with key broadcast to every
// 32-bit lane.
func maskBlocks(p []byte, key uint32) {
	if haveAVX2 {
		maskAVX2(p, key)
		return
	}
	maskSSE2(p, key)
}

//go:noescape
func maskAVX2(p []byte, key uint32)

//go:noescape
func maskSSE2(p []byte, key uint32)
