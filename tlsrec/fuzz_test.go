package tlsrec

import (
	"bytes"
	"testing"
)

// fixedPair is a deterministic server/client pair for the fuzz targets.
func fixedPair(id uint16) (srv, cl *Conn) {
	hl := suiteByID(id).hashLen
	cs, ss := bytes.Repeat([]byte{1}, hl), bytes.Repeat([]byte{2}, hl)
	srv, cl = new(Conn), new(Conn)
	if srv.Init(id, cs, ss, true) != nil || cl.Init(id, ss, cs, false) != nil {
		panic("init")
	}
	return srv, cl
}

func suiteOf(b byte) uint16 { return allSuites[int(b)%len(allSuites)] }

// openChunks opens in in pieces cut at cut, keeping the partial record
// between them, as a loop does; it returns the data, the error and
// whether close_notify came.
func openChunks(c *Conn, in []byte, cut int) (data []byte, err error, closed bool) {
	var tail []byte
	for _, piece := range [][]byte{in[:cut], in[cut:]} {
		buf := append(append([]byte(nil), tail...), piece...)
		r, err := c.Open(buf)
		if r.N > r.Used || r.Used > len(buf) {
			panic("result out of bounds")
		}
		data = append(data, buf[:r.N]...)
		if err != nil || r.CloseNotify {
			return data, err, r.CloseNotify
		}
		tail = buf[r.Used:]
	}
	return data, nil, false
}

// Any bytes: Open never panics, its result stays in bounds, and what it
// makes of them — the data, the verdict — does not depend on where the
// bytes were cut.
func FuzzOpen(f *testing.F) {
	for i := range allSuites {
		srv, _ := fixedPair(allSuites[i])
		s := srv.Seal(nil, []byte("hello"))
		s = srv.SealKeyUpdate(s, true)
		s = srv.Seal(s, make([]byte, 20000))
		s = srv.SealAlert(s, AlertCloseNotify)
		f.Add(byte(i), s, uint16(7))
		f.Add(byte(i), s[:len(s)-3], uint16(5000))
	}
	f.Add(byte(0), []byte{23, 3, 3, 0x41, 0}, uint16(2))
	f.Fuzz(func(t *testing.T, suite byte, in []byte, cut uint16) {
		_, whole := fixedPair(suiteOf(suite))
		_, split := fixedPair(suiteOf(suite))
		d1, e1, c1 := openChunks(whole, in, len(in))
		d2, e2, c2 := openChunks(split, in, int(cut)%(len(in)+1))
		if !bytes.Equal(d1, d2) || (e1 == nil) != (e2 == nil) || c1 != c2 {
			t.Fatalf("whole: %q %v %v; cut at %d: %q %v %v", d1, e1, c1, cut, d2, e2, c2)
		}
		if e1 != nil && e1.Error() != e2.Error() {
			t.Fatalf("whole: %v; cut: %v", e1, e2)
		}
	})
}

// Messages sealed by one side, KeyUpdates between them, arrive whole and
// in order at the other, however the stream is cut; the KeyUpdates asked
// for are answered and the answer is understood.
func FuzzRoundTrip(f *testing.F) {
	f.Add(byte(0), []byte{5, 0, 200, 255, 3}, uint16(3), uint16(100))
	f.Add(byte(2), []byte{0, 0, 0}, uint16(0), uint16(1))
	f.Add(byte(1), bytes.Repeat([]byte{251, 252, 253}, 4), uint16(40), uint16(90))
	f.Fuzz(func(t *testing.T, suite byte, ops []byte, cut1, cut2 uint16) {
		srv, cl := fixedPair(suiteOf(suite))
		srv.updateAfter = 5 // our own updates, often
		var stream, want []byte
		asked := false
		for i, op := range ops {
			switch {
			case op == 255:
				stream = srv.SealKeyUpdate(stream, true)
				asked = true
			case op == 254:
				stream = srv.SealKeyUpdate(stream, false)
			default:
				n := int(op) * 97 // up to ~24 KiB: some messages span records
				msg := bytes.Repeat([]byte{byte(i)}, n)
				want = append(want, msg...)
				stream = srv.Seal(stream, msg[:n/2], msg[n/2:])
			}
		}
		a := int(cut1) % (len(stream) + 1)
		b := a + int(cut2)%(len(stream)-a+1)
		var got, tail []byte
		requested := false
		for _, piece := range [][]byte{stream[:a], stream[a:b], stream[b:]} {
			buf := append(append([]byte(nil), tail...), piece...)
			r, err := cl.Open(buf)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, buf[:r.N]...)
			requested = requested || r.UpdateRequested
			tail = buf[r.Used:]
		}
		if len(tail) != 0 || !bytes.Equal(got, want) {
			t.Fatalf("got %d bytes (tail %d), want %d", len(got), len(tail), len(want))
		}
		if requested != asked {
			t.Fatalf("update requested %v, asked %v", requested, asked)
		}
		// The answer (if any) and more data go back.
		back := cl.Seal(nil, []byte("back"))
		if asked && len(back) != KeyUpdateLen+SealedSize(4) {
			t.Fatalf("no KeyUpdate in front of the data: %d bytes", len(back))
		}
		r, err := srv.Open(back)
		if err != nil || string(back[:r.N]) != "back" {
			t.Fatalf("back: %v %q", err, back[:r.N])
		}
	})
}
