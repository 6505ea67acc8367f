package deflate

import (
	"bytes"
	"fmt"

	"github.com/klauspost/compress/flate"
)

// syncTail is the end of a sync flush, an empty non-final stored block's
// LEN and NLEN: the sender removes it (RFC 7692 §7.2.1), the receiver puts
// it back (§7.2.2).
var syncTail = []byte{0x00, 0x00, 0xff, 0xff}

// DefaultLevel is the compression level of -deflate-level by default.
const DefaultLevel = 1

// Compressor compresses messages for permessage-deflate, one after another,
// for any number of connections (one per event loop; not for concurrent
// use). Its memory is allocated when it is made (and, for each window
// smaller than 2^15 that a message needs, on first use) and reused for
// every message: nothing per message.
type Compressor struct {
	level  int
	w      *flate.Writer    // the level's writer: 2^15 window
	narrow [7]*flate.Writer // windows 2^8..2^14, made on first use
	out    appendWriter     // where the writers write: dst
}

// appendWriter appends to a slice: the DEFLATE writers' destination, which
// never fails.
type appendWriter struct{ b []byte }

func (a *appendWriter) Write(p []byte) (int, error) {
	a.b = append(a.b, p...)
	return len(p), nil
}

// NewCompressor returns a Compressor at level: 1 (fastest) to 9 (smallest),
// 0 (stored blocks only), -1 (klauspost/compress's default, 5) or -2
// (Huffman only), as klauspost/compress/flate takes them.
func NewCompressor(level int) (*Compressor, error) {
	c := &Compressor{level: level}
	w, err := flate.NewWriter(&c.out, level)
	if err != nil {
		return nil, fmt.Errorf("deflate: level %d: want -2..9: %w", level, err)
	}
	c.w = w
	return c, nil
}

// Level returns the compression level.
func (c *Compressor) Level() int { return c.level }

// Compress appends to dst the payload of msg compressed for
// permessage-deflate with a window of 2^15 bytes (no server_max_window_bits
// in the answer): raw DEFLATE ending with a sync flush whose trailing
// 00 00 ff ff is removed (RFC 7692 §7.2.1). dict, the last bytes of what
// the connection sent before (context takeover) or nil, primes the window:
// back-references may reach into it, so the peer must inflate with the same
// bytes before (§7.2.3.2). An empty message compresses to the single byte
// 0x00 (§7.2.3.6).
func (c *Compressor) Compress(dst, msg, dict []byte) []byte {
	return c.CompressWindow(dst, msg, dict, 15)
}

// CompressWindow is Compress with a window of 2^bits bytes (8..15; others
// are clamped): no back-reference reaches further, as the answer's
// server_max_window_bits promises the client (§7.1.2.1). dict longer than
// the window is cut to its last 2^bits bytes.
//
// When dict and msg fit in the window together, no reference can reach past
// it and the level's writer serves; a message of at most half the window
// does so with the oldest bytes of dict left out. A longer one takes a
// writer with that window (klauspost/compress's NewWriterWindow: its own
// fast matcher, which ignores the level, ~1 MiB made on first use per
// window size); it works for 8 bits too, unlike zlib, which cannot
// compress raw DEFLATE with a window of 2^8.
func (c *Compressor) CompressWindow(dst, msg, dict []byte, bits uint8) []byte {
	bits = min(max(bits, 8), 15)
	size := 1 << bits
	if len(dict) > size {
		dict = dict[len(dict)-size:]
	}
	w := c.w
	if bits < 15 && len(dict)+len(msg) > size && c.level != flate.NoCompression && c.level != flate.HuffmanOnly {
		if len(msg) <= size/2 {
			// A short message: drop the oldest of the dictionary instead,
			// so that dictionary and message fit in the window together.
			dict = dict[len(dict)+len(msg)-size:]
		} else {
			w = c.narrowWriter(bits)
		}
	}
	start := len(dst)
	c.out.b = dst
	// The writer keeps dict (not a copy) until the next message resets it;
	// it only reads it here.
	w.ResetDict(&c.out, dict)
	// Writing to appendWriter cannot fail, so neither can the writer.
	_, _ = w.Write(msg)
	_ = w.Flush()
	out := c.out.b
	c.out.b = nil
	if len(out)-start >= len(syncTail) && bytes.Equal(out[len(out)-len(syncTail):], syncTail) {
		out = out[:len(out)-len(syncTail)]
	}
	return out
}

// narrowWriter returns the writer whose window is 2^bits (8..14).
func (c *Compressor) narrowWriter(bits uint8) *flate.Writer {
	w := c.narrow[bits-8]
	if w == nil {
		// NewWriterWindow fails only for sizes outside 32..32768.
		w, _ = flate.NewWriterWindow(&c.out, 1<<bits)
		c.narrow[bits-8] = w
	}
	return w
}
