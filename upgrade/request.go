package upgrade

import (
	"bytes"
	"encoding/base64"
	"strconv"
)

// Request is a parsed HTTP/1.1 request head. Every []byte field is a slice
// of the buffer given to Parse (zero-copy): it is valid as long as that
// buffer is.
type Request struct {
	Head       []byte // the whole head, up to and including the blank line
	Method     []byte
	URI        []byte // request-target as sent
	Path       []byte // URI up to '?'
	Query      []byte // after '?', without it
	ProtoMajor int
	ProtoMinor int

	Host       []byte
	Upgrade    []byte
	Connection []byte
	Key        []byte // Sec-WebSocket-Key
	Version    []byte // Sec-WebSocket-Version
	Origin     []byte
	Protocol   []byte // first Sec-WebSocket-Protocol line; see Protocols
	Extension  []byte // first Sec-WebSocket-Extensions line; see Extensions

	upgradeWS   bool // some Upgrade line lists "websocket"
	connUpgrade bool // some Connection line lists "Upgrade"
	dup         string
}

// Parse parses the request head at the start of b. It returns the number of
// bytes the head took (the rest of b, if any, is the next protocol's data),
// ErrIncomplete while the head has not fully arrived, or an *Error with the
// status to answer: 400 for a malformed head, 431 once maxHead bytes
// (DefaultMaxHead if 0) arrive without its end. A request line that is
// already malformed fails at once, without waiting for the rest.
//
// Parse checks syntax only; Validate checks the WebSocket rules.
func Parse(b []byte, maxHead int) (Request, int, *Error) {
	var r Request
	if maxHead <= 0 {
		maxHead = DefaultMaxHead
	}
	in := b[:min(len(b), maxHead)]
	eol := bytes.IndexByte(in, '\n')
	if eol < 0 {
		return r, 0, incomplete(b, maxHead, checkPrefix(in))
	}
	if e := r.parseRequestLine(in[:eol+1]); e != nil {
		return r, 0, e
	}
	l := lines{rest: in[eol+1:]}
	for l.next() {
		r.field(l.name, l.value)
	}
	switch {
	case l.err != nil:
		return r, 0, l.err
	case !l.done:
		return r, 0, incomplete(b, maxHead, ErrIncomplete)
	}
	n := len(in) - len(l.rest)
	r.Head = b[:n]
	return r, n, nil
}

// incomplete turns a head that has not ended yet into 431 once maxHead
// bytes of it have arrived.
func incomplete(b []byte, maxHead int, err *Error) *Error {
	if err == ErrIncomplete && len(b) >= maxHead {
		return errorf(431, "request head over "+strconv.Itoa(maxHead)+" bytes")
	}
	return err
}

// checkPrefix fails a head early when what has arrived of its request line
// cannot start a valid one (garbage, a TLS hello, a binary protocol).
func checkPrefix(b []byte) *Error {
	// Before the first space only a method token may come.
	sp := bytes.IndexByte(b, ' ')
	m := b
	if sp >= 0 {
		m = b[:sp]
	}
	for _, c := range m {
		if !tokenChar[c] {
			return errorf(400, "not an HTTP request: "+quote(b))
		}
	}
	if sp == 0 {
		return errorf(400, "not an HTTP request: "+quote(b))
	}
	return ErrIncomplete
}

// parseRequestLine parses "METHOD SP target SP HTTP/d.d CRLF".
func (r *Request) parseRequestLine(line []byte) *Error {
	if len(line) < 2 || line[len(line)-2] != '\r' {
		return errorf(400, "request line not ended by CRLF")
	}
	line = line[:len(line)-2]
	sp1 := bytes.IndexByte(line, ' ')
	sp2 := bytes.LastIndexByte(line, ' ')
	if sp1 <= 0 || sp2 <= sp1+1 {
		return errorf(400, "malformed request line "+quote(line))
	}
	r.Method, r.URI = line[:sp1], line[sp1+1:sp2]
	proto := line[sp2+1:]
	if !isToken(r.Method) {
		return errorf(400, "malformed method "+quote(r.Method))
	}
	for _, c := range r.URI {
		if c <= ' ' || c == 0x7F {
			return errorf(400, "malformed request target "+quote(r.URI))
		}
	}
	if len(proto) != 8 || string(proto[:5]) != "HTTP/" || proto[6] != '.' ||
		proto[5] < '0' || proto[5] > '9' || proto[7] < '0' || proto[7] > '9' {
		return errorf(400, "malformed HTTP version "+quote(proto))
	}
	r.ProtoMajor, r.ProtoMinor = int(proto[5]-'0'), int(proto[7]-'0')
	r.Path = r.URI
	if q := bytes.IndexByte(r.URI, '?'); q >= 0 {
		r.Path, r.Query = r.URI[:q], r.URI[q+1:]
	}
	return nil
}

