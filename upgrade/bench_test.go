package upgrade

// Handshake benchmarks side by side with gobwas/ws: parse, validate and
// answer Chromium's real handshake (testdata/chromium-handshake.txt).

import (
	"bytes"
	"io"
	"testing"

	"github.com/gobwas/ws"
	"github.com/stretchr/testify/assert"
)

func BenchmarkHandshake(b *testing.B) {
	head := chromiumHead(b)
	b.Run("wsd", func(b *testing.B) {
		out := make([]byte, 0, 256)
		b.SetBytes(int64(len(head)))
		for b.Loop() {
			req, _, err := Parse(head, 0)
			if err == nil {
				err = req.Validate()
			}
			if err != nil {
				b.Fatal(err)
			}
			out = AppendResponse(out[:0], req.Key, "")
		}
	})
	b.Run("gobwas", func(b *testing.B) {
		src := bytes.NewReader(head)
		rw := &struct {
			io.Reader
			io.Writer
		}{src, io.Discard}
		var u ws.Upgrader
		b.SetBytes(int64(len(head)))
		for b.Loop() {
			src.Reset(head)
			if _, err := u.Upgrade(rw); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkAccept(b *testing.B) {
	key := []byte("dGhlIHNhbXBsZSBub25jZQ==")
	b.Run("wsd", func(b *testing.B) {
		for b.Loop() {
			_ = Accept(key)
		}
	})
}

func TestHandshakeAllocatesNothing(t *testing.T) {
	head := chromiumHead(t)
	out := make([]byte, 0, 256)
	allocs := testing.AllocsPerRun(100, func() {
		req, _, err := Parse(head, 0)
		if err == nil {
			err = req.Validate()
		}
		if err != nil {
			t.Fatal(err)
		}
		out = AppendResponse(out[:0], req.Key, "")
	})
	assert.Zero(t, allocs)
}
