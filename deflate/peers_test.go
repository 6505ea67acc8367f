package deflate

// Our output inflated, and theirs inflated by us, with two independent
// DEFLATE implementations on this machine: Python's zlib and Node's zlib.

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsd-dev/wsd/frame"
)

func lastN(b []byte, n int) []byte { return b[len(b)-min(n, len(b)):] }

// takeoverMessages is a conversation: notifications, repeats (references
// into earlier messages), incompressible bytes, bigger pieces.
func takeoverMessages() [][]byte {
	text := text16K()
	var msgs [][]byte
	for i := range 30 {
		switch i % 6 {
		case 0, 1:
			msgs = append(msgs, notification(i))
		case 2:
			msgs = append(msgs, notification(i-2)) // the same again
		case 3:
			msgs = append(msgs, random(300, uint64(i)))
		case 4:
			msgs = append(msgs, text[i*100:i*100+3000])
		case 5:
			msgs = append(msgs, []byte{})
		}
	}
	return msgs
}

// Every level and window, with and without a dictionary (an incompressible
// one too, with an incompressible first message: the case where Go's
// compress/flate writes the dictionary into the output, golang/go#80538),
// inflated by Python's zlib with exactly that window and dictionary.
func TestCompressInflatedByPythonZlib(t *testing.T) {
	levels := []int{-2, 0, 1, 5, 9}
	msgs := [][]byte{{}, []byte("a"), notification(1), text16K(), random(16<<10, 1)}
	dicts := [][]byte{nil, random(32<<10, 3), text16K()}
	type item struct {
		level int
		bits  uint8
		msg   []byte
	}
	var items []item
	var jobs []zlibJob
	for _, level := range levels {
		c, err := NewCompressor(level)
		require.NoError(t, err)
		for _, bits := range []uint8{8, 10, 12, 15} {
			for _, dict := range dicts {
				dict = lastN(dict, 1<<bits)
				for _, m := range msgs {
					z := c.CompressWindow(nil, m, dict, bits)
					items = append(items, item{level, bits, m})
					jobs = append(jobs, zlibJob{Op: "inflate", WBits: bits, Dict: b64(dict), Msgs: []string{b64(z)}})
				}
			}
		}
	}
	res := runZlibPeer(t, "python", jobs)
	for i, r := range res {
		it := items[i]
		if assert.True(t, r.OK, "level %d bits %d len %d: %s", it.level, it.bits, len(it.msg), r.Err) {
			assert.Equal(t, string(it.msg), string(unb64(t, r.Msgs[0])), "level %d bits %d len %d", it.level, it.bits, len(it.msg))
		}
	}
}

// The dictionary primes the window without being written: an
// incompressible first message after an incompressible dictionary costs
// about its own size, not the dictionary's too (golang/go#80538 in Go's
// compress/flate).
func TestCompressDoesNotWriteTheDictionary(t *testing.T) {
	msg, dict := random(1000, 7), random(1<<15, 8)
	for _, level := range []int{-2, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9} {
		c, err := NewCompressor(level)
		require.NoError(t, err)
		for _, bits := range []uint8{8, 10, 15} {
			z := c.CompressWindow(nil, msg, dict, bits)
			assert.Less(t, len(z), len(msg)+64, "level %d bits %d", level, bits)
			got, err := NewDecompressor(nil).Inflate(z, dict)
			require.NoError(t, err)
			assert.Equal(t, string(msg), string(got))
		}
	}
}

// Context takeover as the peer sees it: our messages, each compressed with
// the connection's last 2^W bytes as dictionary, inflated by ONE zlib
// stream kept across messages with a 2^W window, as websockets and ws do.
func TestTakeoverStreamInflatedByPythonZlib(t *testing.T) {
	msgs := takeoverMessages()
	type item struct {
		level int
		bits  uint8
	}
	var items []item
	var jobs []zlibJob
	for _, level := range []int{1, 6, 9} {
		c, err := NewCompressor(level)
		require.NoError(t, err)
		for _, bits := range []uint8{8, 10, 15} {
			var window []byte
			job := zlibJob{Op: "inflate", WBits: bits, Takeover: true}
			for _, m := range msgs {
				job.Msgs = append(job.Msgs, b64(c.CompressWindow(nil, m, window, bits)))
				window = AppendWindow(window, m, bits)
			}
			items = append(items, item{level, bits})
			jobs = append(jobs, job)
		}
	}
	for i, r := range runZlibPeer(t, "python", jobs) {
		if !assert.True(t, r.OK, "%+v: %s", items[i], r.Err) {
			continue
		}
		for j, m := range msgs {
			assert.Equal(t, string(m), string(unb64(t, r.Msgs[j])), "%+v message %d", items[i], j)
		}
	}
}

