package upgrade

import "errors"

// For tools that show a negotiation rather than take part in it (package
// trace): the elements of an extension list one by one, and why a
// permessage-deflate offer is not acceptable.

// ExtensionElements returns the elements of a Sec-WebSocket-Extensions
// value (an extension-list, RFC 6455 §9.1), trimmed, split at the commas
// that are not inside a quoted-string; empty elements are skipped.
func ExtensionElements(value []byte) [][]byte {
	var out [][]byte
	eachExtension(value, func(e []byte) bool {
		out = append(out, e)
		return true
	})
	return out
}

// ExtensionName returns the extension-token of an element (before its
// first ";").
func ExtensionName(e []byte) []byte { return extensionName(e) }

// ParseDeflateOffer reads one element as a permessage-deflate offer
// (RFC 7692 §7.1). The error says why it is not an acceptable one (an
// unknown or repeated parameter, a bad value, another extension): a server
// must decline such an offer.
func ParseDeflateOffer(e []byte) (DeflateOffer, error) {
	o, why, bad := parseDeflate(e, true)
	if why != "" {
		return o, errors.New(why + ": " + quote(bad))
	}
	return o, nil
}
