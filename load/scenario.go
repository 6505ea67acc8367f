package load

import (
	"bytes"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsd-dev/wsd/frame"
)

// Hold keeps connections open and idle; the engine answers pings.
type Hold struct{}

func (Hold) Open(*Conn)                          {}
func (Hold) Message(*Conn, frame.Opcode, []byte) {}
func (Hold) Tick(*Loop, time.Duration)           {}

// Churn closes each connection Hold after it opened (a normal close
// handshake), for connect/close cycles; the dialer opens new ones.
type Churn struct {
	Hold time.Duration
}

func (s Churn) Open(c *Conn) { c.Next = c.e.Now() + s.Hold }

func (Churn) Message(*Conn, frame.Opcode, []byte) {}

func (Churn) Tick(l *Loop, now time.Duration) {
	l.EachOpen(func(c *Conn) {
		if c.Next <= now {
			c.close(frame.CloseNormal)
		}
	})
}

// Echo sends messages on every connection and verifies each echo byte for
// byte, recording the round-trip latency.
//
// Closed loop (Rate 0): each connection keeps Window messages in flight.
// Rate mode: each connection sends Rate messages per second on a schedule;
// latency is measured from the scheduled time, not the actual send, so a
// server that stalls is charged for the messages it delayed (no coordinated
// omission). Window still bounds messages in flight.
type Echo struct {
	Size    int     // message size, at least 32 (fields are written as hex text)
	PerConn int64   // messages per connection; 0: until Stop
	Window  int64   // messages in flight per connection [1]
	Rate    float64 // messages per second per connection; 0: closed loop
	Binary  bool    // binary frames instead of text
	// JSON sends JSON objects (the fields as hex strings, then orders and
	// a note made from the sequence number: AppendJSONTail) instead of
	// letters in a pattern, which compress far better than real messages.
	JSON bool

	sent, recv, bytes, bad, done atomic.Int64
	stopped                      atomic.Bool
	firstBad                     atomic.Pointer[string]

	tailsOnce sync.Once
	tails     [jsonTails][]byte // JSON: the bodies after the head, by sequence number mod jsonTails
}

// MinEchoSize is the smallest Echo message: timestamp, connection, sequence.
const MinEchoSize = 32

// MinJSONEchoSize is the smallest JSON Echo message.
const MinJSONEchoSize = len(jsonEchoHead) + MinJSONTail

// Where the fields are: letters put them first; JSON in string members of
// jsonEchoHead, its other bytes fixed.
type echoLayout struct{ ts, conn, seq, body int }

const (
	jsonEchoHead = `{"ts":"0000000000000000","conn":"00000000","seq":"00000000"`
	jsonTails    = 16 // distinct JSON bodies, taken in turn
)

var (
	lettersLayout = echoLayout{ts: 0, conn: 16, seq: 24, body: 32}
	jsonLayout    = echoLayout{ts: 7, conn: 33, seq: 50, body: len(jsonEchoHead)}
)

func (s *Echo) layout() echoLayout {
	if s.JSON {
		return jsonLayout
	}
	return lettersLayout
}

// size is the message size, at least the layout's smallest.
func (s *Echo) size() int {
	if s.JSON {
		return max(s.Size, MinJSONEchoSize)
	}
	return max(s.Size, MinEchoSize)
}

// jsonTail is the JSON body of message seq, made once per Echo.
func (s *Echo) jsonTail(seq int64) []byte {
	s.tailsOnce.Do(func() {
		for k := range s.tails {
			s.tails[k] = AppendJSONTail(nil, s.size()-len(jsonEchoHead), uint64(k))
		}
	})
	return s.tails[seq%jsonTails]
}

// EchoStats are an Echo's counters.
type EchoStats struct {
	Sent, Received, Bytes, Mismatched, ConnsDone int64
	FirstMismatch                                string
}

// Stats returns the counters.
func (s *Echo) Stats() EchoStats {
	st := EchoStats{Sent: s.sent.Load(), Received: s.recv.Load(), Bytes: s.bytes.Load(), Mismatched: s.bad.Load(), ConnsDone: s.done.Load()}
	if p := s.firstBad.Load(); p != nil {
		st.FirstMismatch = *p
	}
	return st
}

// Stop stops sending new messages.
func (s *Echo) Stop() { s.stopped.Store(true) }

func (s *Echo) window() int64 { return max(s.Window, 1) }

func (s *Echo) Open(c *Conn) {
	if s.Rate > 0 {
		// Spread the connections' schedules over one interval.
		c.Next = c.e.Now() + time.Duration(float64(time.Second)/s.Rate*float64(c.ID%97)/97)
		return
	}
	for c.Sent-c.Recv < s.window() && s.more(c) {
		s.send(c, c.e.Now())
	}
}

