package wsconn

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/internal/testkit"
	"github.com/wsd-dev/wsd/upgrade"
	"golang.org/x/sys/unix"
)

// clientEvents records what a dialed connection hears, on channels.
type clientEvents struct {
	open   chan *Conn
	msgs   chan []byte
	closed chan frame.CloseCode
	local  chan bool
	failed chan error
}

func newClientEvents() *clientEvents {
	return &clientEvents{open: make(chan *Conn, 1), msgs: make(chan []byte, 16), closed: make(chan frame.CloseCode, 1),
		local: make(chan bool, 1), failed: make(chan error, 1)}
}

func (h *clientEvents) OnOpen(c *Conn) { h.open <- c }
func (h *clientEvents) OnMessage(c *Conn, op frame.Opcode, p []byte) {
	h.msgs <- append([]byte{byte(op)}, p...)
}
func (h *clientEvents) OnClose(c *Conn, code frame.CloseCode, _ string) {
	h.local <- c.ClosedLocally()
	h.closed <- code
}
func (h *clientEvents) OnConnect(*Conn) upgrade.ClientRequest {
	return upgrade.ClientRequest{Host: "wsd.test", URI: "/echo"}
}
func (h *clientEvents) OnDialError(_ *Conn, err error) { h.failed <- err }

func newTestClient(t *testing.T) *Client {
	t.Helper()
	cl, err := NewClient(Options{Loops: 2})
	require.NoError(t, err)
	t.Cleanup(func() { cl.Close(time.Second) })
	return cl
}

func recv[T any](t *testing.T, ch chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		t.Fatal("nothing arrived within 5s")
		panic("unreachable")
	}
}

// The client role of the core against the server role: masked frames out
// (large ones masked in chunks without touching the caller's bytes),
// echoes in, our Close answered, each side reporting the close it saw.
func TestClientEchoAndClose(t *testing.T) {
	s, rec := startEcho(t, nil)
	cl := newTestClient(t)
	h := newClientEvents()
	_, err := cl.Dial(Target{Addr: s.Addr(), Handler: h})
	require.NoError(t, err)
	c := recv(t, h.open)
	assert.True(t, c.IsClient())

	big := bytes.Repeat([]byte("0123456789abcdef"), 7000) // 112,000 bytes: several mask chunks
	orig := append([]byte(nil), big...)
	require.NoError(t, c.Send(frame.OpText, []byte("hello")))
	require.NoError(t, c.Send(frame.OpBinary, big))
	assert.Equal(t, orig, big, "the caller's bytes are not masked in place")
	assert.Equal(t, append([]byte{byte(frame.OpText)}, "hello"...), recv(t, h.msgs))
	assert.Equal(t, append([]byte{byte(frame.OpBinary)}, big...), recv(t, h.msgs))
	p := Prepare(frame.OpText, []byte("prepared"))
	require.NoError(t, c.SendPrepared(p))
	assert.Equal(t, append([]byte{byte(frame.OpText)}, "prepared"...), recv(t, h.msgs), "a prepared frame is masked for a client")

	c.Close(frame.CloseNormal, "done")
	assert.Equal(t, frame.CloseNormal, recv(t, h.closed))
	assert.True(t, recv(t, h.local), "this side closed")
	eventually(t, 3*time.Second, func() bool { return len(rec.list()) == 1 }, "the server saw no close")
	assert.Equal(t, []frame.CloseCode{frame.CloseNormal}, rec.list())
}

// closer is a server handler that closes every connection with 4000.
type closer struct{}

func (closer) OnOpen(c *Conn)                         { c.Close(4000, "go away") }
func (closer) OnMessage(*Conn, frame.Opcode, []byte)  {}
func (closer) OnClose(*Conn, frame.CloseCode, string) {}

