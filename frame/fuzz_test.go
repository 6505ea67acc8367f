package frame

import (
	"bytes"
	"encoding/binary"
	"testing"
	"unicode/utf8"
)

// FuzzMessageReader feeds arbitrary bytes in arbitrary chunking: no panic,
// no message over the limit, no buffer beyond what the limit allows, and
// the same outcome whatever the chunking.
func FuzzMessageReader(f *testing.F) {
	f.Add([]byte{0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}, uint8(1), false)
	f.Add([]byte{0x01, 0x03, 0x48, 0x65, 0x6c, 0x89, 0x00, 0x80, 0x02, 0x6c, 0x6f}, uint8(2), true)
	f.Add([]byte{0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0}, uint8(3), true)
	f.Add([]byte{0x88, 0x82, 1, 2, 3, 4, 0x02, 0xEA}, uint8(1), false)
	const limit = 4096
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8, client bool) {
		role := RoleServer
		if client {
			role = RoleClient
		}
		run := func(step int) (msgs [][]byte, failed error) {
			m := &MessageReader{Reader: Reader{Role: role}, Limits: &Limits{MaxMessage: limit}}
			in := append([]byte(nil), data...)
			for len(in) > 0 && failed == nil {
				part := in[:min(step, len(in))]
				in = in[len(part):]
				for len(part) > 0 {
					msg, n, err := m.Next(part)
					part = part[n:]
					if err == ErrNeedMore {
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
		a, errA := run(len(data) + 1)
		b, errB := run(int(chunk%16) + 1)
		if (errA == nil) != (errB == nil) {
			t.Fatalf("chunking changed the outcome: %v vs %v", errA, errB)
		}
		if len(a) != len(b) {
			t.Fatalf("chunking changed the messages: %d vs %d", len(a), len(b))
		}
		for i := range a {
			if !bytes.Equal(a[i], b[i]) {
				t.Fatalf("message %d differs with chunking", i)
			}
		}
	})
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
