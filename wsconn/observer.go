package wsconn

import "github.com/wsd-dev/wsd/frame"

// Observer sees a connection's bytes as they cross the wire, for dumps
// that teach the protocol (package trace implements it; cmd/wsd wires it
// through Options.Observe). Its methods run with the connection's lock
// held, in wire order per direction: they must not block or call back
// into the connection, and must copy what they keep.
type Observer interface {
	// Received is given bytes read from the peer before they are parsed
	// (a client's frames still masked, as on the wire).
	Received(b []byte)
	// Sent is given the bytes of each head and frame as they are written
	// or queued.
	Sent(b []byte)
	// End reports how the connection ended.
	End(reason string)
}

// observeHeader shows an Observer a frame header. It encodes its own copy:
// handing the sender's stack array to an interface call would move that
// array to the heap on every send, observed or not.
func observeHeader(obs Observer, h frame.Header) {
	var hb [frame.MaxHeaderSize]byte
	obs.Sent(hb[:h.Encode(hb[:])])
}

// observeCopy shows an Observer bytes the caller may have on its stack: a
// copy, so that Send's payload does not escape for connections that are
// not observed.
func observeCopy(obs Observer, b []byte) {
	obs.Sent(append([]byte(nil), b...))
}
