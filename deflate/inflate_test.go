package deflate

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsd-dev/wsd/frame"
)

func inflate(t *testing.T, msg, dict []byte) ([]byte, error) {
	t.Helper()
	return NewDecompressor(nil).Inflate(msg, dict)
}

// The examples of RFC 7692 §7.2.3.
func TestInflateRFCExamples(t *testing.T) {
	hello := []byte("Hello")
	for _, c := range []struct {
		name      string
		msg, dict []byte
	}{
		{"§7.2.3.1 a message compressed", []byte{0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}, nil},
		{"§7.2.3.2 the second with the first as window", []byte{0xf2, 0x00, 0x11, 0x00, 0x00}, hello},
		{"§7.2.3.3 a block with no compression", []byte{0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00}, nil},
		{"§7.2.3.4 a block with BFINAL set", []byte{0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00}, nil},
		{"§7.2.3.4 without the trailing 0x00", []byte{0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}, nil},
		{"§7.2.3.5 two blocks", []byte{0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := inflate(t, c.msg, c.dict)
			require.NoError(t, err)
			assert.Equal(t, "Hello", string(got))
		})
	}
	// §7.2.3.6: an empty message is one 0x00 byte; we make it and read it.
	c, err := NewCompressor(DefaultLevel)
	require.NoError(t, err)
	assert.Equal(t, []byte{0x00}, c.Compress(nil, nil, nil))
	got, err := inflate(t, []byte{0x00}, nil)
	require.NoError(t, err)
	assert.Nil(t, got, "an empty message holds no buffer")
	// §7.2.3.2 the other way: our second "Hello", with the first as
	// dictionary, inflates with it.
	got, err = inflate(t, c.Compress(nil, hello, hello), hello)
	require.NoError(t, err)
	assert.Equal(t, "Hello", string(got))
}

func TestInflateCorrupt(t *testing.T) {
	z, err := NewCompressor(DefaultLevel)
	require.NoError(t, err)
	good := z.Compress(nil, text16K(), nil)
	for _, c := range []struct {
		name, why string
		msg, dict []byte
	}{
		{"cut inside a block", "cut inside a block", good[:len(good)/2], nil},
		{"last byte missing", "", good[:len(good)-1], nil},
		{"reserved block type", "invalid DEFLATE data", []byte{0x07, 0x00}, nil},
		{"stored length mismatch", "invalid DEFLATE data", []byte{0x00, 0x05, 0x00, 0xfa, 0xfe, 'H', 'e', 'l', 'l', 'o', 0x00}, nil},
		{"stored block longer than its data", "", []byte{0x00, 0x09, 0x00, 0xf6, 0xff, 'H'}, nil},
		// A final stored block whose length takes the 4 octets put back and
		// more: a stream that ends inside it.
		{"final block swallowing the tail", "cut inside a block", []byte{0x01, 0x09, 0x00, 0xf6, 0xff}, nil},
		{"data after the final block", "bytes after the final block", []byte{0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}, nil},
		{"two bytes after the final block", "bytes after the final block", []byte{0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00, 0x00}, nil},
		// §7.2.3.2's second message needs the first as dictionary.
		{"reference before the start", "invalid DEFLATE data", []byte{0xf2, 0x00, 0x11, 0x00, 0x00}, nil},
		{"reference before the dictionary", "invalid DEFLATE data", []byte{0xf2, 0x00, 0x11, 0x00, 0x00}, []byte("ell")},
		{"garbage", "", []byte("not deflate at all, just text"), nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := inflate(t, c.msg, c.dict)
			require.Error(t, err, "inflated to %q", got)
			assert.Nil(t, got)
			assert.True(t, errors.Is(err, ErrCorrupt), "%v", err)
			var e *Error
			require.True(t, errors.As(err, &e))
			assert.Equal(t, frame.CloseInvalidPayload, e.Code)
			assert.Contains(t, err.Error(), c.why)
			assert.LessOrEqual(t, len(e.CloseReason()), frame.MaxControlPayload-2)
		})
	}
	// A stored block whose data is exactly the 4 octets put back ends on a
	// block boundary: a complete stream (zlib and Go's inflater agree).
	got, err := inflate(t, []byte{0x00, 0x04, 0x00, 0xfb, 0xff}, nil)
	require.NoError(t, err)
	assert.Equal(t, syncTail, got)
}

// The limit: exactly the limit inflates, one byte more fails, and the
// output never passes it.
func TestInflateLimit(t *testing.T) {
	z, err := NewCompressor(DefaultLevel)
	require.NoError(t, err)
	msg := text16K()
	comp := z.Compress(nil, msg, nil)
	for _, limit := range []int64{int64(len(msg)), int64(len(msg)) + 1, 1 << 20} {
		bufs := &countingBuffers{}
		got, err := NewDecompressor(&frame.Limits{MaxMessage: limit, Buffers: bufs}).Inflate(comp, nil)
		require.NoError(t, err, "limit %d", limit)
		assert.Equal(t, msg, got)
		assert.LessOrEqual(t, int64(bufs.peak), limit)
	}
	for _, limit := range []int64{1, 100, int64(len(msg)) - 1} {
		bufs := &countingBuffers{}
		got, err := NewDecompressor(&frame.Limits{MaxMessage: limit, Buffers: bufs}).Inflate(comp, nil)
		assert.Nil(t, got)
		require.True(t, errors.Is(err, ErrTooBig), "limit %d: %v", limit, err)
		var e *Error
		require.True(t, errors.As(err, &e))
		assert.Equal(t, frame.CloseMessageTooBig, e.Code)
		assert.Zero(t, bufs.held, "limit %d: buffers given back", limit)
		assert.LessOrEqual(t, int64(bufs.peak), limit, "limit %d", limit)
	}
}

