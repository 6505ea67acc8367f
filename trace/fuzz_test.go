package trace

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/internal/wstest"
)

// segment is bytes of one direction, fed before the next segment.
type segment struct {
	d Direction
	b []byte
}

// headEnd returns the length of the HTTP head at the start of b (through
// its blank line), or len(b) if it has none.
func headEnd(b []byte) int {
	if i := bytes.Index(b, []byte("\r\n\r\n")); i >= 0 {
		return i + 4
	}
	return len(b)
}

// traceRun feeds the segments in order, each split into pieces of the
// lengths next returns, to a tracer with a fixed clock, and returns its
// output and the connection.
func traceRun(opt Options, segs []segment, next func() int) (string, *Conn) {
	var out bytes.Buffer
	tr := New(&out, opt)
	at := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)
	tr.now = func() time.Time { return at }
	c := tr.Conn("127.0.0.1:1", "127.0.0.1:2")
	for _, s := range segs {
		for b := s.b; len(b) > 0; {
			k := min(next(), len(b))
			c.Feed(s.d, b[:k])
			b = b[k:]
		}
	}
	c.End("done")
	return out.String(), c
}

// FuzzFeed feeds arbitrary bytes both ways and checks that:
//
//   - the tracer never panics (it would report an internal error);
//   - the dump does not depend on how the bytes were read: the same
//     segments (one direction's bytes, in a fixed order of directions) fed
//     whole, one byte at a time, and in pieces whose lengths the fuzzer
//     chooses render the same output, in the human format and in JSON;
//   - in JSON every line is one valid JSON object with conn and event, the
//     first event "open", the last "end" with the byte counts fed.
//
// The directions are fed either request head, response head, then the
// rest of each (as a live connection goes), or all of the client's bytes
// and then all of the server's; which one the fuzzer chooses.
func FuzzFeed(f *testing.F) {
	client := bytes.Join([][]byte{
		wstest.Masked(true, frame.OpText, []byte("hello 发送")),
		wstest.Masked(false, frame.OpText, []byte("Hel")),
		wstest.Masked(true, frame.OpPing, []byte("p")),
		wstest.Masked(true, frame.OpContinuation, []byte("lo")),
		wstest.Masked(true, frame.OpBinary, bytes.Repeat([]byte{7}, 300)),
		wstest.Masked(true, frame.OpText, []byte{0xf0, 0xbe, 0x00}),
		wstest.Masked(true, frame.OpText, []byte("two\nlines, \"quoted\", \x1b[31mred\x1b[0m")),
		wstest.CloseFrame(1000, "bye"),
	}, nil)
	server := append(response(), wstest.Unmasked(true, frame.OpText, []byte("hi"))...)
	server = append(server, wstest.Unmasked(true, frame.OpClose, []byte{0x03, 0xe8})...)
	f.Add([]byte(request), response(), uint8(3), []byte{})
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"), []byte("HTTP/1.1 101 x\r\n\r\n\x81\x05hello"), uint8(1), []byte{4, 0})
	f.Add(append([]byte(request), client...), server, uint8(0), []byte{0, 6, 2, 40})
	f.Add(append([]byte(request), client...), server, uint8(1), []byte{9})
	f.Add([]byte(request), []byte("HTTP/1.1 404 Not Found\r\n\r\nbody"), uint8(2), []byte{1, 2, 3})
	f.Add([]byte("\x16\x03\x01\x00\xa5 TLS hello"), []byte{}, uint8(0), []byte{2})
	// permessage-deflate agreed (with and without context takeover):
	// compressed messages, whole and in fragments, both ways.
	for _, answer := range []string{"permessage-deflate; server_no_context_takeover; client_no_context_takeover", "permessage-deflate; server_max_window_bits=9"} {
		req, resp := deflateHeads(offerNoValue, answer)
		z := wstest.Deflate([]byte("hello hello hello hello"))
		c := bytes.Join([][]byte{
			wstest.MaskedRsv(true, frame.Rsv1, frame.OpText, z),
			wstest.MaskedRsv(false, frame.Rsv1, frame.OpBinary, z[:3]),
			wstest.Masked(true, frame.OpContinuation, z[3:]),
			wstest.MaskedRsv(true, frame.Rsv1, frame.OpText, []byte{0xff, 0x01}),
		}, nil)
		s := append(resp, append(frame.AppendHeader(nil, frame.Header{Fin: true, Rsv: frame.Rsv1, OpCode: frame.OpText, Length: int64(len(z))}), z...)...)
		f.Add(append(req, c...), s, uint8(0), []byte{3, 1})
	}
	f.Fuzz(func(t *testing.T, c2s, s2c []byte, mode uint8, cuts []byte) {
		// A head fed a byte at a time is parsed again at each byte: keep
		// the inputs small enough for many runs a second.
		c2s, s2c = c2s[:min(len(c2s), 4<<10)], s2c[:min(len(s2c), 4<<10)]
		var segs []segment
		if mode&1 == 0 {
			p, q := headEnd(c2s), headEnd(s2c)
			segs = []segment{{ClientToServer, c2s[:p]}, {ServerToClient, s2c[:q]}, {ClientToServer, c2s[p:]}, {ServerToClient, s2c[q:]}}
		} else {
			segs = []segment{{ClientToServer, c2s}, {ServerToClient, s2c}}
		}
		whole := func() int { return len(c2s) + len(s2c) + 1 }
		one := func() int { return 1 }
		i := 0
		chosen := func() int {
			if len(cuts) == 0 {
				return 3
			}
			k := int(cuts[i%len(cuts)]) + 1
			i++
			return k
		}
		for _, opt := range []Options{{}, {JSON: true}} {
			want, c := traceRun(opt, segs, whole)
			for _, s := range c.dirs {
				if strings.Contains(s.stopped, "internal error") {
					t.Fatalf("tracer panicked: %s", s.stopped)
				}
			}
			for _, r := range []struct {
				name string
				next func() int
			}{{"one byte at a time", one}, {"in pieces of cuts+1", chosen}} {
				i = 0
				got, _ := traceRun(opt, segs, r.next)
				wd, gd := byDirection(want, opt.JSON), byDirection(got, opt.JSON)
				for d := range wd {
					if wd[d] != gd[d] {
						t.Fatalf("options %+v: fed %s, the %s events differ from those fed whole:\n%s", opt, r.name, []string{"connection", "client→server", "server→client"}[d], firstDifference(wd[d], gd[d]))
					}
				}
			}
			if opt.JSON {
				checkJSONLines(t, want, len(c2s), len(s2c))
			}
		}
	})
}

