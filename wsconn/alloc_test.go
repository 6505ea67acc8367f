package wsconn

import (
	"io"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/internal/wstest"
)

// The per-message path — read, parse, unmask, validate, handler, echo
// write — allocates nothing, in the server or in this raw client.
func TestEchoPathAllocatesNothing(t *testing.T) {
	s, _ := startEcho(t, nil)
	c, err := wstest.Dial(s.Addr().String(), "/echo", "")
	require.NoError(t, err)
	defer c.Close()
	msg := wstest.Masked(true, frame.OpText, []byte("hello, 发送数据, a message of modest size"))
	want := 2 + len(msg) - 6 // server frame: 2-byte header, unmasked
	buf := make([]byte, want)
	roundTrip := func() {
		if _, err := c.Conn.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c.Conn, buf); err != nil {
			t.Fatal(err)
		}
	}
	roundTrip()
	assert.Zero(t, testing.AllocsPerRun(200, roundTrip))
}

type nopHandler struct{}

func (nopHandler) OnOpen(*Conn)                           {}
func (nopHandler) OnMessage(*Conn, frame.Opcode, []byte)  {}
func (nopHandler) OnClose(*Conn, frame.CloseCode, string) {}

// Send and SendPrepared from another goroutine allocate nothing while the
// socket takes the bytes.
func TestSendAllocatesNothing(t *testing.T) {
	s, _ := startEcho(t, nil)
	c, err := wstest.Dial(s.Addr().String(), "/echo", "")
	require.NoError(t, err)
	defer c.Close()
	go io.Copy(io.Discard, c.Conn.(*net.TCPConn))
	conn := serverConn(t, s)
	payload := []byte("notification payload")
	p := Prepare(frame.OpText, payload)
	assert.Zero(t, testing.AllocsPerRun(500, func() { conn.Send(frame.OpText, payload) }), "Send")
	assert.Zero(t, testing.AllocsPerRun(500, func() { conn.SendPrepared(p) }), "SendPrepared")
	assert.Zero(t, testing.AllocsPerRun(500, func() { sendFromStack(conn, `{"type":"hello","user":"u1","seq":0}`) }),
		"Send must not make its payload escape: a caller's stack buffer would become garbage per message")
}

// sendFromStack sends a message built on the stack, as the hub sends its
// hello: nothing is allocated unless Send lets the buffer escape.
func sendFromStack(c *Conn, msg string) {
	var buf [256]byte
	c.Send(frame.OpText, append(buf[:0], msg...))
}

func TestBudget(t *testing.T) {
	b := &budget{max: 64 << 10}
	x := b.Get(5000)
	require.NotNil(t, x)
	assert.Equal(t, 8192, cap(x), "rounded to its class")
	assert.Equal(t, int64(8192), b.held.Load())
	assert.Nil(t, b.Get(60000), "over the cap")
	b.Put(x)
	assert.Zero(t, b.held.Load())
	y := b.Get(8000)
	assert.Same(t, &x[:1][0], &y[:1][0], "the buffer is reused")
	b.Put(y)
	big := b.Get(20 << 20) // beyond the classes: not pooled
	assert.Nil(t, big, "over this budget's cap")
	b.max = 64 << 20
	big = b.Get(20 << 20)
	require.NotNil(t, big)
	b.Put(big)
	assert.Zero(t, b.held.Load())
	assert.LessOrEqual(t, b.pooled.Load(), int64(maxPooled))
}