// A spent memory budget stops inflation with ErrTooBig too (the caller
// closes 1009, as frame does for partial messages).
func TestInflateBudgetSpent(t *testing.T) {
	z, err := NewCompressor(DefaultLevel)
	require.NoError(t, err)
	comp := z.Compress(nil, text16K(), nil)
	bufs := &countingBuffers{max: 4096}
	_, err = NewDecompressor(&frame.Limits{MaxMessage: 1 << 20, Buffers: bufs}).Inflate(comp, nil)
	require.True(t, errors.Is(err, ErrTooBig), "%v", err)
	assert.Contains(t, err.Error(), "no memory left")
	assert.Zero(t, bufs.held)
}

// bomb returns a payload that inflates to n MiB of zeros: one block of
// 1 MiB of zeros made against a window of zeros, repeated (each copy
// extends the zeros before it), after a first block that makes them.
func bomb(t testing.TB, mib int) []byte {
	c, err := NewCompressor(9)
	require.NoError(t, err)
	zeros := make([]byte, 1<<20)
	out := c.Compress(nil, zeros, nil)
	out = append(out, syncTail...)
	again := append(c.Compress(nil, zeros, zeros[:32<<10]), syncTail...)
	for range mib - 1 {
		out = append(out, again...)
	}
	return out[:len(out)-len(syncTail)]
}

// A bomb of a few MiB that would inflate to 1 GiB stops at the limit, holds
// no more than the limit, and takes the time of inflating the limit only.
func TestInflateBomb(t *testing.T) {
	b := bomb(t, 1024)
	t.Logf("bomb: %d bytes of payload for 1 GiB", len(b))
	const limit = 16 << 20
	bufs := &countingBuffers{}
	start := time.Now()
	got, err := NewDecompressor(&frame.Limits{MaxMessage: limit, Buffers: bufs}).Inflate(b, nil)
	took := time.Since(start)
	assert.Nil(t, got)
	require.True(t, errors.Is(err, ErrTooBig), "%v", err)
	assert.LessOrEqual(t, bufs.peak, limit)
	assert.Zero(t, bufs.held)
	t.Logf("stopped after %v, peak %d bytes lent", took, bufs.peak)

	// The same shape, smaller, inflates whole under a larger limit.
	small := bomb(t, 4)
	got, err = NewDecompressor(&frame.Limits{MaxMessage: 4 << 20}).Inflate(small, nil)
	require.NoError(t, err)
	assert.Equal(t, 4<<20, len(got))
	assert.True(t, bytes.Count(got, []byte{0}) == len(got))
}

func TestErrorIs(t *testing.T) {
	e := ErrCorrupt.with("detail")
	assert.True(t, errors.Is(e, ErrCorrupt))
	assert.False(t, errors.Is(e, ErrTooBig))
	assert.Equal(t, "deflate: compressed payload does not inflate (detail) [RFC 7692 §7.2.2, close 1007]", e.Error())
	long := ErrTooBig.with(string(bytes.Repeat([]byte("x"), 300)))
	assert.Len(t, long.CloseReason(), frame.MaxControlPayload-2)
}

// Messages past a third of the limit are counted, then inflated again into
// a buffer of their size: right, with and without a dictionary, with the
// Buffers never lending more than the limit; a payload cut short is still
// found corrupt on the counting pass.
func TestInflateLargeWithinLimit(t *testing.T) {
	z, err := NewCompressor(DefaultLevel)
	require.NoError(t, err)
	const limit = 64 << 10
	src := bytes.Repeat(text16K(), 5)
	dict := random(4096, 9)
	for _, n := range []int{limit / 4, limit/3 + 1, limit / 2, limit - 1, limit} {
		for _, d := range [][]byte{nil, dict} {
			msg := src[:n]
			comp := z.Compress(nil, msg, d)
			bufs := &countingBuffers{}
			dec := NewDecompressor(&frame.Limits{MaxMessage: limit, Buffers: bufs})
			got, err := dec.Inflate(comp, d)
			require.NoError(t, err, "%d bytes", n)
			assert.Equal(t, msg, got, "%d bytes", n)
			assert.LessOrEqual(t, bufs.peak, limit, "%d bytes: lent at once", n)
			dec.Release(got)
			assert.Zero(t, bufs.held)
			_, err = dec.Inflate(comp[:len(comp)/2], d)
			assert.True(t, errors.Is(err, ErrCorrupt), "%d bytes cut in half: %v", n, err)
			assert.Zero(t, bufs.held)
		}
	}
}
