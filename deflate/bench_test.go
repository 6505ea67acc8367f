package deflate

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsd-dev/wsd/frame"
)

// allocated returns the bytes allocated by f (one-time costs: run alone).
func allocated(f func()) uint64 {
	var a, b runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&a)
	f()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}

// The one-time memory of a loop's Compressor per level (its writer and
// the first message's lazy allocations), of a narrow-window writer, and of
// a Decompressor: what each event loop pays once, instead of per
// connection. go test -run Footprint -v ./deflate prints them.
func TestMemoryFootprint(t *testing.T) {
	msg := text16K()
	for _, level := range []int{-2, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9} {
		var c *Compressor
		dst := make([]byte, 0, 32<<10)
		made := allocated(func() { c, _ = NewCompressor(level) })
		first := allocated(func() { c.Compress(dst, msg, nil) })
		narrow := allocated(func() { c.CompressWindow(dst, msg, nil, 10) })
		n := made + first
		t.Logf("Compressor level %2d: %7d bytes (%d made, %d on the first message); a 2^10-window writer on first use: %7d bytes",
			level, n, made, first, narrow)
		assert.Less(t, n, uint64(2<<20))
	}
	c, err := NewCompressor(DefaultLevel)
	require.NoError(t, err)
	z := c.Compress(nil, msg, nil)
	bufs := &countingBuffers{free: [][]byte{make([]byte, 0, 64<<10), make([]byte, 0, 64<<10)}}
	n := allocated(func() {
		d := NewDecompressor(&frame.Limits{MaxMessage: 1 << 20, Buffers: bufs})
		out, _ := d.Inflate(z, nil)
		d.Release(out)
	})
	t.Logf("Decompressor after a 16 KiB message: %d bytes (its output buffers come from Buffers)", n)
	n = allocated(func() { NewDecompressor(nil) })
	t.Logf("Decompressor before its first message: %d bytes", n)
}

var benchMessages = []struct {
	name string
	msg  []byte
}{
	{"json-200B", notification(12345)},
	{"text-16KiB", text16K()},
}

// ns/op, allocations and the compression ratio (compressed/original) of a
// typical notification and a 16 KiB message, by level, without and with a
// dictionary of the message before (context takeover).
func BenchmarkCompress(b *testing.B) {
	for _, m := range benchMessages {
		for _, level := range []int{1, 5, 6, 9, -2} {
			for _, takeover := range []bool{false, true} {
				name := fmt.Sprintf("%s/level=%d/takeover=%v", m.name, level, takeover)
				b.Run(name, func(b *testing.B) {
					c, err := NewCompressor(level)
					require.NoError(b, err)
					var dict []byte
					if takeover {
						dict = notification(12344)
						if len(m.msg) > 1000 {
							dict = text16K()[1000:]
						}
					}
					dst := c.Compress(nil, m.msg, dict)
					b.SetBytes(int64(len(m.msg)))
					b.ReportAllocs()
					for b.Loop() {
						dst = c.Compress(dst[:0], m.msg, dict)
					}
					b.ReportMetric(float64(len(dst))/float64(len(m.msg)), "ratio")
				})
			}
		}
	}
	// Takeover with a 2^10 window: the dictionary is the last 1 KiB, and a
	// 16 KiB message needs the narrow-window writer.
	for _, m := range benchMessages {
		b.Run(m.name+"/window=10", func(b *testing.B) {
			c, err := NewCompressor(DefaultLevel)
			require.NoError(b, err)
			dict := lastN(text16K(), 1024)
			dst := c.CompressWindow(nil, m.msg, dict, 10)
			b.SetBytes(int64(len(m.msg)))
			b.ReportAllocs()
			for b.Loop() {
				dst = c.CompressWindow(dst[:0], m.msg, dict, 10)
			}
			b.ReportMetric(float64(len(dst))/float64(len(m.msg)), "ratio")
		})
	}
}

func BenchmarkInflate(b *testing.B) {
	for _, m := range benchMessages {
		for _, takeover := range []bool{false, true} {
			b.Run(fmt.Sprintf("%s/takeover=%v", m.name, takeover), func(b *testing.B) {
				c, err := NewCompressor(DefaultLevel)
				require.NoError(b, err)
				var dict []byte
				if takeover {
					dict = lastN(text16K(), 1024)
				}
				z := c.Compress(nil, m.msg, dict)
				d := NewDecompressor(&frame.Limits{MaxMessage: 16 << 20, Buffers: &countingBuffers{}})
				b.SetBytes(int64(len(m.msg)))
				b.ReportAllocs()
				for b.Loop() {
					out, err := d.Inflate(z, dict)
					if err != nil {
						b.Fatal(err)
					}
					d.Release(out)
				}
			})
		}
	}
}
