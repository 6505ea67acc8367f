package testserver

import (
	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/wsconn"
)

// Corrupter is a bad echo server's handler, one per connection: it echoes
// each message, except that it flips the last byte of echo 1 and sends
// echoes 3 and 4 in swapped order — three wrong echoes per connection (1,
// and 4 and 3 each out of place). For tests of clients that check echoes.
type Corrupter struct {
	n    int
	held []byte
}

func (*Corrupter) OnOpen(*wsconn.Conn)                           {}
func (*Corrupter) OnClose(*wsconn.Conn, frame.CloseCode, string) {}
func (h *Corrupter) OnMessage(c *wsconn.Conn, op frame.Opcode, p []byte) {
	n := h.n
	h.n++
	switch n {
	case 1:
		q := append([]byte(nil), p...)
		q[len(q)-1] ^= 1
		c.Send(op, q)
	case 3:
		h.held = append([]byte(nil), p...) // sent after the next one
	case 4:
		c.Send(op, p)
		c.Send(op, h.held)
	default:
		c.Send(op, p)
	}
}
