package wsconn

import (
	"encoding/binary"
	"unsafe"
)

// Context takeover windows (RFC 7692 §7.1.1, §7.2.3.2). A connection that
// keeps context in a direction keeps that direction's last bytes between
// messages, and nothing else: both windows and their lengths share one
// allocation of exactly 2^recvBits + 2^sendBits bytes (a size class of the
// allocator for every bits value), found by fd in the engine's windows
// table — a pointer per fd that only takeover connections fill, not a
// field of Conn or of its extra that every connection would carry.
//
//	[ recv window: 2^recvBits | send window: 2^sendBits - 4 | recv len: 2 | send len: 2 ]
//
// The received window is whole: the peer may refer 2^recvBits bytes back.
// Ours is 4 bytes short of 2^sendBits, which only means our compressor
// never refers that far. A direction without context has no window (the
// lengths' 4 bytes stay). The loop alone reads and writes the received
// window and its length; the send side is under Conn.mu: disjoint bytes.

const winLens = 4 // the two lengths at the end

// windowSizes returns the two regions' sizes from the connection's flags.
func windowSizes(f uint32) (recv, send int) {
	if f&fRecvCtx != 0 {
		recv = 1 << (8 + f/fRecvBits0&7)
	}
	if f&fSendCtx != 0 {
		send = 1<<(8+f/fSendBits0&7) - winLens
	}
	return recv, send
}

// makeWindows allocates a new connection's windows (before it is handed
// to anyone).
func (c *Conn) makeWindows() {
	recv, send := windowSizes(c.flags.Load())
	b := make([]byte, recv+send+winLens)
	c.l.e.wins.Store(int(c.fd), &b[0])
}

// windows returns the connection's windows, nil once it has ended.
func (c *Conn) windows() []byte {
	p := c.l.e.wins.Load(int(c.fd))
	if p == nil {
		return nil
	}
	recv, send := windowSizes(c.flags.Load())
	return unsafe.Slice(p, recv+send+winLens)
}

// recvWindow is what the peer's next message may refer to: the last
// bytes we inflated (loop goroutine).
func recvWindow(w []byte, f uint32) []byte {
	recv, send := windowSizes(f)
	n := binary.LittleEndian.Uint16(w[recv+send:])
	return w[:n:recv]
}

// sendWindow is what our next message may refer to (under Conn.mu).
func sendWindow(w []byte, f uint32) []byte {
	recv, send := windowSizes(f)
	n := binary.LittleEndian.Uint16(w[recv+send+2:])
	return w[recv : recv+int(n) : recv+send]
}

// keepRecv and keepSent add a message to a window: its region keeps
// the last bytes, in place.
func keepRecv(w []byte, f uint32, data []byte) {
	recv, send := windowSizes(f)
	n := len(appendTail(recvWindow(w, f), data))
	binary.LittleEndian.PutUint16(w[recv+send:], uint16(n))
}

func keepSentIn(w []byte, f uint32, data []byte) {
	recv, send := windowSizes(f)
	n := len(appendTail(sendWindow(w, f), data))
	binary.LittleEndian.PutUint16(w[recv+send+2:], uint16(n))
}

// appendTail appends data to window, keeping its last cap(window) bytes,
// in place: it never allocates.
func appendTail(window, data []byte) []byte {
	size := cap(window)
	if len(data) >= size {
		return append(window[:0], data[len(data)-size:]...)
	}
	if keep := size - len(data); len(window) > keep {
		window = window[:copy(window, window[len(window)-keep:])]
	}
	return append(window, data...)
}
