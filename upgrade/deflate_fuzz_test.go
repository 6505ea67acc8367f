package upgrade

import (
	"strings"
	"testing"
)

// FuzzNegotiateDeflate: for any Sec-WebSocket-Extensions lines and policy,
// negotiation never panics; it accepts exactly when some permessage-deflate
// offer is acceptable and the policy is on; the answer parses back with
// ParseDeflateResponse as acceptable for the offer it answered and for the
// whole offer list (the client's check), and keeps the policy's promises:
// "on" keeps nothing between messages, "takeover" keeps at most 2^W bytes
// (2^9 for the client's direction at W=8).
func FuzzNegotiateDeflate(f *testing.F) {
	for _, s := range append([]string{offerChromium, offerFirefox, offerWindows12, "", `foo; bar="x, permessage-deflate"`,
		"permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=8; client_max_window_bits=8",
		`permessage-deflate; client_max_window_bits="1\2"`}, badDeflateOffers...) {
		f.Add(s, offerChromium, uint8(1), uint8(0))
		f.Add(s, "", uint8(2), uint8(8))
	}
	f.Fuzz(func(t *testing.T, line1, line2 string, mode, bits uint8) {
		if strings.ContainsAny(line1+line2, "\r\n") {
			return
		}
		head := "GET / HTTP/1.1\r\nHost: x\r\nSec-WebSocket-Extensions: " + line1 + "\r\nSec-WebSocket-Extensions: " + line2 + "\r\n\r\n"
		r, _, perr := Parse([]byte(head), 0)
		if perr != nil {
			return // not a header line (control characters)
		}
		p := DeflatePolicy{Mode: DeflateMode(mode % 4), WindowBits: bits}
		a, ok := r.NegotiateDeflate(p)
		offers := deflateOffers(&r)
		if p.Mode != DeflateOn && p.Mode != DeflateTakeover {
			if ok {
				t.Fatalf("mode %v accepted", p.Mode)
			}
			return
		}
		if ok != (len(offers) > 0) {
			t.Fatalf("accepted %v with %d acceptable offers", ok, len(offers))
		}
		// Any text as an answer: never a panic.
		_, _ = ParseDeflateResponse([]byte(line1), offers...)
		if !ok {
			return
		}
		answer := AppendDeflateResponse(nil, a)
		got, err := ParseDeflateResponse(answer, offers[0])
		if err != nil {
			t.Fatalf("answer %q to the offer it answered %+v: %v", answer, offers[0], err)
		}
		if _, err := ParseDeflateResponse(answer, offers...); err != nil {
			t.Fatalf("answer %q to the offers %+v: %v", answer, offers, err)
		}
		if got.ServerNoContextTakeover != a.ServerNoContextTakeover || got.ServerMaxWindowBits != a.ServerMaxWindowBits ||
			a.ClientNoContextTakeover && !got.ClientNoContextTakeover ||
			a.ClientMaxWindowBits != 0 && got.ClientMaxWindowBits != a.ClientMaxWindowBits {
			t.Fatalf("answer %+v read back as %+v", a, got)
		}
		w := p.windowBits()
		switch p.Mode {
		case DeflateOn:
			if !a.ServerNoContextTakeover || !a.ClientNoContextTakeover || a.ClientMaxWindowBits != 0 {
				t.Fatalf("on answered %+v", a)
			}
		case DeflateTakeover:
			if !a.ServerNoContextTakeover && (a.ServerMaxWindowBits == 0 || a.ServerMaxWindowBits > w) {
				t.Fatalf("takeover W=%d: server window %+v", w, a)
			}
			if !a.ClientNoContextTakeover && (a.ClientMaxWindowBits < 8 || a.ClientMaxWindowBits > max(w, 9)) {
				t.Fatalf("takeover W=%d: client window %+v", w, a)
			}
		}
	})
}
