package trace

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/wsd-dev/wsd/deflate"
	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/internal/wstest"
	"github.com/wsd-dev/wsd/upgrade"
)

// FuzzInflate drives the tracer's permessage-deflate path: a handshake
// that agrees on it with parameters the fuzzer picks (context takeover
// each way, the server's window), then in each direction messages made of
// the fuzzer's bytes, compressed as the answer allows and cut into
// fragments where it says, followed by one message whose "compressed"
// payload is the fuzzer's raw bytes (corrupt data, bytes after the end,
// bombs). It checks that:
//
//   - the tracer never panics;
//   - every validly compressed message is shown inflated to exactly the
//     bytes that were compressed (with takeover, after all the messages
//     before it);
//   - the dump is the same fed whole, a byte at a time and in the
//     fuzzer's pieces;
//   - nothing is inflated past the size limit (small here: a bomb stops
//     after 8 KiB).
func FuzzInflate(f *testing.F) {
	f.Add(uint8(0), []byte("hello hello hello, compressed"), []byte{0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}, []byte{})
	f.Add(uint8(0xff), bytes.Repeat([]byte("takeover window "), 40), []byte{0xff, 0xff, 0xff}, []byte{5, 17, 2})
	f.Add(uint8(0x23), []byte("a\x00b\x00c"), wstest.Deflate(make([]byte, 1<<20)), []byte{0, 0, 0})
	f.Add(uint8(0x40), []byte{}, []byte{0x00}, []byte{1})
	f.Fuzz(fuzzInflate)
}

// fuzzComps keeps compressors (~1 MiB each, with their narrow windows)
// from one run to the next.
var fuzzComps = sync.Pool{New: func() any {
	c, err := deflate.NewCompressor(1)
	if err != nil {
		panic(err)
	}
	return c
}}

func fuzzInflate(t *testing.T, mode uint8, plain, raw, cuts []byte) {
	plain, raw = plain[:min(len(plain), 2<<10)], raw[:min(len(raw), 2<<10)]
	p := upgrade.DeflateParams{
		ClientNoContextTakeover: mode&1 != 0,
		ServerNoContextTakeover: mode&2 != 0,
		ServerMaxWindowBits:     8 + mode>>2&7,
	}
	fragment := mode&0x40 != 0
	ci := 0
	cut := func(n int) int { // where to end the next fragment of n bytes
		if len(cuts) == 0 || !fragment {
			return n
		}
		// At least 16 bytes a fragment: frames by the thousand make
		// the runs slow and find nothing more.
		k := 16 + int(cuts[ci%len(cuts)])
		ci++
		return min(n, k)
	}
	comp := fuzzComps.Get().(*deflate.Compressor)
	defer fuzzComps.Put(comp)
	// Messages: plain cut into up to four pieces at the cuts.
	var msgs [][]byte
	for rest := plain; len(msgs) < 4; {
		k := len(rest)
		if len(cuts) > len(msgs) {
			k = min(k, int(cuts[len(msgs)])*8)
		}
		msgs = append(msgs, rest[:k])
		rest = rest[k:]
	}
	build := func(masked, takeover bool, bits uint8) []byte {
		var out, win []byte
		frames := func(z []byte) {
			op, rsv := frame.OpBinary, frame.Rsv1
			for first := true; first || len(z) > 0; first = false {
				k := len(z)
				if !first || len(z) > 1 {
					k = max(1, cut(len(z)))
				}
				h := frame.Header{Fin: k == len(z), Rsv: rsv, OpCode: op, Length: int64(k)}
				if masked {
					out = append(out, wstest.MaskedRsv(h.Fin, h.Rsv, h.OpCode, z[:k])...)
				} else {
					out = append(append(out, frame.AppendHeader(nil, h)...), z[:k]...)
				}
				z = z[k:]
				op, rsv = frame.OpContinuation, 0
			}
		}
		for _, m := range msgs {
			var dict []byte
			if takeover {
				dict = win
			}
			frames(comp.CompressWindow(nil, m, dict, bits))
			if takeover {
				win = deflate.AppendWindow(win, m, bits)
			}
		}
		frames(raw)
		return out
	}
	req, resp := deflateHeads(offerNoValue, string(upgrade.AppendDeflateResponse(nil, p)))
	segs := []segment{
		{ClientToServer, req}, {ServerToClient, resp},
		{ClientToServer, build(true, !p.ClientNoContextTakeover, p.ClientWindowBits())},
		{ServerToClient, build(false, !p.ServerNoContextTakeover, p.ServerWindowBits())},
	}
	const limit = 8 << 10
	opt := Options{JSON: true, MaxMessage: limit}
	out, c := traceRun(opt, segs, func() int { return 1 << 30 })
	for _, s := range c.dirs {
		if strings.Contains(s.stopped, "internal error") {
			t.Fatalf("tracer panicked: %s", s.stopped)
		}
	}
	// The valid messages, inflated in order each way; then the raw one.
	var seen [2]int
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var e map[string]any
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("not JSON: %s", l)
		}
		n, ok := e["wsd.deflate.compressed_length"]
		if !ok {
			continue
		}
		d := map[string]int{"c2s": 0, "s2c": 1}[e["dir"].(string)]
		if il, ok := e["wsd.deflate.inflated_length"].(float64); ok && il > limit {
			t.Fatalf("inflated %v bytes, past the limit", il)
		}
		if i := seen[d]; i < len(msgs) {
			if got := e["data.data"]; got != hex.EncodeToString(msgs[i]) {
				t.Fatalf("%s message %d (%v compressed bytes, params %+v) shown as %v, want %x; event %s", e["dir"], i, n, p, got, msgs[i], l)
			}
		}
		seen[d]++
	}
	if seen != [2]int{len(msgs) + 1, len(msgs) + 1} {
		t.Fatalf("compressed messages shown: %v, want %d each way", seen, len(msgs)+1)
	}
	i := 0
	chosen := func() int {
		if len(cuts) == 0 {
			return 7
		}
		k := int(cuts[i%len(cuts)]) + 1
		i++
		return k
	}
	for _, o := range []Options{opt, {MaxMessage: limit}} {
		want, _ := traceRun(o, segs, func() int { return 1 << 30 })
		for name, next := range map[string]func() int{"one byte at a time": func() int { return 1 }, "in pieces of cuts+1": chosen} {
			i = 0
			got, _ := traceRun(o, segs, next)
			wd, gd := byDirection(want, o.JSON), byDirection(got, o.JSON)
			for d := range wd {
				if wd[d] != gd[d] {
					t.Fatalf("JSON %v: fed %s, direction %d differs:\n%s", o.JSON, name, d, firstDifference(wd[d], gd[d]))
				}
			}
		}
	}
}