// Python's zlib compresses (one stream across messages for takeover, or a
// fresh one per message, with or without a dictionary), we inflate with
// the window we keep.
func TestInflatePythonCompressed(t *testing.T) {
	msgs := takeoverMessages()
	dict := text16K()
	var jobs []zlibJob
	for _, level := range []int{1, 6, 9} {
		for _, bits := range []uint8{9, 10, 12, 15} {
			for _, takeover := range []bool{true, false} {
				job := zlibJob{Op: "deflate", WBits: bits, Level: level, Takeover: takeover}
				for _, m := range msgs {
					job.Msgs = append(job.Msgs, b64(m))
				}
				jobs = append(jobs, job)
				if !takeover {
					job.Dict = b64(lastN(dict, 1<<bits))
					jobs = append(jobs, job)
				}
			}
		}
	}
	bufs := &countingBuffers{}
	d := NewDecompressor(&frame.Limits{MaxMessage: 1 << 20, Buffers: bufs})
	for i, r := range runZlibPeer(t, "python", jobs) {
		job := jobs[i]
		require.True(t, r.OK, "%+v: %s", job, r.Err)
		var window []byte
		for j, z := range r.Msgs {
			dict := window
			if !job.Takeover {
				dict = unb64(t, job.Dict)
			}
			got, err := d.Inflate(unb64(t, z), dict)
			require.NoError(t, err, "level %d bits %d takeover %v message %d", job.Level, job.WBits, job.Takeover, j)
			assert.Equal(t, string(msgs[j]), string(got), "level %d bits %d takeover %v message %d", job.Level, job.WBits, job.Takeover, j)
			if job.Takeover {
				window = AppendWindow(window, got, job.WBits)
			}
			d.Release(got)
		}
	}
	assert.Zero(t, bufs.held, "every buffer given back")
}

// Node's zlib, one message at a time primed with a dictionary, both ways.
func TestNodeZlibBothWays(t *testing.T) {
	msgs := [][]byte{notification(3), text16K(), random(2000, 4), {}}
	dicts := [][]byte{nil, random(4096, 5), text16K()}
	var jobs []zlibJob
	var want [][]byte
	for _, level := range []int{1, 9} {
		c, err := NewCompressor(level)
		require.NoError(t, err)
		for _, bits := range []uint8{9, 12, 15} {
			for _, dict := range dicts {
				dict = lastN(dict, 1<<bits)
				for _, m := range msgs {
					jobs = append(jobs,
						zlibJob{Op: "inflate", WBits: bits, Dict: b64(dict), Msg: b64(c.CompressWindow(nil, m, dict, bits)), Level: level},
						zlibJob{Op: "deflate", WBits: bits, Dict: b64(dict), Msg: b64(m), Level: level})
					want = append(want, m, m)
				}
			}
		}
	}
	d := NewDecompressor(nil)
	for i, r := range runZlibPeer(t, "node", jobs) {
		job := jobs[i]
		name := fmt.Sprintf("%s level %d bits %d dict %d len %d", job.Op, job.Level, job.WBits, len(job.Dict), len(want[i]))
		require.True(t, r.OK, "%s: %s", name, r.Err)
		got := unb64(t, r.Msg)
		if job.Op == "deflate" {
			var err error
			got, err = d.Inflate(got, unb64(t, job.Dict))
			require.NoError(t, err, name)
		}
		assert.Equal(t, string(want[i]), string(got), name)
	}
}

// The oracle above is strict about windows: a message compressed with a
// 2^15 window, whose references reach further than 2^8 or 2^10 bytes,
// fails in Python's zlib with those windows (and inflates with 2^15).
func TestPythonOracleCatchesFarReferences(t *testing.T) {
	c, err := NewCompressor(1)
	require.NoError(t, err)
	z := b64(c.Compress(nil, text16K(), nil))
	res := runZlibPeer(t, "python", []zlibJob{
		{Op: "inflate", WBits: 8, Msgs: []string{z}},
		{Op: "inflate", WBits: 10, Msgs: []string{z}},
		{Op: "inflate", WBits: 15, Msgs: []string{z}},
	})
	assert.False(t, res[0].OK)
	assert.Contains(t, res[0].Err, "invalid distance too far back")
	assert.False(t, res[1].OK)
	assert.True(t, res[2].OK, res[2].Err)
}

// periodic repeats a random block of p bytes: its best matches are exactly
// p bytes back, just inside or just outside a window of about p.
func periodic(p, n int, seed uint64) []byte {
	block := random(p, seed)
	b := make([]byte, n)
	for i := range b {
		b[i] = block[i%p]
	}
	return b
}

// Windows are kept against data that tempts references just past them:
// periods of 2^W-1 .. 2^W+7 bytes, in the message and in the dictionary,
// for messages shorter and longer than the window (both writer paths),
// inflated strictly by zlib with 2^W.
func TestCompressWindowHonoured(t *testing.T) {
	type item struct {
		level  int
		bits   uint8
		period int
		msg    []byte
	}
	var items []item
	var jobs []zlibJob
	for _, level := range []int{1, 6, 9} {
		c, err := NewCompressor(level)
		require.NoError(t, err)
		for bits := uint8(8); bits < 15; bits++ {
			size := 1 << bits
			for _, p := range []int{size - 1, size, size + 1, size + 7} {
				dict := periodic(p, size, uint64(p))
				for _, n := range []int{size / 3, 3 * size} {
					msg := periodic(p, n, uint64(p))
					z := c.CompressWindow(nil, msg, dict, bits)
					items = append(items, item{level, bits, p, msg})
					jobs = append(jobs, zlibJob{Op: "inflate", WBits: bits, Dict: b64(dict), Msgs: []string{b64(z)}})
				}
			}
		}
	}
	for i, r := range runZlibPeer(t, "python", jobs) {
		it := items[i]
		name := fmt.Sprintf("level %d bits %d period %d len %d", it.level, it.bits, it.period, len(it.msg))
		if assert.True(t, r.OK, "%s: %s", name, r.Err) {
			assert.Equal(t, it.msg, unb64(t, r.Msgs[0]), name)
		}
	}
}
