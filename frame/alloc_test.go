package frame

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// The per-frame hot path allocates nothing.
func TestHotPathAllocatesNothing(t *testing.T) {
	h := Header{Fin: true, OpCode: OpText, Length: 300, Masked: true, Mask: [4]byte{1, 2, 3, 4}}
	wire := frameBytes(true, OpText, true, utf8Text(300))
	text := utf8Text(4096)
	var hb [MaxHeaderSize]byte
	m := &MessageReader{Reader: Reader{Role: RoleServer}, Limits: &Limits{MaxMessage: 1 << 20}}
	in := make([]byte, len(wire))

	cases := map[string]func(){
		"ParseHeader": func() { _, _, _ = ParseHeader(wire) },
		"Encode":      func() { h.Encode(hb[:]) },
		"Mask":        func() { Mask(h.Mask, 3, text) },
		"UTF8":        func() { _, _ = UTF8State(0).Feed(text) },
		"MessageReader.Next": func() {
			copy(in, wire)
			if _, _, err := m.Next(in); err != nil {
				t.Fatal(err)
			}
		},
		"Reader.Next one byte at a time": func() {
			copy(in, wire)
			r := Reader{Role: RoleServer}
			for p := in; len(p) > 0; {
				_, n, err := r.Next(p[:1])
				if err != nil && err != ErrNeedMore {
					t.Fatal(err)
				}
				p = p[n:]
			}
		},
	}
	for name, fn := range cases {
		assert.Zero(t, testing.AllocsPerRun(100, fn), name)
	}
}
