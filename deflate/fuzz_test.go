package deflate

import (
	"bytes"
	stdflate "compress/flate"
	"errors"
	"io"
	"testing"

	"github.com/wsd-dev/wsd/frame"
)

// countingReader gives out b byte by byte or in reads, counting what it
// gave: Go's inflater reads an io.ByteReader without reading ahead.
type countingReader struct {
	b []byte
	n int
}

func (c *countingReader) ReadByte() (byte, error) {
	if c.n >= len(c.b) {
		return 0, io.EOF
	}
	c.n++
	return c.b[c.n-1], nil
}

func (c *countingReader) Read(p []byte) (int, error) {
	if c.n >= len(c.b) {
		return 0, io.EOF
	}
	k := copy(p, c.b[c.n:])
	c.n += k
	return k, nil
}

const oracleCap = 4 << 20

// oracleInflate is what Go's compress/flate, a separate implementation,
// says of a permessage-deflate payload, with the rules written the other
// way round: a final block may be followed by nothing of the payload but
// §7.2.1's 0x00; otherwise the payload with 00 00 ff ff put back must end
// on a block boundary, i.e. an empty final stored block behind it must
// read as that and add nothing. out is what inflates (at most oracleCap
// bytes, more = the cap was hit).
func oracleInflate(msg, dict []byte) (out []byte, ok bool) {
	read := func(in []byte) ([]byte, *countingReader, error) {
		cr := &countingReader{b: in}
		b, err := io.ReadAll(io.LimitReader(stdflate.NewReaderDict(cr, dict), oracleCap+1))
		return b, cr, err
	}
	data := append(append([]byte{}, msg...), syncTail...)
	out1, cr, err := read(data)
	if len(out1) > oracleCap {
		return out1, false
	}
	if err == nil { // a final block ended the stream
		rest := msg[min(cr.n, len(msg)):]
		return out1, len(rest) == 0 || len(rest) == 1 && rest[0] == 0
	}
	out2, cr2, err2 := read(append(data, finalBlock[:]...))
	return out1, err2 == nil && cr2.n == len(data)+len(finalBlock) && bytes.Equal(out1, out2)
}

// FuzzInflate: any payload and dictionary, any limit: no panic; the output
// never passes the limit, nor does the lent memory; every buffer is
// given back; and the verdict and output are Go's compress/flate's.
func FuzzInflate(f *testing.F) {
	c, _ := NewCompressor(DefaultLevel)
	for _, m := range [][]byte{nil, []byte("Hello"), notification(1), random(100, 1)} {
		f.Add(c.Compress(nil, m, nil), []byte(nil), uint16(0))
		f.Add(c.Compress(nil, m, []byte("Hello")), []byte("Hello"), uint16(10))
	}
	for _, m := range [][]byte{
		{0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}, {0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00},
		{0x00, 0x04, 0x00, 0xfb, 0xff}, {0x01, 0x09, 0x00, 0xf6, 0xff}, {0x00}, {0x07},
	} {
		f.Add(m, []byte(nil), uint16(5))
	}
	f.Add(bomb(f, 2), []byte(nil), uint16(1000))
	f.Fuzz(func(t *testing.T, msg, dict []byte, limit16 uint16) {
		limit := int64(limit16)
		bufs := &countingBuffers{}
		d := NewDecompressor(&frame.Limits{MaxMessage: limit, Buffers: bufs})
		got, err := d.Inflate(msg, dict)
		want, ok := oracleInflate(msg, dict)
		if limit > 0 && int64(len(got)) > limit {
			t.Fatalf("%d bytes out, limit %d", len(got), limit)
		}
		if limit > 0 && int64(bufs.peak) > limit {
			t.Fatalf("%d bytes lent, limit %d", bufs.peak, limit)
		}
		switch {
		case err == nil:
			if !ok || !bytes.Equal(got, want) {
				t.Fatalf("inflated %d bytes; oracle ok=%v with %d bytes", len(got), ok, len(want))
			}
		case errors.Is(err, ErrTooBig):
			if limit == 0 || int64(len(want)) <= limit {
				t.Fatalf("%v, limit %d, oracle inflates %d bytes", err, limit, len(want))
			}
		case errors.Is(err, ErrCorrupt):
			if ok && (limit == 0 || int64(len(want)) <= limit) {
				t.Fatalf("%v; oracle inflates %d bytes", err, len(want))
			}
		default:
			t.Fatalf("untyped error %v", err)
		}
		d.Release(got)
		if bufs.held != 0 {
			t.Fatalf("%d bytes not given back", bufs.held)
		}
	})
}

// FuzzRoundTrip: at any level and window, with or without a dictionary,
// what Compress makes Inflate gives back, reusing one Compressor per level
// and one Decompressor across all inputs as a loop does.
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte("Hello"), []byte(nil), int8(1), uint8(7))
	f.Add(notification(1), notification(0), int8(9), uint8(2))
	f.Add(text16K(), text16K()[:3000], int8(5), uint8(0))
	f.Add(random(500, 1), random(300, 2), int8(-2), uint8(1))
	comps := map[int]*Compressor{}
	d := NewDecompressor(nil)
	f.Fuzz(func(t *testing.T, msg, dict []byte, level int8, bits uint8) {
		lv := int(level)%12 - 2 // -2..9
		if lv < -2 {
			lv += 12
		}
		bits = 8 + bits%8
		c := comps[lv]
		if c == nil {
			var err error
			if c, err = NewCompressor(lv); err != nil {
				t.Fatal(err)
			}
			comps[lv] = c
		}
		z := c.CompressWindow(nil, msg, dict, bits)
		got, err := d.Inflate(z, lastN(dict, 1<<bits))
		if err != nil {
			t.Fatalf("level %d bits %d: %v", lv, bits, err)
		}
		if !bytes.Equal(got, msg) {
			t.Fatalf("level %d bits %d: %d bytes back for %d", lv, bits, len(got), len(msg))
		}
		if ref, ok := oracleInflate(z, lastN(dict, 1<<bits)); !ok || !bytes.Equal(ref, msg) {
			t.Fatalf("level %d bits %d: Go's inflater disagrees", lv, bits)
		}
	})
}
