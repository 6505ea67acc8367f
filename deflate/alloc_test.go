package deflate

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsd-dev/wsd/frame"
)

// Steady state: no allocation per message, for every level, with and
// without a dictionary, for the narrow-window writers too (each made on
// its first use, once).
func TestCompressAllocatesNothing(t *testing.T) {
	msgs := [][]byte{notification(1), text16K(), {}}
	dict := text16K()[:4096]
	dst := make([]byte, 0, 64<<10)
	for _, level := range []int{-2, 0, 1, 5, 6, 9} {
		c, err := NewCompressor(level)
		require.NoError(t, err)
		run := func() {
			for _, m := range msgs {
				for _, bits := range []uint8{10, 15} {
					dst = c.CompressWindow(dst[:0], m, nil, bits)
					dst = c.CompressWindow(dst[:0], m, dict, bits)
				}
			}
		}
		run() // the one-time costs
		assert.Zero(t, testing.AllocsPerRun(20, run), "level %d", level)
	}
}

func TestInflateAllocatesNothing(t *testing.T) {
	c, err := NewCompressor(DefaultLevel)
	require.NoError(t, err)
	dict := text16K()[:4096]
	type msg struct{ z, dict []byte }
	var msgs []msg
	for _, m := range [][]byte{notification(1), text16K(), random(3000, 2)} {
		msgs = append(msgs, msg{c.Compress(nil, m, nil), nil}, msg{c.Compress(nil, m, dict), dict})
	}
	bufs := &countingBuffers{}
	d := NewDecompressor(&frame.Limits{MaxMessage: 1 << 20, Buffers: bufs})
	run := func() {
		for _, m := range msgs {
			out, err := d.Inflate(m.z, m.dict)
			if err != nil {
				t.Fatal(err)
			}
			d.Release(out)
		}
	}
	run() // Huffman tables and the pool's buffers
	assert.Zero(t, testing.AllocsPerRun(50, run))
}
