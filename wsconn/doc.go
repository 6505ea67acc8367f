// Package wsconn turns sockets into WebSocket connections: it runs the
// server side of RFC 6455 on the poller's event loops. Bytes read from a
// socket go through the opening handshake (package upgrade, routed by path),
// then through the frame reader (package frame) to a Handler as whole
// messages; control frames are answered between fragments; the close
// handshake of §7 ends the connection. Conn.Send writes frames from any
// goroutine, queueing what the socket does not take at once, up to a cap.
//
// A connection costs one small struct: no goroutine, no net.Conn, no buffer
// while idle. Read buffers belong to the loops; a connection borrows one
// only while it holds a partial message.
//
// With Options.TLS the same loops speak TLS 1.2 and 1.3: crypto/tls does
// the handshakes (each in a goroutine that lives only while it is in
// flight), then package tlsrec runs a TLS 1.3 connection's records on its
// loop; see tls.go.
package wsconn
