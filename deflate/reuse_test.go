package deflate

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// One Compressor per level and one Decompressor serve a long, mixed
// sequence (sizes, levels, windows, dictionaries) as a loop's do: no state
// of one message leaks into the next.
func TestReuseAcrossMessages(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	text := text16K()
	comps := map[int]*Compressor{}
	d := NewDecompressor(nil)
	n := 3000
	if testing.Short() {
		n = 300
	}
	for i := range n {
		var msg []byte
		switch r.IntN(5) {
		case 0:
			msg = notification(i)
		case 1:
			a := r.IntN(len(text))
			msg = text[a : a+r.IntN(len(text)-a)]
		case 2:
			msg = random(r.IntN(40000), uint64(i))
		case 3:
			msg = bytes.Repeat(text[:r.IntN(600)+1], r.IntN(100))
		case 4:
			msg = nil
		}
		var dict []byte
		if r.IntN(2) == 0 {
			a := r.IntN(len(text))
			dict = text[a:]
		}
		lv := r.IntN(12) - 2
		bits := uint8(8 + r.IntN(8))
		c := comps[lv]
		if c == nil {
			var err error
			c, err = NewCompressor(lv)
			require.NoError(t, err)
			comps[lv] = c
		}
		z := c.CompressWindow(nil, msg, dict, bits)
		got, err := d.Inflate(z, lastN(dict, 1<<bits))
		require.NoError(t, err, "message %d level %d bits %d len %d", i, lv, bits, len(msg))
		require.True(t, bytes.Equal(msg, got), "message %d level %d bits %d len %d", i, lv, bits, len(msg))
	}
}
