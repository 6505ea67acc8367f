package upgrade

import (
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

func FuzzParseResponse(f *testing.F) {
	f.Add([]byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 404 Not Found\r\n\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, n, err := ParseResponse(b, 512)
		if err == nil {
			if n > len(b) {
				t.Fatal("n past input")
			}
			_ = r.Check([]byte("dGhlIHNhbXBsZSBub25jZQ=="))
		}
	})
}
