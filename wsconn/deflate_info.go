package wsconn

import (
	"maps"
	"sync"
	"sync/atomic"
)

// What a client's handshakes agreed, for a load generator's report: the
// Sec-WebSocket-Extensions answers (RFC 6455 §9.1, RFC 7692 §5) of the
// connections that opened, by their text, and the bytes of the heads both
// ways, so that a byte count can tell frames from handshakes. Kept per
// client, not per connection: an idle Conn stays at 64 bytes.

// NoExtension is the key ExtensionAnswers counts connections under whose
// 101 answered no Sec-WebSocket-Extensions.
const NoExtension = "none"

// handshakeTally is a Client's count of its handshakes' answers and heads.
type handshakeTally struct {
	mu      sync.Mutex
	answers map[string]int64
	headIn  atomic.Int64 // response heads read
	headOut atomic.Int64 // request heads written
}

// requestSent counts a request head written.
func (t *handshakeTally) requestSent(n int) { t.headOut.Add(int64(n)) }

// answered counts a response head of n bytes, and its extension answer
// when the connection opens with it (nil: none).
func (t *handshakeTally) answered(n int, ext []byte, opened bool) {
	t.headIn.Add(int64(n))
	if !opened {
		return
	}
	key := NoExtension
	if ext != nil {
		key = string(ext)
	}
	t.mu.Lock()
	if t.answers == nil {
		t.answers = map[string]int64{}
	}
	t.answers[key]++
	t.mu.Unlock()
}

// ExtensionAnswers returns, for the connections that opened so far, how
// many opened with each Sec-WebSocket-Extensions answer, by its text as
// the server wrote it; NoExtension counts those answered without one.
func (cl *Client) ExtensionAnswers() map[string]int64 {
	cl.tally.mu.Lock()
	defer cl.tally.mu.Unlock()
	out := maps.Clone(cl.tally.answers)
	if out == nil {
		out = map[string]int64{}
	}
	return out
}

// HandshakeBytes returns the bytes of the response heads read and of the
// request heads written so far: Stats' BytesIn and BytesOut less these are
// the bytes of frames (and of anything a refusing server sent after its
// head).
func (cl *Client) HandshakeBytes() (in, out int64) {
	return cl.tally.headIn.Load(), cl.tally.headOut.Load()
}