// A Close from the server is answered, and reported as the peer's.
func TestClientServerCloses(t *testing.T) {
	s := startWith(t, nil, Routes{Upgrade: func(*Conn, *upgrade.Request) (Handler, *upgrade.Error) { return closer{}, nil }})
	cl := newTestClient(t)
	h := newClientEvents()
	_, err := cl.Dial(Target{Addr: s.Addr(), Handler: h})
	require.NoError(t, err)
	recv(t, h.open)
	assert.Equal(t, frame.CloseCode(4000), recv(t, h.closed))
	assert.False(t, recv(t, h.local), "the server closed")
}

// A failed dial says at which stage and why, for each way it can fail.
func TestClientDialErrors(t *testing.T) {
	s, _ := startEcho(t, nil)
	refused := testkit.RefusedAddr(t)
	// A server that accepts and never answers.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { silent.Close() })
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(io.Discard, c); c.Close() }()
		}
	}()

	cl, err := NewClient(Options{HandshakeTimeout: 300 * time.Millisecond})
	require.NoError(t, err)
	t.Cleanup(func() { cl.Close(time.Second) })
	for _, tc := range []struct {
		name   string
		target Target
		stage  string
		is     error
	}{
		{"refused", Target{Addr: refused}, "connect", unix.ECONNREFUSED},
		{"no such endpoint", Target{Addr: s.Addr(), URI: "/nowhere"}, "handshake", upgrade.ErrBadStatus},
		{"silent server", Target{Addr: netip.MustParseAddrPort(silent.Addr().String())}, "handshake", ErrTimeout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &plainEvents{closed: make(chan string, 1)}
			tc.target.Handler = h
			_, err := cl.Dial(tc.target)
			require.NoError(t, err)
			reason := recv(t, h.closed)
			assert.Contains(t, reason, tc.stage, "a plain Handler hears the failure as OnClose")

			d := newClientEvents()
			dh := &pathEvents{clientEvents: d, uri: tc.target.URI}
			tc.target.Handler = dh
			_, err = cl.Dial(tc.target)
			require.NoError(t, err)
			derr := recv(t, d.failed)
			var de *DialError
			require.True(t, errors.As(derr, &de), "%v", derr)
			assert.Equal(t, tc.stage, de.Stage)
			assert.ErrorIs(t, derr, tc.is)
		})
	}
}

// pathEvents is clientEvents asking for a given path.
type pathEvents struct {
	*clientEvents
	uri string
}

func (p *pathEvents) OnConnect(*Conn) upgrade.ClientRequest {
	return upgrade.ClientRequest{Host: "wsd.test", URI: p.uri}
}

// plainEvents is a Handler that is not a DialHandler.
type plainEvents struct{ closed chan string }

func (*plainEvents) OnOpen(*Conn)                          {}
func (*plainEvents) OnMessage(*Conn, frame.Opcode, []byte) {}
func (h *plainEvents) OnClose(_ *Conn, code frame.CloseCode, reason string) {
	h.closed <- code.String() + " " + reason
}

// A client's Send masks through a pooled buffer: nothing is allocated per
// message, from any goroutine.
func TestClientSendAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates on its own; make test runs the allocation tests without it")
	}
	s, _ := startEcho(t, nil)
	cl := newTestClient(t)
	h := &discardEvents{clientEvents: newClientEvents()}
	_, err := cl.Dial(Target{Addr: s.Addr(), Handler: h})
	require.NoError(t, err)
	c := recv(t, h.open)
	payload := []byte("a notification of modest size")
	assert.Zero(t, testing.AllocsPerRun(200, func() { c.Send(frame.OpText, payload) }))
	eventually(t, 5*time.Second, func() bool { return h.n.Load() == 201 }, "echoes: %d of 201", h.n.Load())
}

// discardEvents counts messages instead of keeping them (keeping
// allocates).
type discardEvents struct {
	*clientEvents
	n atomic.Int64
}

func (h *discardEvents) OnMessage(*Conn, frame.Opcode, []byte) { h.n.Add(1) }
