package auth

import (
	"bytes"
	"net/http"
	"net/url"
)

// MaxTokenLen bounds a token's length. Real tokens are a few hundred bytes;
// anything longer is refused before any base64, JSON or signature work, so
// that a client cannot make the server decode megabytes per handshake
// (RFC 8725 §3.10 asks for sane input limits). It matches wsd's -max-head
// default, and the status is 431 like an oversized request head.
const MaxTokenLen = 8 << 10

func tooLong() *Error {
	return &Error{Status: http.StatusRequestHeaderFieldsTooLarge, Reason: ReasonTooLong}
}

// TokenFrom finds the token of a WebSocket handshake: in the query
// (?token=T, percent-decoded; browsers cannot set headers on a WebSocket)
// or in the Authorization header as "Bearer T" (RFC 6750 §2.1; the scheme is
// case-insensitive, RFC 7235 §2.1).
//
// When both carry a token the request is refused with 400 "more than one
// token", as is a query with token= twice: RFC 6750 §2 says a client MUST
// NOT use more than one method, and its §3.1 answers that with
// invalid_request, 400. Refusing is safer than picking one: a proxy or page
// that adds its own credential would otherwise decide silently whose
// identity the connection gets.
//
// Without a token the answer is 401 "no token"; the caller adds
// "WWW-Authenticate: Bearer" (RFC 6750 §3). An Authorization header with
// another scheme (Basic, say) is not ours and counts as absent. A token
// longer than MaxTokenLen is 431 "token too long".
func TokenFrom(rawQuery []byte, authorization []byte) (string, *Error) {
	tok, err := TokenBytes(rawQuery, authorization)
	return string(tok), err
}

// TokenBytes is TokenFrom without a copy, for Check: the token is a view
// of rawQuery or authorization, unless the query's value had to be
// percent-decoded (a token is base64url and periods, which need no
// escaping, so clients do not escape it).
func TokenBytes(rawQuery []byte, authorization []byte) ([]byte, *Error) {
	q, qerr := queryToken(rawQuery)
	if qerr != nil {
		return nil, qerr
	}
	h, herr := bearerToken(authorization)
	if herr != nil {
		return nil, herr
	}
	switch {
	case q != nil && h != nil:
		return nil, &Error{Status: http.StatusBadRequest, Reason: ReasonTwoTokens}
	case q != nil:
		return q, nil
	case h != nil:
		return h, nil
	}
	return nil, unauthorized(ReasonNoToken, nil)
}

// queryToken returns the decoded value of the one token= parameter, nil if
// there is none or it is empty.
func queryToken(rawQuery []byte) ([]byte, *Error) {
	var found []byte
	seen := false
	for rest := rawQuery; len(rest) > 0; {
		var pair []byte
		pair, rest, _ = bytes.Cut(rest, []byte("&"))
		name, value, _ := bytes.Cut(pair, []byte("="))
		if string(name) != "token" {
			continue
		}
		if seen {
			return nil, &Error{Status: http.StatusBadRequest, Reason: ReasonTwoTokens}
		}
		seen = true
		// Percent-encoding shrinks at most 3 to 1: a longer raw value cannot
		// decode to an acceptable token, so refuse it without decoding.
		if len(value) > 3*MaxTokenLen {
			return nil, tooLong()
		}
		if bytes.IndexByte(value, '%') < 0 && bytes.IndexByte(value, '+') < 0 {
			if len(value) > MaxTokenLen {
				return nil, tooLong()
			}
			found = value
			continue
		}
		s, err := url.QueryUnescape(string(value))
		if err != nil {
			return nil, unauthorized(ReasonMalformed, err)
		}
		if len(s) > MaxTokenLen {
			return nil, tooLong()
		}
		found = []byte(s)
	}
	if len(found) == 0 {
		return nil, nil
	}
	return found, nil
}

// bearerToken returns the token of "Bearer T", nil for another scheme or an
// empty token.
func bearerToken(h []byte) ([]byte, *Error) {
	h = bytes.TrimSpace(h)
	const scheme = "bearer"
	if len(h) <= len(scheme) || !bytes.EqualFold(h[:len(scheme)], []byte(scheme)) || (h[len(scheme)] != ' ' && h[len(scheme)] != '\t') {
		return nil, nil
	}
	tok := bytes.TrimSpace(h[len(scheme):])
	if len(tok) > MaxTokenLen {
		return nil, tooLong()
	}
	if len(tok) == 0 {
		return nil, nil
	}
	return tok, nil
}
