//go:build purego || !amd64

package frame

func maskBlocks(p []byte, key uint32) { maskWords(p, key) }
