package load

import (
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

	sent, recv, bytes, bad, done atomic.Int64
	stopped                      atomic.Bool
	firstBad                     atomic.Pointer[string]
}

// MinEchoSize is the smallest Echo message: timestamp, connection, sequence.
const MinEchoSize = 32

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
	size := max(s.Size, MinEchoSize)
	if cap(p) < size {
		p = make([]byte, size)
		l.Data = p
	}
	p = p[:size]
	putHex(p[0:16], uint64(due))
	putHex(p[16:24], uint64(uint32(c.ID)))
	putHex(p[24:32], uint64(c.Sent))
	fillPattern(p[32:], c.Sent)
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
		ts, _ := getHex(p[0:16])
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
	size := max(s.Size, MinEchoSize)
	if op != wantOp || len(p) != size {
		return "opcode or length differs"
	}
	id, ok1 := getHex(p[16:24])
	seq, ok2 := getHex(p[24:32])
	if _, ok := getHex(p[0:16]); !ok || !ok1 || !ok2 || id != uint64(uint32(c.ID)) {
		return "header fields corrupted"
	}
	if int64(seq) != c.Recv {
		return "out of order or missing"
	}
	x := byte(int64(seq) * 7)
	for i, ch := range p[32:] {
		if ch != 'a'+(x+byte(i))%26 {
			return "payload byte differs"
		}
	}
	return ""
}
