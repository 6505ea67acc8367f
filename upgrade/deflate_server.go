package upgrade

// NegotiateDeflate picks the first acceptable permessage-deflate offer of
// the request, over every Sec-WebSocket-Extensions line in order (one line
// may hold several offers), and returns the configuration to answer with
// (AppendDeflateResponse) and to apply; false: answer no extension.
//
// An offer with an unknown or repeated parameter or an invalid value is
// declined and the next one considered (RFC 7692 §7.1). Offers of other
// extensions are skipped. It does not allocate.
//
// It walks the lines itself rather than through Extensions, whose
// comma split does not know quoted-strings: a comma inside a quoted value
// of another extension must not start a new offer.
func (r *Request) NegotiateDeflate(p DeflatePolicy) (DeflateParams, bool) {
	if p.Mode != DeflateOn && p.Mode != DeflateTakeover || r.Extension == nil {
		return DeflateParams{}, false
	}
	var out DeflateParams
	found := false
	r.eachField("Sec-WebSocket-Extensions", func(line []byte) bool {
		return eachExtension(line, func(e []byte) bool {
			o, why, _ := parseDeflate(e, true)
			if why != "" {
				return true
			}
			out, found = answerDeflate(o, p), true
			return false
		})
	})
	return out, found
}

// answerDeflate is the server's answer to an acceptable offer o under
// policy p. It never names what the offer does not allow: the client fails
// the connection on client_max_window_bits it did not offer (§7.1.2.2), on
// a server_max_window_bits above the one it offered, and on a missing
// server_no_context_takeover it offered (§7.1.1.1, §7.1.2.1).
func answerDeflate(o DeflateOffer, p DeflatePolicy) DeflateParams {
	var a DeflateParams
	if p.Mode == DeflateOn {
		// Neither side keeps a window between messages: the server by its
		// own choice (§7.1.1.1), the client because the server may ask it to
		// (§7.1.1.2) even when it did not offer client_no_context_takeover.
		a.ServerNoContextTakeover = true
		a.ClientNoContextTakeover = true
		// An offered server_max_window_bits must be answered with the same
		// or a smaller value (§7.1.2.1); the server then compresses within
		// that window (deflate.Compressor.CompressWindow).
		a.ServerMaxWindowBits = o.ServerMaxWindowBits
		return a
	}

	w := p.windowBits()

	// The server's direction: context takeover unless the client asked for
	// none, which the server must then grant (§7.1.1.1). The window is W, or
	// the smaller one the client asked for. Without takeover and without the
	// client's asking, the window is left at 15: it then bounds only the
	// look-back inside one message, which costs no memory between messages.
	a.ServerNoContextTakeover = o.ServerNoContextTakeover
	switch {
	case o.ServerMaxWindowBits != 0:
		a.ServerMaxWindowBits = min(w, o.ServerMaxWindowBits)
	case !a.ServerNoContextTakeover:
		// A server may name server_max_window_bits even when the offer did
		// not (§7.1.2.1): the client then needs no more than 2^W bytes to
		// inflate, and the server keeps no more than 2^W of what it sent.
		a.ServerMaxWindowBits = w
	}

	// The client's direction: the server can bound what it must keep of the
	// client's messages only through client_max_window_bits, which it may
	// name only when the client offered it (§7.1.2.2). Otherwise it asks for
	// no context takeover (§7.1.1.2), which is always allowed.
	switch {
	case o.ClientNoContextTakeover:
		// The client will not take over anyway (its hint, §7.1.1.2): saying
		// so lets the server keep nothing.
		a.ClientNoContextTakeover = true
	case o.ClientMaxWindowBits == 0:
		a.ClientNoContextTakeover = true
	default:
		// zlib cannot compress a raw DEFLATE stream with an 8-bit window:
		// since zlib 1.2.9 deflateInit2 refuses windowBits 8 for raw streams
		// (Python's zlib.compressobj(wbits=-8) raises "Invalid initialization
		// option", so Python's websockets fails the connection), and Node
		// silently uses 9 instead. So W=8 asks clients for 9 (512 bytes kept)
		// unless the client itself offered 8.
		cw := max(w, 9)
		if o.ClientMaxWindowBits != OfferNoValue {
			cw = min(cw, o.ClientMaxWindowBits)
		}
		a.ClientMaxWindowBits = cw
	}
	return a
}

// AppendDeflateResponse appends the Sec-WebSocket-Extensions value that
// answers with p, as "permessage-deflate; server_no_context_takeover;
// client_no_context_takeover; server_max_window_bits=10;
// client_max_window_bits=10" (each parameter only when set). Window values
// outside 8..15 are clamped.
func AppendDeflateResponse(dst []byte, p DeflateParams) []byte {
	dst = append(dst, DeflateExtension...)
	if p.ServerNoContextTakeover {
		dst = append(dst, "; server_no_context_takeover"...)
	}
	if p.ClientNoContextTakeover {
		dst = append(dst, "; client_no_context_takeover"...)
	}
	if p.ServerMaxWindowBits != 0 {
		dst = append(dst, "; server_max_window_bits="...)
		dst = appendWindowBits(dst, p.ServerMaxWindowBits)
	}
	if p.ClientMaxWindowBits != 0 {
		dst = append(dst, "; client_max_window_bits="...)
		dst = appendWindowBits(dst, p.ClientMaxWindowBits)
	}
	return dst
}

func appendWindowBits(dst []byte, b uint8) []byte {
	b = min(max(b, 8), 15)
	if b >= 10 {
		return append(dst, '1', '0'+b-10)
	}
	return append(dst, '0'+b)
}
