package frame

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
	"unicode/utf8"
)

// FuzzMessageReader feeds arbitrary bytes in several chunkings — the whole
// input at once, one byte at a time, a fixed step, and pieces whose lengths
// the fuzzer chooses — and checks that:
//
//   - nothing panics, no message passes the limit, no buffer grows beyond
//     what the limit allows;
//   - ErrNeedMore consumes the whole input given; n never exceeds it;
//   - every error is a *ProtocolError closing with 1002, 1007 or 1009;
//   - the outcome is the same whatever the chunking: the same messages
//     (opcode and payload) in the same order, then the same error — the
//     same kind (errors.Is), close code, RFC section and detail — or none.
func FuzzMessageReader(f *testing.F) {
	f.Add([]byte{0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}, uint8(1), false, []byte{2, 0, 5})
	f.Add([]byte{0x01, 0x03, 0x48, 0x65, 0x6c, 0x89, 0x00, 0x80, 0x02, 0x6c, 0x6f}, uint8(2), true, []byte{0, 7})
	f.Add([]byte{0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0}, uint8(3), true, []byte{})
	f.Add([]byte{0x88, 0x82, 1, 2, 3, 4, 0x02, 0xEA}, uint8(1), false, []byte{3})
	// A text message whose second fragment breaks UTF-8 in its third byte.
	f.Add([]byte{0x01, 0x02, 0xe6, 0x96, 0x80, 0x03, 0x80, 0x41, 0xff}, uint8(4), true, []byte{1, 1, 4})
	// A 4-byte sequence broken in its third byte, F0 BE 00.
	f.Add([]byte{0x81, 0x04, 0xf0, 0xbe, 0x00, 0x00}, uint8(0), true, []byte{1})
	// A fragmented message over the limit.
	f.Add(append([]byte{0x02, 0x7E, 0x08, 0x00}, make([]byte, 2048)...), uint8(9), true, []byte{200, 3})
	const limit = 4096
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8, client bool, cuts []byte) {
		role := RoleServer
		if client {
			role = RoleClient
		}
		// run feeds data in pieces of the lengths next returns.
		run := func(next func() int) (msgs [][]byte, failed error) {
			m := &MessageReader{Reader: Reader{Role: role}, Limits: &Limits{MaxMessage: limit}}
			in := append([]byte(nil), data...)
			for len(in) > 0 && failed == nil {
				part := in[:min(next(), len(in))]
				in = in[len(part):]
				for len(part) > 0 {
					msg, n, err := m.Next(part)
					if n < 0 || n > len(part) {
						t.Fatalf("consumed %d of %d bytes", n, len(part))
					}
					part = part[n:]
					if err == ErrNeedMore {
						if len(part) > 0 {
							t.Fatalf("ErrNeedMore with %d bytes left unread", len(part))
						}
						break
					}
					if err != nil {
						failed = err
						break
					}
					if len(msg.Payload) > limit {
						t.Fatalf("message of %d bytes passed the %d limit", len(msg.Payload), limit)
					}
					msgs = append(msgs, append([]byte{byte(msg.OpCode)}, msg.Payload...))
				}
				if m.Buffered() > 2*limit+MaxControlPayload {
					t.Fatalf("reader holds %d bytes", m.Buffered())
				}
			}
			return msgs, failed
		}
		step := func(k int) func() int { return func() int { return k } }
		i := 0
		chosen := func() int {
			if len(cuts) == 0 {
				return len(data)
			}
			k := int(cuts[i%len(cuts)]) + 1
			i++
			return k
		}
		want, wantErr := run(step(len(data) + 1))
		if wantErr != nil {
			var pe *ProtocolError
			if !errors.As(wantErr, &pe) {
				t.Fatalf("error %v is not a *ProtocolError", wantErr)
			}
			switch pe.Code {
			case CloseProtocolError, CloseInvalidPayload, CloseMessageTooBig:
			default:
				t.Fatalf("error %v closes with %d", pe, pe.Code)
			}
		}
		for _, c := range []struct {
			name string
			next func() int
		}{
			{"1-byte chunks", step(1)},
			{fmt.Sprintf("%d-byte chunks", chunk%16+1), step(int(chunk%16) + 1)},
			{fmt.Sprintf("pieces of %v bytes (+1)", cuts), chosen},
		} {
			got, gotErr := run(c.next)
			if len(got) != len(want) {
				t.Fatalf("%s: %d messages, %d in one piece", c.name, len(got), len(want))
			}
			for i := range want {
				if !bytes.Equal(got[i], want[i]) {
					t.Fatalf("%s: message %d is %q, in one piece %q", c.name, i, got[i], want[i])
				}
			}
			if !sameError(gotErr, wantErr) {
				t.Fatalf("%s: error %v, in one piece %v", c.name, gotErr, wantErr)
			}
		}
	})
}

// sameError reports whether two outcomes are the same: no error, or
// *ProtocolErrors of one kind with the same code, section and detail (the
// detail goes into the Close frame's reason).
func sameError(a, b error) bool {
	if a == nil || b == nil {
		return a == b
	}
	var pa, pb *ProtocolError
	if !errors.As(a, &pa) || !errors.As(b, &pb) {
		return false
	}
	return errors.Is(pa, pb) && errors.Is(pb, pa) && pa.Code == pb.Code && pa.Section == pb.Section && pa.Detail == pb.Detail
}

// FuzzRoundTrip encodes a frame and decodes it back.
func FuzzRoundTrip(f *testing.F) {
	f.Add(true, uint8(0), uint8(1), true, uint32(0x3d21fa37), []byte("Hello"))
	f.Add(false, uint8(4), uint8(2), false, uint32(0), bytes.Repeat([]byte{1}, 300))
	f.Fuzz(func(t *testing.T, fin bool, rsv, op uint8, masked bool, key uint32, payload []byte) {
		h := Header{Fin: fin, Rsv: rsv & 7, OpCode: Opcode(op & 0xF), Masked: masked, Length: int64(len(payload))}
		if masked {
			binary.LittleEndian.PutUint32(h.Mask[:], key)
		}
		wire := AppendHeader(nil, h)
		hn := len(wire)
		if hn != h.Size() {
			t.Fatalf("Size %d, encoded %d", h.Size(), hn)
		}
		wire = append(wire, payload...)
		Mask(h.Mask, 0, wire[hn:])
		if !masked {
			copy(wire[hn:], payload)
		}
		got, n, err := ParseHeader(wire)
		if err != nil || n != hn || got != h {
			t.Fatalf("decoded %+v, %d, %v; want %+v, %d", got, n, err, h, hn)
		}
		p := wire[hn:]
		if masked {
			Mask(got.Mask, 0, p)
		}
		if !bytes.Equal(p, payload) {
			t.Fatal("payload differs after round trip")
		}
	})
}

// FuzzUTF8 checks the incremental validator against the standard library
// for every split point.
func FuzzUTF8(f *testing.F) {
	f.Add([]byte("héllo 发送数据 😀"), uint8(3))
	f.Add([]byte{0xed, 0xa0, 0x80}, uint8(1))
	f.Fuzz(func(t *testing.T, b []byte, cut uint8) {
		c := int(cut) % (len(b) + 1)
		s, bad := UTF8State(0).Feed(b[:c])
		ok := bad < 0
		if ok {
			s, bad = s.Feed(b[c:])
			ok = bad < 0 && s.Complete()
		}
		if ok != utf8.Valid(b) {
			t.Fatalf("%q cut %d: incremental %v, stdlib %v", b, c, ok, !ok)
		}
	})
}
