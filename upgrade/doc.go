// Package upgrade implements the RFC 6455 §4 opening handshake as pure byte
// code: an incremental, zero-copy HTTP/1.1 request-head parser, the §4.2.1
// checks with the HTTP status each failure deserves, the Sec-WebSocket-Accept
// key, the 101 and error responses, and the client side (request with a
// fresh key, response check). It opens no sockets.
package upgrade
