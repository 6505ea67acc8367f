package upgrade

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// A head whose first offers are declined: the walk over lines and offers,
// the parameter checks and the answer, all without allocating.
const deflateHead = "GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
	"Sec-WebSocket-Extensions: x-webkit-deflate-frame, permessage-deflate; server_max_window_bits=16\r\n" +
	`Sec-WebSocket-Extensions: foo; bar="a, b", permessage-deflate; server_max_window_bits="12"; client_max_window_bits` + "\r\n\r\n"

func TestNegotiateDeflateAllocatesNothing(t *testing.T) {
	for name, head := range map[string][]byte{"chromium": chromiumHead(t), "declines first": []byte(deflateHead)} {
		r, _, err := Parse(head, 0)
		if err != nil {
			t.Fatal(err)
		}
		out := make([]byte, 0, 128)
		for _, p := range []DeflatePolicy{policyOn, policyTakeover} {
			allocs := testing.AllocsPerRun(100, func() {
				a, ok := r.NegotiateDeflate(p)
				if !ok {
					t.Fatal("declined")
				}
				out = AppendDeflateResponse(out[:0], a)
			})
			assert.Zero(t, allocs, "%s %v", name, p.Mode)
		}
	}
	off := []DeflateOffer{{ServerMaxWindowBits: 10}, {ClientMaxWindowBits: OfferNoValue}}
	answer := []byte("permessage-deflate; server_no_context_takeover; client_max_window_bits=10")
	buf := make([]byte, 0, 128)
	allocs := testing.AllocsPerRun(100, func() {
		buf = AppendDeflateOffer(buf[:0], off...)
		if _, err := ParseDeflateResponse(answer, off...); err != nil {
			t.Fatal(err)
		}
	})
	assert.Zero(t, allocs, "client side")
}

func BenchmarkNegotiateDeflate(b *testing.B) {
	for name, head := range map[string][]byte{"chromium": chromiumHead(b), "declines-first": []byte(deflateHead)} {
		b.Run(name, func(b *testing.B) {
			r, _, err := Parse(head, 0)
			if err != nil {
				b.Fatal(err)
			}
			out := make([]byte, 0, 128)
			b.ReportAllocs()
			for b.Loop() {
				a, _ := r.NegotiateDeflate(policyTakeover)
				out = AppendDeflateResponse(out[:0], a)
			}
		})
	}
	b.Run("client", func(b *testing.B) {
		off := DeflateOffer{ClientMaxWindowBits: OfferNoValue}
		answer := []byte("permessage-deflate; server_max_window_bits=10; client_max_window_bits=10")
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ParseDeflateResponse(answer, off); err != nil {
				b.Fatal(err)
			}
		}
	})
}