// field records the header fields the handshake needs.
func (r *Request) field(name, value []byte) {
	set := func(dst *[]byte, canon string) {
		if *dst != nil && r.dup == "" {
			r.dup = canon
		}
		*dst = value
	}
	switch len(name) {
	case 4:
		if equalFold(name, "Host") {
			set(&r.Host, "Host")
		}
	case 6:
		if equalFold(name, "Origin") {
			set(&r.Origin, "Origin")
		}
	case 7:
		if equalFold(name, "Upgrade") {
			r.Upgrade = value
			r.upgradeWS = r.upgradeWS || hasToken(value, "websocket")
		}
	case 10:
		if equalFold(name, "Connection") {
			r.Connection = value
			r.connUpgrade = r.connUpgrade || hasToken(value, "Upgrade")
		}
	case 17:
		if equalFold(name, "Sec-WebSocket-Key") {
			set(&r.Key, "Sec-WebSocket-Key")
		}
	case 21:
		if equalFold(name, "Sec-WebSocket-Version") {
			set(&r.Version, "Sec-WebSocket-Version")
		}
	case 22:
		if equalFold(name, "Sec-WebSocket-Protocol") && r.Protocol == nil {
			r.Protocol = value
		}
	case 24:
		if equalFold(name, "Sec-WebSocket-Extensions") && r.Extension == nil {
			r.Extension = value
		}
	}
}

// IsUpgrade reports whether the request asks for a WebSocket upgrade at
// all (an Upgrade header listing "websocket"). A server routes the others
// to plain HTTP.
func (r *Request) IsUpgrade() bool { return r.upgradeWS }

// Validate checks the request against RFC 6455 §4.2.1 and returns an
// *Error with the status to answer: 405 for a method other than GET, 426
// for a Sec-WebSocket-Version other than 13 (the response then carries
// "Sec-WebSocket-Version: 13", §4.4), 400 for the rest.
func (r *Request) Validate() *Error {
	switch {
	case string(r.Method) != "GET":
		e := errorf(405, "method "+quote(r.Method)+" not allowed: the WebSocket handshake is a GET (RFC 6455 §4.2.1)")
		e.Header = "Allow: GET"
		return e
	case r.ProtoMajor < 1 || r.ProtoMajor == 1 && r.ProtoMinor < 1:
		return errorf(400, "HTTP/1.1 or later required (RFC 6455 §4.2.1)")
	case r.dup != "":
		return errorf(400, "duplicate "+r.dup+" header")
	case r.Host == nil:
		return errorf(400, "missing Host header (RFC 6455 §4.2.1)")
	case r.Upgrade == nil:
		e := errorf(426, "this is a WebSocket endpoint: send Upgrade: websocket (RFC 6455 §4.2.1)")
		e.Header = "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13"
		return e
	case !r.upgradeWS:
		return errorf(400, "Upgrade header "+quote(r.Upgrade)+" does not list websocket (RFC 6455 §4.2.1)")
	case !r.connUpgrade:
		return errorf(400, "Connection header "+quote(r.Connection)+" does not list Upgrade (RFC 6455 §4.2.1)")
	case r.Key == nil:
		return errorf(400, "missing Sec-WebSocket-Key header (RFC 6455 §4.2.1)")
	case !validKey(r.Key):
		return errorf(400, "Sec-WebSocket-Key "+quote(r.Key)+" is not base64 of 16 bytes (RFC 6455 §4.2.1)")
	case r.Version == nil:
		return errorf(400, "missing Sec-WebSocket-Version header (RFC 6455 §4.2.1)")
	case string(r.Version) != "13":
		e := errorf(426, "Sec-WebSocket-Version "+quote(r.Version)+" not supported: use 13 (RFC 6455 §4.4)")
		e.Header = "Sec-WebSocket-Version: 13"
		return e
	}
	return nil
}

// validKey reports whether k is base64 of exactly 16 bytes: 24 characters
// ending in "==".
func validKey(k []byte) bool {
	if len(k) != 24 || k[22] != '=' || k[23] != '=' {
		return false
	}
	var dst [18]byte
	n, err := base64.StdEncoding.Decode(dst[:], k)
	return err == nil && n == 16
}

// Header returns the value of the first header field with the given name
// (case-insensitive), or nil. It scans the head: fine for the occasional
// lookup (Cookie, Authorization); the handshake's own fields are parsed
// into the Request already.
func (r *Request) Header(name string) []byte {
	var v []byte
	r.eachField(name, func(b []byte) bool {
		v = b
		return false
	})
	return v
}

// Protocols calls fn for each subprotocol the client offers, over every
// Sec-WebSocket-Protocol line, in order, until fn returns false.
func (r *Request) Protocols(fn func(p []byte) bool) {
	if r.Protocol == nil {
		return
	}
	r.eachField("Sec-WebSocket-Protocol", func(v []byte) bool { return eachToken(v, fn) })
}

// Extensions calls fn for each extension offer (with its parameters, as
// "permessage-deflate; client_max_window_bits") until fn returns false.
func (r *Request) Extensions(fn func(e []byte) bool) {
	if r.Extension == nil {
		return
	}
	r.eachField("Sec-WebSocket-Extensions", func(v []byte) bool { return eachToken(v, fn) })
}

// SelectProtocol returns the first subprotocol offered by the client that
// the server supports, or "" (no Sec-WebSocket-Protocol in the answer).
func (r *Request) SelectProtocol(supported []string) string {
	var chosen string
	r.Protocols(func(p []byte) bool {
		for _, s := range supported {
			if string(p) == s {
				chosen = s
				return false
			}
		}
		return true
	})
	return chosen
}

func (r *Request) eachField(name string, fn func([]byte) bool) {
	eol := bytes.IndexByte(r.Head, '\n')
	if eol < 0 {
		return
	}
	l := lines{rest: r.Head[eol+1:]}
	for l.next() {
		if equalFold(l.name, name) && !fn(l.value) {
			return
		}
	}
}
