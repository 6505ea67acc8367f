package wsconn

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/internal/wstest"
)

// An idle connection is one 64-byte object (the hub's per-user figure in
// bench/README is built on it): the reader's state, TLS and the queue live
// elsewhere.
func TestAnIdleConnectionIsSixtyFourBytes(t *testing.T) {
	assert.LessOrEqual(t, unsafe.Sizeof(Conn{}), uintptr(64), "a field added to Conn costs every idle connection; put what only some need in extra")
}

// recorder keeps the messages of its connections in order.
type recorder struct{ got []string }

func (r *recorder) OnOpen(*Conn) {}
func (r *recorder) OnMessage(c *Conn, _ frame.Opcode, p []byte) {
	r.got = append(r.got, string(p))
}
func (r *recorder) OnClose(*Conn, frame.CloseCode, string) {}

// readLoop is a loop for parsing in the test's goroutine: nothing else
// reads on it.
func readLoop() *loop {
	l := &loop{e: &engine{role: frame.RoleServer}}
	l.e.budget.max = 1 << 20
	l.e.limits = frame.Limits{MaxMessage: 1 << 20, Buffers: &l.e.budget} // as engine.init makes them
	l.rd.Limits = &l.e.limits
	return l
}

func openConn(l *loop, h Handler) *Conn {
	return &Conn{l: l, h: h, state: stOpen, fd: -1}
}

// Two connections on one loop whose frames, headers and fragmented
// messages are split over reads, the reads interleaved: each keeps its own
// partial state while the loop's reader parses the other.
func TestSplitReadsOfConnectionsOnOneLoopStayApart(t *testing.T) {
	l := readLoop()
	ra, rb := &recorder{}, &recorder{}
	a, b := openConn(l, ra), openConn(l, rb)
	fa := wstest.Masked(true, frame.OpText, []byte("first message of a"))
	fb := wstest.Masked(true, frame.OpBinary, []byte("b's message"))
	frag1 := wstest.Masked(false, frame.OpText, []byte("fragmented "))
	frag2 := wstest.Masked(true, frame.OpContinuation, []byte("message of a"))
	fb2 := wstest.Masked(true, frame.OpText, []byte("b again"))

	a.frames(fa[:7]) // header and one payload byte
	b.frames(fb[:3]) // a header split in its middle
	assert.Empty(t, ra.got)
	assert.Empty(t, rb.got)
	a.frames(append(append([]byte{}, fa[7:]...), frag1...)) // a's frame ends; a fragmented message begins
	b.frames(fb[3:10])
	assert.Equal(t, []string{"first message of a"}, ra.got)
	b.frames(append(append([]byte{}, fb[10:]...), fb2[:1]...))
	assert.Equal(t, []string{"b's message"}, rb.got)
	a.frames(frag2[:8])
	b.frames(fb2[1:])
	a.frames(frag2[8:])
	assert.Equal(t, []string{"first message of a", "fragmented message of a"}, ra.got)
	assert.Equal(t, []string{"b's message", "b again"}, rb.got)
	assert.Empty(t, l.split, "an idle connection keeps no reader")
	for _, c := range []*Conn{a, b} {
		assert.Zero(t, c.flags.Load()&fSplit)
		assert.Nil(t, c.x.Load())
	}
	assert.Nil(t, l.rdConn)
	assert.NotEmpty(t, l.spare, "the readers went back to the loop")
	assert.Zero(t, l.e.budget.held.Load(), "every buffer lent for a partial message came back")
}

// A connection whose read ends inside a frame, and then fails, gives its
// reader back; the next connection starts clean.
func TestAFailedConnectionLeavesNoReaderBehind(t *testing.T) {
	l := readLoop()
	ra, rb := &recorder{}, &recorder{}
	a, b := openConn(l, ra), openConn(l, rb)
	fa := wstest.Masked(true, frame.OpText, []byte("never finished"))
	a.frames(fa[:4])
	require.NotNil(t, l.split[a], "the loop keeps a's partial frame")
	a.dropReader() // what failWith and end do
	assert.Zero(t, a.flags.Load()&fSplit)
	assert.Empty(t, l.split)
	fb := wstest.Masked(true, frame.OpText, []byte("clean"))
	b.frames(fb)
	assert.Equal(t, []string{"clean"}, rb.got)
	assert.Empty(t, ra.got)
	assert.Zero(t, l.e.budget.held.Load(), "a's partial message gave its buffer back")
}

// A message split over reads costs no allocation once the loop has a
// spare reader: the reader moves to the connection and back.
func TestSplitReadsAllocateNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates on its own; make test runs the allocation tests without it")
	}
	l := readLoop()
	c := openConn(l, nopHandler{})
	orig := wstest.Masked(true, frame.OpText, []byte("a message that arrives in two reads"))
	buf := make([]byte, len(orig))
	split := func() {
		copy(buf, orig) // parsing unmasks in place
		c.frames(buf[:9])
		c.frames(buf[9:])
	}
	split()
	assert.Empty(t, l.split)
	assert.Zero(t, testing.AllocsPerRun(200, split))
}

// messagesOf turns data into binary messages of one or more frames, every
// choice (lengths, where a message ends) taken from data itself.
func messagesOf(data []byte) (wire []byte, msgs []string) {
	var msg []byte
	first := true
	for len(data) > 0 {
		n := min(1+int(data[0]%23), len(data))
		p, fin := data[:n], data[0]&1 == 1 || n == len(data)
		data = data[n:]
		op := frame.OpContinuation
		if first {
			op = frame.OpBinary
		}
		wire = append(wire, wstest.Masked(fin, op, p)...)
		msg, first = append(msg, p...), fin
		if fin {
			msgs, msg = append(msgs, string(msg)), nil
		}
	}
	return wire, msgs
}

// Two connections on one loop, their streams cut at arbitrary points and
// the pieces interleaved, get exactly the messages of their own streams.
func FuzzSplitReadsOnOneLoop(f *testing.F) {
	f.Add([]byte("hello, two connections on one loop"), []byte{3, 1, 7, 2, 9, 0, 40})
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, []byte{1})
	f.Fuzz(func(t *testing.T, data, cuts []byte) {
		if len(cuts) == 0 {
			cuts = []byte{0}
		}
		l := readLoop()
		ra, rb := &recorder{}, &recorder{}
		a, b := openConn(l, ra), openConn(l, rb)
		wa, wantA := messagesOf(data)
		rev := make([]byte, len(data))
		for i, x := range data {
			rev[len(data)-1-i] = x ^ 0x55
		}
		wb, wantB := messagesOf(rev)
		for i := 0; len(wa) > 0 || len(wb) > 0; i++ {
			n := 1 + int(cuts[i%len(cuts)]%41)
			c, w := a, &wa
			if i%2 == 1 {
				c, w = b, &wb
			}
			n = min(n, len(*w))
			if n > 0 {
				c.frames((*w)[:n])
				*w = (*w)[n:]
			}
		}
		require.Equal(t, wantA, ra.got)
		require.Equal(t, wantB, rb.got)
		require.Empty(t, l.split)
	})
}
