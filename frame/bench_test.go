package frame

// Benchmarks side by side with github.com/gobwas/ws's counterparts, run by
// `make bench`; bench/README.md has the table.

import (
	"bytes"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

var benchHeaders = []struct {
	name string
	h    Header
}{
	{"7bit", Header{Fin: true, OpCode: OpText, Length: 100, Masked: true, Mask: [4]byte{1, 2, 3, 4}}},
	{"16bit", Header{Fin: true, OpCode: OpBinary, Length: 1000, Masked: true, Mask: [4]byte{1, 2, 3, 4}}},
	{"64bit", Header{Fin: true, OpCode: OpBinary, Length: 1 << 20, Masked: true, Mask: [4]byte{1, 2, 3, 4}}},
}

func gobwasHeader(h Header) ws.Header {
	return ws.Header{Fin: h.Fin, Rsv: h.Rsv, OpCode: ws.OpCode(h.OpCode), Masked: h.Masked, Mask: h.Mask, Length: h.Length}
}

func BenchmarkHeaderDecode(b *testing.B) {
	for _, bh := range benchHeaders {
		wire := AppendHeader(nil, bh.h)
		b.Run(bh.name+"/wsd", func(b *testing.B) {
			for b.Loop() {
				if _, _, err := ParseHeader(wire); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(bh.name+"/gobwas", func(b *testing.B) {
			r := bytes.NewReader(wire)
			for b.Loop() {
				r.Reset(wire)
				if _, err := ws.ReadHeader(r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkHeaderEncode(b *testing.B) {
	for _, bh := range benchHeaders {
		b.Run(bh.name+"/wsd", func(b *testing.B) {
			var buf [MaxHeaderSize]byte
			for b.Loop() {
				bh.h.Encode(buf[:])
			}
		})
		b.Run(bh.name+"/gobwas", func(b *testing.B) {
			gh := gobwasHeader(bh.h)
			for b.Loop() {
				if err := ws.WriteHeader(io.Discard, gh); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkMask(b *testing.B) {
	key := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	for _, size := range []int{1 << 10, 64 << 10} {
		p := make([]byte, size)
		name := sizeName(size)
		b.Run(name+"/wsd", func(b *testing.B) {
			b.SetBytes(int64(size))
			for b.Loop() {
				Mask(key, 1, p)
			}
		})
		b.Run(name+"/gobwas", func(b *testing.B) {
			b.SetBytes(int64(size))
			for b.Loop() {
				ws.Cipher(p, key, 1)
			}
		})
	}
}

// utf8Text is chat-like text: ASCII with Chinese and an emoji mixed in.
func utf8Text(size int) []byte {
	unit := "Order #1024 placed: 您有一条新的订单！ total ¥128.00 😀 ok. "
	s := strings.Repeat(unit, size/len(unit)+1)
	return []byte(truncateUTF8(s, size))
}

func BenchmarkUTF8(b *testing.B) {
	for _, size := range []int{1 << 10, 64 << 10} {
		for _, kind := range []string{"mixed", "ascii"} {
			p := utf8Text(size)
			if kind == "ascii" {
				p = bytes.Repeat([]byte("a"), size)
			}
			name := sizeName(size) + "-" + kind
			b.Run(name+"/wsd", func(b *testing.B) {
				b.SetBytes(int64(len(p)))
				for b.Loop() {
					if s, bad := UTF8State(0).Feed(p); bad >= 0 || !s.Complete() {
						b.Fatal("invalid")
					}
				}
			})
			b.Run(name+"/gobwas", func(b *testing.B) {
				b.SetBytes(int64(len(p)))
				src := bytes.NewReader(p)
				u := wsutil.NewUTF8Reader(src)
				buf := make([]byte, len(p))
				for b.Loop() {
					src.Reset(p)
					u.Reset(src)
					if _, err := io.ReadFull(u, buf); err != nil || !u.Valid() {
						b.Fatal("invalid", err)
					}
				}
			})
		}
	}
}

func sizeName(n int) string { return strconv.Itoa(n>>10) + "KiB" }
