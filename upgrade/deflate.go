package upgrade

import "errors"

// permessage-deflate (RFC 7692) negotiation, both roles. This file holds
// the types; deflate_syntax.go the header grammar, deflate_server.go the
// server's choice and answer, deflate_client.go the client's offer and its
// check of the answer.

// DeflateExtension is the extension token of RFC 7692 §7.
const DeflateExtension = "permessage-deflate"

// DefaultDeflateWindowBits is the window of DeflateTakeover when the policy
// names none: 2^10 bytes kept per direction per connection between messages.
const DefaultDeflateWindowBits = 10

// DeflateParams is an agreed permessage-deflate configuration: the
// parameters of the server's answer (RFC 7692 §7.1), as both sides must
// apply them. A zero window field means "not in the answer": the window is
// then 2^15 (ServerWindowBits, ClientWindowBits).
type DeflateParams struct {
	// The server compresses every message with a fresh LZ77 window
	// (§7.1.1.1): it keeps nothing between messages.
	ServerNoContextTakeover bool
	// The client compresses every message with a fresh window (§7.1.1.2):
	// the server keeps nothing of what it received between messages.
	ClientNoContextTakeover bool
	// The server's compressor may look back at most 2^ServerMaxWindowBits
	// bytes (§7.1.2.1); 0 = absent (15).
	ServerMaxWindowBits uint8
	// The client's compressor may look back at most 2^ClientMaxWindowBits
	// bytes (§7.1.2.2); 0 = absent (15).
	ClientMaxWindowBits uint8
}

// ServerWindowBits is the base-2 logarithm of the window the server
// compresses with, and (with context takeover) of the bytes it keeps of
// what it sent.
func (p DeflateParams) ServerWindowBits() uint8 { return bitsOr15(p.ServerMaxWindowBits) }

// ClientWindowBits is the base-2 logarithm of the window the client
// compresses with, and (with context takeover) of the bytes the server
// keeps of what it received.
func (p DeflateParams) ClientWindowBits() uint8 { return bitsOr15(p.ClientMaxWindowBits) }

func bitsOr15(b uint8) uint8 {
	if b == 0 {
		return 15
	}
	return b
}

// DeflateOffer is one permessage-deflate offer of a client (RFC 7692 §7.1),
// as sent (AppendDeflateOffer) or as received (the server side).
type DeflateOffer struct {
	ServerNoContextTakeover bool
	ClientNoContextTakeover bool
	// 0 = not offered, else 8..15 (§7.1.2.1: an offer must give a value).
	ServerMaxWindowBits uint8
	// 0 = not offered, OfferNoValue = offered without a value (the client
	// accepts any value in the answer), else 8..15 (§7.1.2.2).
	ClientMaxWindowBits uint8
}

// OfferNoValue in DeflateOffer.ClientMaxWindowBits stands for
// "client_max_window_bits" offered without a value (§7.1.2.2), as
// Chromium, Node's ws and Python's websockets send it.
const OfferNoValue uint8 = 0xFF

// DeflateMode is a server's permessage-deflate policy, the future wsd flag
// -deflate (off, on, takeover).
type DeflateMode uint8

const (
	// DeflateOff declines every offer (the zero value).
	DeflateOff DeflateMode = iota
	// DeflateOn accepts the first acceptable offer and always answers
	// server_no_context_takeover and client_no_context_takeover (§7.1.1.1,
	// §7.1.1.2 let the server add both): no connection keeps compression
	// state between messages, so one compressor and one decompressor per
	// event loop serve all of them.
	DeflateOn
	// DeflateTakeover keeps context takeover in both directions, with
	// windows of at most 2^WindowBits bytes (kept per connection and
	// direction between messages).
	DeflateTakeover
)

// String returns the flag spelling of m.
func (m DeflateMode) String() string {
	switch m {
	case DeflateOff:
		return "off"
	case DeflateOn:
		return "on"
	case DeflateTakeover:
		return "takeover"
	}
	return "DeflateMode(?)"
}

// ParseDeflateMode parses the flag spelling: "off", "on" or "takeover".
func ParseDeflateMode(s string) (DeflateMode, error) {
	switch s {
	case "off":
		return DeflateOff, nil
	case "on":
		return DeflateOn, nil
	case "takeover":
		return DeflateTakeover, nil
	}
	return DeflateOff, errors.New("deflate mode " + quote([]byte(s)) + ": want off, on or takeover")
}

// DeflatePolicy is what a server accepts.
type DeflatePolicy struct {
	Mode DeflateMode
	// WindowBits is W of DeflateTakeover: 8..15, 0 = DefaultDeflateWindowBits;
	// values outside 8..15 are clamped. Unused by DeflateOn.
	WindowBits uint8
}

func (p DeflatePolicy) windowBits() uint8 {
	switch {
	case p.WindowBits == 0:
		return DefaultDeflateWindowBits
	case p.WindowBits < 8:
		return 8
	case p.WindowBits > 15:
		return 15
	}
	return p.WindowBits
}
