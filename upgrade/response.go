package upgrade

import (
	"crypto/sha1"
	"encoding/base64"
	"strconv"

	"github.com/wsd-dev/wsd/internal/jsonw"
)

// GUID is the fixed string of RFC 6455 §1.3 that the accept key mixes in.
const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// AcceptLen is the length of a Sec-WebSocket-Accept value.
const AcceptLen = 28

// Accept computes Sec-WebSocket-Accept for a key (RFC 6455 §4.2.2):
// base64(SHA-1(key + GUID)), on the stack.
func Accept(key []byte) [AcceptLen]byte {
	var buf [64]byte // keys are 24 bytes; longer ones are hashed all the same
	in := append(buf[:0], key...)
	in = append(in, GUID...)
	sum := sha1.Sum(in)
	var out [AcceptLen]byte
	base64.StdEncoding.Encode(out[:], sum[:])
	return out
}

// AppendResponse appends the 101 Switching Protocols response for a valid
// request, with Sec-WebSocket-Protocol when protocol is not empty (it must
// be one the client offered, §4.2.2), and no extension (§9.1 lets a server
// ignore an offer).
func AppendResponse(dst []byte, key []byte, protocol string) []byte {
	return AppendResponseExt(dst, key, protocol, nil)
}

// AppendResponseExt is AppendResponse with a Sec-WebSocket-Extensions
// answer when extensions is not empty (AppendDeflateResponse).
func AppendResponseExt(dst []byte, key []byte, protocol string, extensions []byte) []byte {
	acc := Accept(key)
	dst = append(dst, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "...)
	dst = append(dst, acc[:]...)
	if protocol != "" {
		dst = append(dst, "\r\nSec-WebSocket-Protocol: "...)
		dst = append(dst, protocol...)
	}
	if len(extensions) > 0 {
		dst = append(dst, "\r\nSec-WebSocket-Extensions: "...)
		dst = append(dst, extensions...)
	}
	return append(dst, "\r\n\r\n"...)
}

// AppendError appends a complete HTTP error response that closes the
// connection, with a one-line JSON body naming the reason:
// {"error":"…"}, as every error wsd answers.
func AppendError(dst []byte, e *Error) []byte {
	body := append(jsonw.AppendString(append(make([]byte, 0, len(e.Msg)+16), `{"error":`...), e.Msg), "}\n"...)
	return AppendHTTP(dst, e.Status, "application/json; charset=utf-8", e.Header, body)
}

// AppendHTTP appends a complete HTTP/1.1 response that closes the
// connection. extra is zero or more header lines separated by CRLF,
// without a final CRLF.
func AppendHTTP(dst []byte, status int, contentType, extra string, body []byte) []byte {
	dst = append(dst, "HTTP/1.1 "...)
	dst = strconv.AppendInt(dst, int64(status), 10)
	dst = append(dst, ' ')
	dst = append(dst, StatusText(status)...)
	dst = append(dst, "\r\nContent-Type: "...)
	dst = append(dst, contentType...)
	dst = append(dst, "\r\nContent-Length: "...)
	dst = strconv.AppendInt(dst, int64(len(body)), 10)
	dst = append(dst, "\r\nConnection: close\r\n"...)
	if extra != "" {
		dst = append(dst, extra...)
		dst = append(dst, "\r\n"...)
	}
	dst = append(dst, "\r\n"...)
	return append(dst, body...)
}
