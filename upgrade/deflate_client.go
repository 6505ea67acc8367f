package upgrade

import (
	"errors"
	"strconv"
)

// ErrBadExtension is returned by ParseDeflateResponse for an answer the
// client cannot accept: it must fail the WebSocket connection (RFC 6455
// §4.1, RFC 7692 §7.1).
var ErrBadExtension = errors.New("upgrade: unacceptable Sec-WebSocket-Extensions answer")

// AppendDeflateOffer appends a Sec-WebSocket-Extensions value offering
// permessage-deflate with each configuration in turn, the preferred first:
// "permessage-deflate; client_max_window_bits, permessage-deflate".
// Window values outside 8..15 (other than 0 and OfferNoValue) are clamped.
func AppendDeflateOffer(dst []byte, offers ...DeflateOffer) []byte {
	for i, o := range offers {
		if i > 0 {
			dst = append(dst, ", "...)
		}
		dst = append(dst, DeflateExtension...)
		if o.ServerNoContextTakeover {
			dst = append(dst, "; server_no_context_takeover"...)
		}
		if o.ClientNoContextTakeover {
			dst = append(dst, "; client_no_context_takeover"...)
		}
		if o.ServerMaxWindowBits != 0 {
			dst = append(dst, "; server_max_window_bits="...)
			dst = appendWindowBits(dst, o.ServerMaxWindowBits)
		}
		switch o.ClientMaxWindowBits {
		case 0:
		case OfferNoValue:
			dst = append(dst, "; client_max_window_bits"...)
		default:
			dst = append(dst, "; client_max_window_bits="...)
			dst = appendWindowBits(dst, o.ClientMaxWindowBits)
		}
	}
	return dst
}

// ParseDeflateResponse checks the server's Sec-WebSocket-Extensions answer
// (all of it: join several header lines with ", ") against the offers the
// client made, and returns the configuration the client must apply. The
// answer must hold exactly one permessage-deflate element, with known
// parameters, each at most once, with valid values (RFC 7692 §7.1), that
// accepts one of the offers:
//
//   - server_no_context_takeover, if offered, is answered (§7.1.1.1);
//   - server_max_window_bits, if offered, is answered with the same or a
//     smaller value (§7.1.2.1);
//   - client_max_window_bits is answered only if offered, and not above an
//     offered value (§7.1.2.2).
//
// The result applies the client's own promises too: client_no_context_takeover
// it offered, and the client_max_window_bits value it offered when the
// answer names none.
func ParseDeflateResponse(value []byte, offered ...DeflateOffer) (DeflateParams, error) {
	var elem []byte
	n := 0
	eachExtension(value, func(e []byte) bool {
		if n == 0 {
			elem = e
		}
		n++
		return true
	})
	switch {
	case n == 0:
		return DeflateParams{}, badExtension("empty answer", value)
	case n > 1:
		// Only permessage-deflate was offered (RFC 6455 §9.1: the server
		// answers only what was offered), and two uses of RSV1 conflict
		// (RFC 7692 §5).
		return DeflateParams{}, badExtension(strconv.Itoa(n)+" extensions in the answer, one was offered", value)
	}
	a, why, bad := parseDeflate(elem, false)
	if why != "" {
		if why == whyNotPerMessageDf {
			return DeflateParams{}, badExtension("answered an extension that was not offered", value)
		}
		return DeflateParams{}, badExtension(why+": "+quote(bad), value)
	}
	if len(offered) == 0 {
		return DeflateParams{}, badExtension("permessage-deflate was not offered", value)
	}
	first := ""
	for _, o := range offered {
		p, why := acceptAnswer(o, a)
		if why == "" {
			return p, nil
		}
		if first == "" {
			first = why
		}
	}
	if len(offered) > 1 {
		first = "fits none of the " + strconv.Itoa(len(offered)) + " offers; the first: " + first
	}
	return DeflateParams{}, badExtension(first, value)
}

// acceptAnswer checks answer a against offer o (§7.1) and returns the
// configuration to apply, or why a does not fit o.
func acceptAnswer(o, a DeflateOffer) (DeflateParams, string) {
	switch {
	case o.ServerNoContextTakeover && !a.ServerNoContextTakeover:
		return DeflateParams{}, "server_no_context_takeover was offered and not answered (RFC 7692 §7.1.1.1)"
	case o.ServerMaxWindowBits != 0 && a.ServerMaxWindowBits == 0:
		return DeflateParams{}, "server_max_window_bits was offered and not answered (RFC 7692 §7.1.2.1)"
	case o.ServerMaxWindowBits != 0 && a.ServerMaxWindowBits > o.ServerMaxWindowBits:
		return DeflateParams{}, "server_max_window_bits=" + strconv.Itoa(int(a.ServerMaxWindowBits)) +
			" above the offered " + strconv.Itoa(int(o.ServerMaxWindowBits)) + " (RFC 7692 §7.1.2.1)"
	case o.ClientMaxWindowBits == 0 && a.ClientMaxWindowBits != 0:
		return DeflateParams{}, "client_max_window_bits was not offered (RFC 7692 §7.1.2.2)"
	case o.ClientMaxWindowBits != OfferNoValue && a.ClientMaxWindowBits > o.ClientMaxWindowBits:
		return DeflateParams{}, "client_max_window_bits=" + strconv.Itoa(int(a.ClientMaxWindowBits)) +
			" above the offered " + strconv.Itoa(int(o.ClientMaxWindowBits)) + " (RFC 7692 §7.1.2.2)"
	}
	p := DeflateParams{
		ServerNoContextTakeover: a.ServerNoContextTakeover,
		// The client keeps its own hint (§7.1.1.2) even when unanswered.
		ClientNoContextTakeover: a.ClientNoContextTakeover || o.ClientNoContextTakeover,
		ServerMaxWindowBits:     a.ServerMaxWindowBits,
		ClientMaxWindowBits:     a.ClientMaxWindowBits,
	}
	if p.ClientMaxWindowBits == 0 && o.ClientMaxWindowBits != OfferNoValue {
		p.ClientMaxWindowBits = o.ClientMaxWindowBits // the client's own bound
	}
	return p, ""
}

func badExtension(why string, value []byte) error {
	return errors.Join(ErrBadExtension, errors.New(why+" in "+quote(value)))
}

// ParseDeflateOffers reads the permessage-deflate offers of a
// Sec-WebSocket-Extensions value (as a client sends it), skipping other
// extensions and offers that are not valid: for a client given its offer
// as text, to check the answer against (ParseDeflateResponse).
func ParseDeflateOffers(value string) []DeflateOffer {
	var out []DeflateOffer
	eachExtension([]byte(value), func(e []byte) bool {
		if string(trimOWS(extensionName(e))) == DeflateExtension {
			if o, why, _ := parseDeflate(e, true); why == "" {
				out = append(out, o)
			}
		}
		return true
	})
	return out
}
