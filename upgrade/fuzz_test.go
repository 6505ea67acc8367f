package upgrade

import (
	"bytes"
	"errors"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// FuzzParse: no panic; a head is either incomplete, rejected with a status,
// or parsed within the input; every prefix of a parsed head is incomplete
// or rejected, never parsed differently.
func FuzzParse(f *testing.F) {
	f.Add([]byte(good))
	f.Add([]byte("GET / HTTP/1.1\r\nHost: h\r\n\r\n"))
	f.Add([]byte("POST /publish/u HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"))
	f.Add([]byte("\x16\x03\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		req, n, err := Parse(b, 512)
		switch {
		case err == ErrIncomplete:
			if n != 0 {
				t.Fatal("incomplete with n > 0")
			}
		case err != nil:
			if err.Status != 400 && err.Status != 431 {
				t.Fatalf("status %d", err.Status)
			}
		default:
			if n > len(b) || n > 512 || len(req.Head) != n {
				t.Fatalf("n=%d len=%d", n, len(b))
			}
			if verr := req.Validate(); verr != nil && verr.Status/100 != 4 {
				t.Fatalf("validation error with status %d: %v", verr.Status, verr)
			}
			req.Protocols(func([]byte) bool { return true })
			_ = req.Header("Cookie")
			if n > 0 {
				if _, _, err := Parse(b[:n-1], 512); err == nil {
					t.Fatal("a prefix of the head parsed as a whole head")
				}
			}
		}
	})
}

// FuzzParseResponse checks the client's response parser on arbitrary bytes:
//
//   - an error consumes nothing; ErrIncomplete only below the size limit;
//     any other error is ErrBadHead and stays the same error whatever
//     follows (the bytes that caused it are already there);
//   - a parsed head is b[:n], no more than the input or the limit, and ends
//     with the blank line CRLF CRLF; its status is three digits, 100..599;
//   - every shorter prefix of a parsed head is ErrIncomplete, and bytes
//     after the head change nothing: the same fields, the same n;
//   - Check accepts only a 101 with the right accept key and no extensions;
//   - the 101 AppendResponse writes for the input taken as a key parses
//     whole and passes Check with that key (FuzzWrittenResponseParses
//     covers subprotocols and AppendHTTP).
func FuzzParseResponse(f *testing.F) {
	f.Add([]byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 404 Not Found\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n\x81\x05hello"))
	f.Add([]byte("HTTP/1.1 101 x\r\nupgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 200 OK\r\nX-Long: " + strings.Repeat("a", 600)))
	f.Add([]byte("HTTP/1.1 -12 x\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 +99\r\n\r\n"))
	const maxHead = 512
	key := []byte("dGhlIHNhbXBsZSBub25jZQ==")
	f.Fuzz(func(t *testing.T, b []byte) {
		// The package's own 101 for a key made of these bytes parses whole
		// and passes Check with that key.
		own := AppendResponse(nil, b, "")
		ro, no, erro := ParseResponse(own, 0)
		if erro != nil || no != len(own) || ro.Check(b) != nil {
			t.Fatalf("our 101 for key %q: n=%d of %d, %v, Check: %v", b, no, len(own), erro, ro.Check(b))
		}

		r, n, err := ParseResponse(b, maxHead)
		tail := []byte("\r\n\r\nHTTP/1.1 200 OK\r\n\r\n\x81\x00")
		if err != nil {
			if n != 0 {
				t.Fatalf("error %v with n=%d", err, n)
			}
			if err == ErrIncomplete {
				if len(b) >= maxHead {
					t.Fatalf("incomplete at %d bytes, limit %d", len(b), maxHead)
				}
			} else {
				if !errors.Is(err, ErrBadHead) {
					t.Fatalf("error not ErrBadHead: %v", err)
				}
				_, n2, err2 := ParseResponse(append(b[:len(b):len(b)], tail...), maxHead)
				// (Below 5 bytes "HTTP/" is not checked yet: another
				// reason may come first then.)
				if !errors.Is(err2, ErrBadHead) || (len(b) >= 5 && kind(err2) != kind(err)) || n2 != 0 {
					t.Fatalf("bytes after a bad head changed the outcome: %v, then %d, %v", err, n2, err2)
				}
			}
			return
		}
		if n <= 0 || n > len(b) || n > maxHead {
			t.Fatalf("n=%d for %d bytes, limit %d", n, len(b), maxHead)
		}
		if len(r.Head) != n || &r.Head[0] != &b[0] {
			t.Fatalf("Head is not b[:n] (len %d, n %d)", len(r.Head), n)
		}
		if !bytes.HasSuffix(r.Head, []byte("\r\n\r\n")) || !bytes.HasPrefix(r.Head, []byte("HTTP/")) {
			t.Fatalf("head %q does not start with HTTP/ and end with CRLF CRLF", r.Head)
		}
		// status-code = 3DIGIT (RFC 9112 §4), in 100..599 (RFC 9110 §15).
		if r.Status < 100 || r.Status > 599 || strconv.Itoa(r.Status) != string(b[9:12]) {
			t.Fatalf("status %d from status line %q", r.Status, bytes.SplitN(b, []byte("\n"), 2)[0])
		}
		for k := range n {
			if _, nk, errk := ParseResponse(b[:k], maxHead); errk != ErrIncomplete || nk != 0 {
				t.Fatalf("prefix of %d of a %d-byte head: n=%d, %v; want ErrIncomplete", k, n, nk, errk)
			}
		}
		for _, more := range [][]byte{b[:n], append(b[:len(b):len(b)], tail...), append(b[:n:n], b...)} {
			r2, n2, err2 := ParseResponse(more, maxHead)
			if err2 != nil || n2 != n || !reflect.DeepEqual(r, r2) {
				t.Fatalf("%q parsed as %+v, %d, %v; with %q after the head: %+v, %d, %v", b[:n], r, n, err, more[n:], r2, n2, err2)
			}
		}
		if r.Check(key) == nil {
			want := Accept(key)
			if r.Status != 101 || string(r.Accept) != string(want[:]) || r.Extension != nil {
				t.Fatalf("Check accepted status %d, accept %q, extensions %q", r.Status, r.Accept, r.Extension)
			}
		}
	})
}

// kind is an error's message without the quoted input it may end with.
func kind(err error) string {
	s, _, _ := strings.Cut(err.Error(), `"`)
	return s
}

// FuzzWrittenResponseParses: what this package writes, it parses. The 101
// of AppendResponse for any key and any token subprotocol parses up to
// the frame behind it, passes Check with its key and with no other, and
// gives the subprotocol back; an AppendHTTP response parses with its
// status, its head ending where its body begins.
func FuzzWrittenResponseParses(f *testing.F) {
	f.Add([]byte("dGhlIHNhbXBsZSBub25jZQ=="), "chat", uint16(404), []byte("nope"))
	f.Add([]byte{}, "", uint16(101), []byte{})
	f.Add([]byte("\r\n\r\n"), "v2.chat, x", uint16(599), []byte("HTTP/1.1 101\r\n\r\n"))
	f.Fuzz(func(t *testing.T, key []byte, proto string, status uint16, body []byte) {
		// A subprotocol is a token (RFC 6455 §4.1): keep the input's token
		// characters.
		p := []byte(proto)
		p = slices.DeleteFunc(p, func(c byte) bool { return !tokenChar[c] })
		if len(p) > 200 {
			p = p[:200]
		}
		resp := AppendResponse([]byte("junk before"), key, string(p))[len("junk before"):]
		resp = append(resp, "\x81\x02hi"...) // a frame right behind the head
		r, n, err := ParseResponse(resp, 0)
		if err != nil || n != len(resp)-4 {
			t.Fatalf("our 101 %q: n=%d of %d, %v", resp, n, len(resp)-4, err)
		}
		if err := r.Check(key); err != nil {
			t.Fatalf("our 101 for key %q fails Check: %v", key, err)
		}
		if string(r.Protocol) != string(p) || (len(p) == 0) != (r.Protocol == nil) {
			t.Fatalf("subprotocol %q came back as %q", p, r.Protocol)
		}
		if r.Extension != nil {
			t.Fatalf("extensions %q in our 101", r.Extension)
		}
		if other := append(slices.Clone(key), 'x'); r.Check(other) == nil {
			t.Fatalf("the 101 for key %q passes Check with key %q", key, other)
		}

		st := 100 + int(status)%500
		e := AppendHTTP(nil, st, "text/plain", "X-Extra: 1", body)
		r, n, err = ParseResponse(e, 0)
		if err != nil || r.Status != st || n != len(e)-len(body) {
			t.Fatalf("our %d response %q: status %d, n=%d of %d, %v", st, e, r.Status, n, len(e)-len(body), err)
		}
		if st != 101 && !errors.Is(r.Check(key), ErrBadStatus) {
			t.Fatalf("Check of a %d: %v", st, r.Check(key))
		}
	})
}
