package upgrade

import "bytes"

// The Sec-WebSocket-Extensions grammar (RFC 6455 §9.1, in the ABNF of
// RFC 2616, whose implied *LWS allows whitespace around ";" and "="):
//
//	extension-list = 1#extension
//	extension      = extension-token *( ";" extension-param )
//	extension-param = token [ "=" (token | quoted-string) ]
//	    ; the value after quoted-string unescaping MUST conform to token
//
// and the permessage-deflate parameters (RFC 7692 §7.1): four names, each at
// most once, the two *_no_context_takeover without a value, the two
// *_max_window_bits with "1*DIGIT" values 8..15 without leading zeros
// (§7.1.2.1, §7.1.2.2); client_max_window_bits may come without a value in
// an offer only. So `client_max_window_bits="10"` is valid (a quoted-string
// whose content is the token 10), `=010`, `=7`, `=16`, `=""` and
// `server_no_context_takeover=1` are not. Names are compared exactly, as
// the RFC spells them.

// cutUnquoted splits v at the first sep that is not inside a quoted-string
// (RFC 7230 §3.2.6: quoted-pairs escape one byte). A quoted-string that
// never ends runs to the end of v.
func cutUnquoted(v []byte, sep byte) (before, after []byte, found bool) {
	// The common case, no quote before the separator, at memchr speed.
	if i := bytes.IndexByte(v, sep); i >= 0 && bytes.IndexByte(v[:i], '"') < 0 {
		return v[:i], v[i+1:], true
	} else if i < 0 && bytes.IndexByte(v, '"') < 0 {
		return v, nil, false
	}
	inQuote := false
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case inQuote && c == '\\':
			i++ // quoted-pair: the next byte is data
		case c == '"':
			inQuote = !inQuote
		case !inQuote && c == sep:
			return v[:i], v[i+1:], true
		}
	}
	return v, nil, false
}

// eachExtension calls fn with each element of one header line's
// extension-list, trimmed, until fn returns false. A comma inside a
// quoted-string does not split (unlike eachToken); empty elements are
// skipped (RFC 7230 §7).
func eachExtension(v []byte, fn func(e []byte) bool) bool {
	for len(v) > 0 {
		var e []byte
		e, v, _ = cutUnquoted(v, ',')
		if e = trimOWS(e); len(e) > 0 && !fn(e) {
			return false
		}
	}
	return true
}

// extensionName returns the extension-token of an element.
func extensionName(e []byte) []byte {
	name, _, _ := cutUnquoted(e, ';')
	return trimOWS(name)
}

// Why a permessage-deflate element is not acceptable (RFC 7692 §7.1: the
// server declines such an offer, the client fails on such an answer).
const (
	whyEmptyParam      = "empty parameter"
	whyBadParam        = "malformed parameter"
	whyUnknownParam    = "unknown parameter (RFC 7692 §7.1)"
	whyDuplicateParam  = "repeated parameter (RFC 7692 §7.1)"
	whySNCTValue       = "server_no_context_takeover takes no value (RFC 7692 §7.1.1.1)"
	whyCNCTValue       = "client_no_context_takeover takes no value (RFC 7692 §7.1.1.2)"
	whySMWBMissing     = "server_max_window_bits needs a value (RFC 7692 §7.1.2.1)"
	whySMWBValue       = "server_max_window_bits is not 8..15 without leading zeros (RFC 7692 §7.1.2.1)"
	whyCMWBMissing     = "client_max_window_bits needs a value in an answer (RFC 7692 §7.1.2.2)"
	whyCMWBValue       = "client_max_window_bits is not 8..15 without leading zeros (RFC 7692 §7.1.2.2)"
	whyNotPerMessageDf = "not permessage-deflate"
)

// parseDeflate parses one element of an extension-list as a
// permessage-deflate offer or, offer false, answer. It returns the
// parameters and "" or, when the element is not an acceptable
// permessage-deflate, why and the offending part.
func parseDeflate(e []byte, offer bool) (o DeflateOffer, why string, bad []byte) {
	name, rest, more := cutUnquoted(e, ';')
	if string(trimOWS(name)) != DeflateExtension {
		return o, whyNotPerMessageDf, trimOWS(name)
	}
	var snct, cnct bool
	for more {
		var p []byte
		p, rest, more = cutUnquoted(rest, ';')
		p = trimOWS(p)
		if len(p) == 0 {
			return o, whyEmptyParam, p
		}
		name, value, hasValue := bytes.Cut(p, []byte{'='})
		name, value = trimOWS(name), trimOWS(value)
		if !isToken(name) || hasValue && len(value) == 0 {
			return o, whyBadParam, p
		}
		switch string(name) {
		case "server_no_context_takeover":
			switch {
			case snct:
				return o, whyDuplicateParam, p
			case hasValue:
				return o, whySNCTValue, p
			}
			snct = true
		case "client_no_context_takeover":
			switch {
			case cnct:
				return o, whyDuplicateParam, p
			case hasValue:
				return o, whyCNCTValue, p
			}
			cnct = true
		case "server_max_window_bits":
			if o.ServerMaxWindowBits != 0 {
				return o, whyDuplicateParam, p
			}
			if !hasValue {
				return o, whySMWBMissing, p
			}
			bits, ok := windowBitsValue(value)
			if !ok {
				return o, whySMWBValue, p
			}
			o.ServerMaxWindowBits = bits
		case "client_max_window_bits":
			if o.ClientMaxWindowBits != 0 {
				return o, whyDuplicateParam, p
			}
			if !hasValue {
				if !offer {
					return o, whyCMWBMissing, p
				}
				o.ClientMaxWindowBits = OfferNoValue
				continue
			}
			bits, ok := windowBitsValue(value)
			if !ok {
				return o, whyCMWBValue, p
			}
			o.ClientMaxWindowBits = bits
		default:
			return o, whyUnknownParam, p
		}
	}
	o.ServerNoContextTakeover, o.ClientNoContextTakeover = snct, cnct
	return o, "", nil
}

// windowBitsValue parses a *_max_window_bits value: 1*DIGIT, 8..15, no
// leading zeros (RFC 7692 §7.1.2), as a token or as a quoted-string whose
// unescaped content is that token (RFC 6455 §9.1).
func windowBitsValue(v []byte) (uint8, bool) {
	var d [2]byte
	n := 0
	if v[0] == '"' {
		if len(v) < 2 || v[len(v)-1] != '"' {
			return 0, false
		}
		in := v[1 : len(v)-1]
		for i := 0; i < len(in); i++ {
			c := in[i]
			if c == '\\' { // quoted-pair (RFC 7230 §3.2.6)
				if i++; i == len(in) {
					return 0, false // the closing quote was escaped
				}
				c = in[i]
			} else if c == '"' {
				return 0, false
			}
			if n == len(d) {
				return 0, false
			}
			d[n] = c
			n++
		}
	} else {
		if len(v) > len(d) {
			return 0, false
		}
		n = copy(d[:], v)
	}
	switch {
	case n == 1 && (d[0] == '8' || d[0] == '9'):
		return d[0] - '0', true
	case n == 2 && d[0] == '1' && d[1] >= '0' && d[1] <= '5':
		return 10 + d[1] - '0', true
	}
	return 0, false
}