// byDirection splits a dump into its connection events (open, end) and
// the events of each direction, in order: only the order within each is
// promised (Conn's doc), not how the two directions interleave.
func byDirection(out string, isJSON bool) (ev [3]string) {
	var b [3]strings.Builder // not +=: a dump of many frames would copy quadratically
	defer func() {
		for i := range b {
			ev[i] = b[i].String()
		}
	}()
	cur := 0
	for _, l := range strings.SplitAfter(out, "\n") {
		if isJSON {
			var m map[string]any
			json.Unmarshal([]byte(l), &m)
			dir, _ := m["dir"].(string)
			cur = map[string]int{"": 0, "c2s": 1, "s2c": 2}[dir]
		} else if plain := ansi.ReplaceAllString(l, ""); strings.HasPrefix(plain, "══ #") || strings.HasPrefix(plain, "── #") {
			cur = 0
			if strings.HasPrefix(plain, "── #") {
				cur = 1
				if strings.Contains(plain, "server→client") {
					cur = 2
				}
			}
		}
		b[cur].WriteString(l)
	}
	return ev
}

var ansi = regexp.MustCompile("\033\\[[0-9;]*m")

// checkJSONLines checks that out is one JSON object per line, from "open"
// to "end", the end counting the bytes fed each way.
func checkJSONLines(t *testing.T, out string, c2s, s2c int) {
	t.Helper()
	if !strings.HasSuffix(out, "\n") {
		t.Fatalf("JSON output does not end with a newline: %q", out)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	var last map[string]any
	for i, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("line %d is not a JSON object: %v\n%s", i, err, l)
		}
		if _, ok := m["conn"].(float64); !ok {
			t.Fatalf("line %d has no conn: %s", i, l)
		}
		ev, _ := m["event"].(string)
		switch {
		case i == 0 && ev != "open":
			t.Fatalf("first event %q, want open", ev)
		case i == len(lines)-1 && ev != "end":
			t.Fatalf("last event %q, want end", ev)
		case i > 0 && i < len(lines)-1 && (ev == "open" || ev == "end"):
			t.Fatalf("event %q on line %d of %d", ev, i, len(lines))
		}
		last = m
	}
	if last["c2s_bytes"] != float64(c2s) || last["s2c_bytes"] != float64(s2c) {
		t.Fatalf("end counts %v and %v bytes, %d and %d were fed", last["c2s_bytes"], last["s2c_bytes"], c2s, s2c)
	}
}

// firstDifference shows where two dumps part, a few lines around.
func firstDifference(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < max(len(w), len(g)); i++ {
		var a, b string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			b = g[i]
		}
		if a != b {
			from := max(0, i-3)
			return "same up to:\n" + strings.Join(w[from:i], "\n") + "\nfed whole: " + a + "\nthis time: " + b
		}
	}
	return "(no difference)"
}

// TestNotHTTPDumpSameWhateverTheReads: a head that is not HTTP is reported
// the same way however its bytes arrived — the same reason, the same first
// bytes shown.
func TestNotHTTPDumpSameWhateverTheReads(t *testing.T) {
	for _, tc := range []struct {
		name string
		segs []segment
	}{
		{"TLS hello to a WebSocket port", []segment{{ClientToServer, []byte("\x16\x03\x01\x00\xa5 TLS hello")}}},
		{"a response without HTTP/", []segment{{ClientToServer, []byte(request)}, {ServerToClient, []byte("000\n0")}}},
	} {
		for _, opt := range []Options{{}, {JSON: true}} {
			whole, _ := traceRun(opt, tc.segs, func() int { return 1 << 20 })
			bytewise, _ := traceRun(opt, tc.segs, func() int { return 1 })
			if whole != bytewise {
				t.Errorf("%s (JSON %v): fed a byte at a time, the dump differs from the one fed whole:\n%s",
					tc.name, opt.JSON, firstDifference(whole, bytewise))
			}
		}
	}
}
