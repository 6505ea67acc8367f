package deflate

import (
	"errors"
	"io"
	"math"
	"strconv"

	"github.com/klauspost/compress/flate"
	"github.com/wsd-dev/wsd/frame"
)

// Decompressor inflates permessage-deflate messages, one after another,
// for any number of connections (one per event loop; not for concurrent
// use). Its inflater (a 32 KiB window and Huffman tables, ~40 KiB) is made
// once and reset for every message: nothing is allocated per message but
// the output, which comes from the Limits' Buffers.
type Decompressor struct {
	lim     frame.Limits
	r       io.ReadCloser // a klauspost/compress/flate inflater
	in      messageReader
	probe   [1]byte
	scratch []byte // where a large message is inflated once to learn its size (countSize)
}

// NewDecompressor returns a Decompressor whose messages inflate to at most
// lim.MaxMessage bytes (0: no limit) into buffers from lim.Buffers (nil:
// make, and let the GC reclaim them). lim is copied.
func NewDecompressor(lim *frame.Limits) *Decompressor {
	d := &Decompressor{}
	if lim != nil {
		d.lim = *lim
	}
	d.r = flate.NewReader(&d.in)
	return d
}

// Inflate returns the message whose permessage-deflate payload is msg
// (00 00 ff ff is put back here, RFC 7692 §7.2.2), with dict as the bytes
// the peer sent before (context takeover; nil without). The result is nil
// for an empty message, else a buffer from the Limits' Buffers: give it
// back with Release once done.
//
// Output is inflated in steps into a buffer that doubles (see bufSize)
// while the old and the new buffer together stay within the limit. A
// message that outgrows that is inflated on into a small scratch buffer
// only to count its size — the moment one more byte would pass the limit,
// Inflate stops with ErrTooBig — and then, its size known, once more into
// a buffer of exactly that size, the old one given back first. So the
// Buffers never lend more than the limit at once (RFC 7692 §8 leaves
// bounding a decompression bomb to us), at the price of inflating twice
// the messages past about a third of the limit. A payload that is not a
// complete DEFLATE stream fails with ErrCorrupt.
func (d *Decompressor) Inflate(msg, dict []byte) ([]byte, error) {
	limit := d.lim.MaxMessage
	if limit <= 0 || limit > math.MaxInt {
		limit = math.MaxInt
	}
	d.in.reset(msg)
	defer d.in.reset(nil) // hold no payload between messages
	// Reset cannot fail for this inflater.
	_ = d.r.(flate.Resetter).Reset(&d.in, dict)
	var out []byte
	k := uint(64) // the last buffer asked for held ⌈limit/2^k⌉ bytes; 64: none yet
	for {
		room := int(min(int64(cap(out)), limit)) - len(out)
		if room == 0 {
			if int64(len(out)) == limit {
				// Full: one more byte, and the message is too big.
				n, err := d.r.Read(d.probe[:])
				if n > 0 {
					d.Release(out)
					if d.in.overran() {
						// That output was made of the bytes put back
						// behind the payload: the payload ended inside a
						// block, whatever its size.
						return nil, ErrCorrupt.with("the stream is cut inside a block, payload of " + strconv.Itoa(len(msg)) + " bytes")
					}
					return nil, ErrTooBig.with("more than " + strconv.FormatInt(limit, 10) + " bytes inflated from a payload of " + strconv.Itoa(len(msg)) + " bytes")
				}
				return d.finish(out, err)
			}
			if k == 64 {
				k = firstShift(len(msg), limit)
			} else if k > 0 {
				k--
			}
			next := bufSize(limit, k)
			if int64(cap(out)) > limit-next {
				return d.inflateCounted(out, msg, dict, limit)
			}
			var ok bool
			if out, ok = d.grow(out, int(next)); !ok {
				return nil, ErrTooBig.with("no memory left for messages")
			}
			continue
		}
		n, err := d.r.Read(out[len(out) : len(out)+room])
		out = out[:len(out)+n]
		if err != nil {
			return d.finish(out, err)
		}
	}
}