func (s *Echo) more(c *Conn) bool {
	return !s.stopped.Load() && (s.PerConn == 0 || c.Sent < s.PerConn)
}

func (s *Echo) Tick(l *Loop, now time.Duration) {
	if s.Rate <= 0 {
		return
	}
	interval := time.Duration(float64(time.Second) / s.Rate)
	l.EachOpen(func(c *Conn) {
		for c.Next <= now && c.Sent-c.Recv < s.window() && s.more(c) {
			s.send(c, c.Next)
			c.Next += interval
		}
	})
}

const hexDigits = "0123456789abcdef"

func putHex(b []byte, v uint64) {
	for i := len(b) - 1; i >= 0; i-- {
		b[i] = hexDigits[v&15]
		v >>= 4
	}
}

func getHex(b []byte) (uint64, bool) {
	var v uint64
	for _, ch := range b {
		switch {
		case ch >= '0' && ch <= '9':
			v = v<<4 | uint64(ch-'0')
		case ch >= 'a' && ch <= 'f':
			v = v<<4 | uint64(ch-'a'+10)
		default:
			return 0, false
		}
	}
	return v, true
}

// send writes message number c.Sent stamped with the time it was due.
// Layout: 16 hex digits of time, 8 of connection id, 8 of sequence, then
// letters that depend on the sequence.
func (s *Echo) send(c *Conn, due time.Duration) {
	l := c.l
	p, _ := l.Data.([]byte)
	size := s.size()
	if cap(p) < size {
		p = make([]byte, size)
		l.Data = p
	}
	p = p[:size]
	lay := s.layout()
	if s.JSON {
		copy(p, jsonEchoHead)
		copy(p[lay.body:], s.jsonTail(c.Sent))
	} else {
		fillPattern(p[lay.body:], c.Sent)
	}
	putHex(p[lay.ts:lay.ts+16], uint64(due))
	putHex(p[lay.conn:lay.conn+8], uint64(uint32(c.ID)))
	putHex(p[lay.seq:lay.seq+8], uint64(c.Sent))
	op := frame.OpText
	if s.Binary {
		op = frame.OpBinary
	}
	c.Send(op, p)
	c.Sent++
	s.sent.Add(1)
}

func fillPattern(b []byte, seq int64) {
	x := byte(seq * 7)
	for i := range b {
		b[i] = 'a' + (x+byte(i))%26
	}
}

func (s *Echo) Message(c *Conn, op frame.Opcode, p []byte) {
	now := c.e.Now()
	if reason := s.check(c, op, p); reason != "" {
		s.mismatch(reason)
	} else {
		ts, _ := getHex(p[s.layout().ts:][:16])
		c.l.Hist.Record(now - time.Duration(ts))
	}
	c.Recv++
	s.recv.Add(1)
	s.bytes.Add(int64(len(p)))
	if s.PerConn > 0 && c.Recv == s.PerConn {
		s.done.Add(1)
	}
	if s.Rate <= 0 && s.more(c) {
		s.send(c, now)
	}
}

// mismatch counts a wrong echo and keeps the first reason: apart from
// Message, whose every call moved its reason to the heap when it stored
// the reason's address itself.
func (s *Echo) mismatch(reason string) {
	if s.bad.Add(1) == 1 {
		s.firstBad.Store(&reason)
	}
}

// check verifies an echo byte for byte; it returns what is wrong, or "".
func (s *Echo) check(c *Conn, op frame.Opcode, p []byte) string {
	wantOp := frame.OpText
	if s.Binary {
		wantOp = frame.OpBinary
	}
	if op != wantOp || len(p) != s.size() {
		return "opcode or length differs"
	}
	lay := s.layout()
	id, ok1 := getHex(p[lay.conn : lay.conn+8])
	seq, ok2 := getHex(p[lay.seq : lay.seq+8])
	if _, ok := getHex(p[lay.ts : lay.ts+16]); !ok || !ok1 || !ok2 || id != uint64(uint32(c.ID)) {
		return "header fields corrupted"
	}
	if int64(seq) != c.Recv {
		return "out of order or missing"
	}
	if s.JSON {
		for _, f := range [...][2]int{{0, lay.ts}, {lay.ts + 16, lay.conn}, {lay.conn + 8, lay.seq}, {lay.seq + 8, lay.body}} {
			if string(p[f[0]:f[1]]) != jsonEchoHead[f[0]:f[1]] {
				return "payload byte differs"
			}
		}
		if !bytes.Equal(p[lay.body:], s.jsonTail(int64(seq))) {
			return "payload byte differs"
		}
		return ""
	}
	x := byte(int64(seq) * 7)
	for i, ch := range p[lay.body:] {
		if ch != 'a'+(x+byte(i))%26 {
			return "payload byte differs"
		}
	}
	return ""
}
