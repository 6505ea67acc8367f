package upgrade

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strconv"
)

// NewKey returns a fresh Sec-WebSocket-Key: base64 of 16 random bytes
// (RFC 6455 §4.1, item 7).
func NewKey() [24]byte {
	var nonce [16]byte
	rand.Read(nonce[:]) // never fails (crypto/rand, Go 1.24+)
	var k [24]byte
	base64.StdEncoding.Encode(k[:], nonce[:])
	return k
}

// ClientRequest describes a handshake request (RFC 6455 §4.1).
type ClientRequest struct {
	Host       string // Host header: host[:port]
	URI        string // request-target, "/" if empty
	Key        []byte // from NewKey
	Origin     string // optional
	Protocols  string // optional, comma-separated offer
	Extensions string // optional Sec-WebSocket-Extensions offer (AppendDeflateOffer)
	Header     string // optional extra header lines, CRLF-separated, no final CRLF
}

// AppendRequest appends the GET request of the opening handshake.
func AppendRequest(dst []byte, c ClientRequest) []byte {
	uri := c.URI
	if uri == "" {
		uri = "/"
	}
	dst = append(dst, "GET "...)
	dst = append(dst, uri...)
	dst = append(dst, " HTTP/1.1\r\nHost: "...)
	dst = append(dst, c.Host...)
	dst = append(dst, "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: "...)
	dst = append(dst, c.Key...)
	dst = append(dst, "\r\nSec-WebSocket-Version: 13\r\n"...)
	if c.Origin != "" {
		dst = append(dst, "Origin: "...)
		dst = append(dst, c.Origin...)
		dst = append(dst, "\r\n"...)
	}
	if c.Protocols != "" {
		dst = append(dst, "Sec-WebSocket-Protocol: "...)
		dst = append(dst, c.Protocols...)
		dst = append(dst, "\r\n"...)
	}
	if c.Extensions != "" {
		dst = append(dst, "Sec-WebSocket-Extensions: "...)
		dst = append(dst, c.Extensions...)
		dst = append(dst, "\r\n"...)
	}
	if c.Header != "" {
		dst = append(dst, c.Header...)
		dst = append(dst, "\r\n"...)
	}
	return append(dst, "\r\n"...)
}

// Response is a parsed HTTP response head; fields slice the parsed buffer.
type Response struct {
	Head       []byte
	Status     int
	Upgrade    []byte
	Connection []byte
	Accept     []byte
	Protocol   []byte
	Extension  []byte // the first Sec-WebSocket-Extensions line
	// ExtensionLines counts the Sec-WebSocket-Extensions lines: a client
	// that negotiates one extension must refuse an answer with several.
	ExtensionLines int

	upgradeWS, connUpgrade bool
}

// Errors of the client side, for counting failures by cause.
var (
	ErrBadStatus  = errors.New("upgrade: server did not answer 101")
	ErrBadAccept  = errors.New("upgrade: Sec-WebSocket-Accept does not match the key")
	ErrBadUpgrade = errors.New("upgrade: 101 without Upgrade: websocket and Connection: Upgrade")
	ErrBadHead    = errors.New("upgrade: malformed response head")
)

// ParseResponse parses the response head at the start of b, returning its
// length or ErrIncomplete while it has not fully arrived.
func ParseResponse(b []byte, maxHead int) (Response, int, error) {
	var r Response
	if maxHead <= 0 {
		maxHead = DefaultMaxHead
	}
	in := b[:min(len(b), maxHead)]
	if k := min(len(in), 5); string(in[:k]) != "HTTP/"[:k] {
		// Known at the first byte that differs, however the bytes arrive.
		return r, 0, errors.Join(ErrBadHead, errors.New("not an HTTP response: "+quote(in)))
	}
	eol := bytes.IndexByte(in, '\n')
	if eol < 0 {
		return r, 0, incompleteResponse(b, maxHead)
	}
	line := in[:eol+1]
	st, ok := statusLine(line)
	if !ok {
		return r, 0, errors.Join(ErrBadHead, errors.New("malformed status line "+quote(line)))
	}
	r.Status = st
	l := lines{rest: in[eol+1:]}
	for l.next() {
		switch {
		case equalFold(l.name, "Upgrade"):
			r.Upgrade = l.value
			r.upgradeWS = r.upgradeWS || hasToken(l.value, "websocket")
		case equalFold(l.name, "Connection"):
			r.Connection = l.value
			r.connUpgrade = r.connUpgrade || hasToken(l.value, "Upgrade")
		case equalFold(l.name, "Sec-WebSocket-Accept"):
			r.Accept = l.value
		case equalFold(l.name, "Sec-WebSocket-Protocol"):
			r.Protocol = l.value
		case equalFold(l.name, "Sec-WebSocket-Extensions"):
			if r.ExtensionLines == 0 {
				r.Extension = l.value
			}
			r.ExtensionLines++
		}
	}
	switch {
	case l.err != nil:
		return r, 0, errors.Join(ErrBadHead, l.err)
	case !l.done:
		return r, 0, incompleteResponse(b, maxHead)
	}
	n := len(in) - len(l.rest)
	r.Head = b[:n]
	return r, n, nil
}

func incompleteResponse(b []byte, maxHead int) error {
	if len(b) >= maxHead {
		return errors.Join(ErrBadHead, errors.New("response head over "+strconv.Itoa(maxHead)+" bytes"))
	}
	return ErrIncomplete
}

// statusLine reads "HTTP/d.d SP ddd [SP reason] CRLF" (RFC 9112 §4): the
// version's two digits and a three-digit status in 100..599.
func statusLine(line []byte) (int, bool) {
	digit := func(c byte) bool { return c >= '0' && c <= '9' }
	if len(line) < 14 || line[len(line)-2] != '\r' || !digit(line[5]) || line[6] != '.' || !digit(line[7]) ||
		line[8] != ' ' || !digit(line[9]) || !digit(line[10]) || !digit(line[11]) || (len(line) > 14 && line[12] != ' ') {
		return 0, false
	}
	st := int(line[9]-'0')*100 + int(line[10]-'0')*10 + int(line[11]-'0')
	return st, st >= 100 && st <= 599
}

// Check verifies the server's answer to a request made with key
// (RFC 6455 §4.1, the client's checks of the response).
func (r *Response) Check(key []byte) error {
	if err := r.CheckAccept(key); err != nil {
		return err
	}
	if r.Extension != nil {
		return errors.Join(ErrBadExtension, errors.New("server answered extensions that were not offered: "+quote(r.Extension)))
	}
	return nil
}

// CheckAccept is Check without the rule on extensions, for a client that
// offered some and checks the answer to its offer itself
// (ParseDeflateResponse).
func (r *Response) CheckAccept(key []byte) error {
	if r.Status != 101 {
		return errors.Join(ErrBadStatus, errors.New("status "+strconv.Itoa(r.Status)))
	}
	if !r.upgradeWS || !r.connUpgrade {
		return ErrBadUpgrade
	}
	want := Accept(key)
	if string(r.Accept) != string(want[:]) {
		return errors.Join(ErrBadAccept, errors.New("got "+quote(r.Accept)+", want "+string(want[:])))
	}
	return nil
}