// inflateCounted finishes a message that outgrew the buffers Inflate may
// double: what is left is inflated into scratch to count it, then the
// whole message once more into a buffer of its exact size.
func (d *Decompressor) inflateCounted(out, msg, dict []byte, limit int64) ([]byte, error) {
	if d.scratch == nil {
		d.scratch = make([]byte, 32<<10)
	}
	total := int64(len(out))
	d.Release(out)
	for {
		n, err := d.r.Read(d.scratch)
		total += int64(n)
		if total > limit {
			if d.in.overran() {
				return nil, ErrCorrupt.with("the stream is cut inside a block, payload of " + strconv.Itoa(len(msg)) + " bytes")
			}
			return nil, ErrTooBig.with("more than " + strconv.FormatInt(limit, 10) + " bytes inflated from a payload of " + strconv.Itoa(len(msg)) + " bytes")
		}
		if err != nil {
			if err != io.EOF || !d.in.complete() {
				return d.finish(nil, err)
			}
			break
		}
	}
	out, ok := d.grow(nil, int(total))
	if !ok {
		return nil, ErrTooBig.with("no memory left for messages")
	}
	d.in.reset(msg)
	_ = d.r.(flate.Resetter).Reset(&d.in, dict)
	for len(out) < int(total) {
		n, err := d.r.Read(out[len(out):total])
		out = out[:len(out)+n]
		if err != nil && len(out) < int(total) {
			return d.finish(out, err) // cannot differ from the first pass
		}
	}
	// The stream's end (io.EOF) is behind the last byte: read it, so that
	// finish sees the same ending as the first pass.
	n, err := d.r.Read(d.probe[:])
	if n > 0 {
		d.Release(out)
		return nil, ErrCorrupt.with("the second inflation of a payload of " + strconv.Itoa(len(msg)) + " bytes differs from the first")
	}
	return d.finish(out, err)
}

// The output buffers hold ⌈limit/2^k⌉ bytes for a falling k: the first
// the smallest that holds four times the payload and 512 bytes, each next
// one twice that (or one less), as long as a buffer and the next fit in
// the limit together.
func bufSize(limit int64, k uint) int64 {
	s := limit >> k
	if limit&(1<<k-1) != 0 {
		s++
	}
	return s
}

// firstShift is the k of the first buffer for a payload of in bytes.
func firstShift(in int, limit int64) uint {
	want := int64(max(4*in, 512))
	k := uint(0)
	for k < 62 && bufSize(limit, k+1) >= want {
		k++
	}
	return k
}

// grow moves out into a buffer of size bytes from the Buffers. False, with
// out given back, when the budget is spent.
func (d *Decompressor) grow(out []byte, size int) ([]byte, bool) {
	var nb []byte
	if d.lim.Buffers != nil {
		nb = d.lim.Buffers.Get(size)
	} else {
		nb = make([]byte, 0, size)
	}
	if nb == nil {
		d.Release(out)
		return nil, false
	}
	nb = append(nb[:0], out...)
	d.Release(out)
	return nb, true
}

// finish ends an inflation that stopped with err: io.EOF after a complete
// stream, anything else for a payload that does not inflate.
func (d *Decompressor) finish(out []byte, err error) ([]byte, error) {
	var why string
	switch {
	case err == io.EOF && d.in.complete():
		if len(out) == 0 {
			d.Release(out)
			return nil, nil
		}
		return out, nil
	case err == io.EOF && d.in.pos < len(d.in.msg):
		why = strconv.Itoa(len(d.in.msg)-d.in.pos) + " bytes after the final block"
	case err == nil:
		why = "the inflater stopped without output or error"
	case err == io.EOF, err == io.ErrUnexpectedEOF:
		why = "the stream is cut inside a block"
	default:
		why = corruptWhy(err, len(d.in.msg))
	}
	d.Release(out)
	return nil, ErrCorrupt.with(why + ", payload of " + strconv.Itoa(len(d.in.msg)) + " bytes")
}

// corruptWhy says what an inflater error means for a payload of n bytes
// (kept out of finish: errors.As would move its target to the heap on the
// path of every message).
func corruptWhy(err error, n int) string {
	var corrupt flate.CorruptInputError
	switch {
	case !errors.As(err, &corrupt):
		return err.Error()
	case int64(corrupt) <= int64(n):
		return "invalid DEFLATE data at byte " + strconv.FormatInt(int64(corrupt), 10)
	}
	// Found in the bytes put back behind the payload: it ended inside a
	// block that read them as its own.
	return "the stream is cut inside a block"
}

// Release gives back a buffer that Inflate returned (nil is fine).
func (d *Decompressor) Release(b []byte) {
	if b != nil && d.lim.Buffers != nil {
		d.lim.Buffers.Put(b[:0])
	}
}
