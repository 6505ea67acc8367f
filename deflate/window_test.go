package deflate

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestAppendWindow(t *testing.T) {
	var w []byte
	w = AppendWindow(w, []byte("hello"), 8)
	assert.Equal(t, "hello", string(w))
	assert.Equal(t, 256, cap(w), "grown once, to exactly the window")
	big := bytes.Repeat([]byte("0123456789abcdef"), 20) // 320 bytes
	w = AppendWindow(w, big, 8)
	assert.Equal(t, big[320-256:], w, "the last 256 bytes of a message longer than the window")
	w = AppendWindow(w, []byte("XYZ"), 8)
	assert.Len(t, w, 256)
	assert.Equal(t, append(append([]byte{}, big[320-253:]...), "XYZ"...), w, "slid by 3")
	w = AppendWindow(w, nil, 8)
	assert.Len(t, w, 256)

	// Clamped bits; a window made for fewer bits grows once.
	w = AppendWindow(nil, big, 3)
	assert.Len(t, w, 256)
	w = AppendWindow(w, big, 9)
	assert.Equal(t, 512, cap(w))
	assert.Equal(t, append(append([]byte{}, big[320-192:]...), big...), w)
	assert.Len(t, AppendWindow(nil, make([]byte, 1<<16), 20), 1<<15)

	// Whatever the sizes, the window is the last 2^bits bytes of all data.
	var all, win []byte
	for i := range 200 {
		d := bytes.Repeat([]byte{byte(i)}, i*7%700)
		all = append(all, d...)
		win = AppendWindow(win, d, 9)
		assert.Equal(t, all[max(0, len(all)-512):], win, "after %d", i)
	}
}

func TestAppendWindowAllocatesNothing(t *testing.T) {
	w := AppendWindow(nil, []byte("x"), 10)
	msgs := [][]byte{notification(1), text16K(), {}, random(1000, 1)}
	allocs := testing.AllocsPerRun(100, func() {
		for _, m := range msgs {
			w = AppendWindow(w, m, 10)
		}
	})
	assert.Zero(t, allocs)
}
