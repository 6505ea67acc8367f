package wsconn

import (
	"bytes"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/internal/wstest"
	"github.com/wsd-dev/wsd/upgrade"
)

// wireFrames is an Observer that parses what a server writes and counts
// the messages it sent compressed (RSV1), to see compression on the wire.
type wireFrames struct {
	mu         sync.Mutex
	head       bool // the 101 went by
	rd         frame.Reader
	compressed int
	sizes      []int64 // of the compressed frames, in order
}

func (*wireFrames) Received([]byte) {}
func (w *wireFrames) Sent(b []byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.head {
		w.head = true // the first thing written is the 101
		w.rd = frame.Reader{Role: frame.RoleClient, Rsv: frame.Rsv1}
		return
	}
	for len(b) > 0 {
		c, n, err := w.rd.Next(b)
		b = b[n:]
		if err != nil {
			return
		}
		if c.First && c.Header.Rsv&frame.Rsv1 != 0 {
			w.compressed++
			w.sizes = append(w.sizes, c.Header.Length)
		}
	}
}
func (*wireFrames) End(string) {}

func (w *wireFrames) compressedSent() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.compressed
}

// deflateRaw compresses b as permessage-deflate does (raw DEFLATE, a sync
// flush, its 00 00 ff ff tail cut: RFC 7692 §7.2.1), with the standard
// library (wstest.Deflate): an independent compressor.
func deflateRaw(t testing.TB, b []byte) []byte { return wstest.Deflate(b) }

// deflateBomb is n zero bytes compressed: ~1000 to 1.
func deflateBomb(t testing.TB, n int) []byte { return deflateRaw(t, make([]byte, n)) }

// inflateRaw inflates a permessage-deflate payload with the standard
// library (§7.2.2: the tail put back).
func inflateRaw(t testing.TB, z []byte) []byte {
	out, err := wstest.Inflate(z)
	require.NoError(t, err)
	return out
}

// deflateServer runs /echo with a deflate policy and an observer.
func deflateServer(t *testing.T, p upgrade.DeflatePolicy, mod func(*Options)) (*Server, *wireFrames) {
	t.Helper()
	obs := &wireFrames{}
	s, _ := startEcho(t, func(o *Options) {
		o.Deflate = p
		o.Observe = func(*upgrade.Request, netip.AddrPort, netip.AddrPort) Observer { return obs }
		if mod != nil {
			mod(o)
		}
	})
	return s, obs
}

// Both roles of the core, in both modes: every message comes back as it
// went, compressed on the wire when that shrinks it (not under the minimum
// size, not when incompressible), with context takeover across messages.
func TestDeflateEchoBothModes(t *testing.T) {
	json := []byte(`{"type":"message","seq":7,"unread":3,"data":{"order":42,"item":"tea","qty":2,"note":"` + strings.Repeat("fragrant ", 60) + `"}}`)
	for _, mode := range []upgrade.DeflatePolicy{{Mode: upgrade.DeflateOn}, {Mode: upgrade.DeflateTakeover, WindowBits: 10}} {
		t.Run(mode.Mode.String(), func(t *testing.T) {
			s, obs := deflateServer(t, mode, nil)
			cl, err := NewClient(Options{Loops: 1, Deflate: mode})
			require.NoError(t, err)
			t.Cleanup(func() { cl.Close(time.Second) })
			h := newClientEvents()
			h.msgs = make(chan []byte, 64)
			_, err = cl.Dial(Target{Addr: s.Addr(), Handler: h})
			require.NoError(t, err)
			c := recv(t, h.open)
			require.True(t, c.Compressed(), "negotiated")
			type message struct {
				op frame.Opcode
				p  []byte
			}
			// Random bytes go as binary: any valid UTF-8 text has
			// redundancy a compressor finds.
			msgs := []message{{frame.OpText, json}, {frame.OpText, json}, {frame.OpText, []byte("short")},
				{frame.OpBinary, randomBytes(4096)}, {frame.OpText, bytes.Repeat(json, 200)}, {frame.OpText, json}}
			for _, m := range msgs {
				require.NoError(t, c.Send(m.op, m.p))
			}
			for _, m := range msgs {
				got := recv(t, h.msgs)
				assert.Equal(t, byte(m.op), got[0])
				assert.Equal(t, m.p, got[1:])
			}
			// json ×3 and the long one compress both ways; "short" and
			// the random bytes do not.
			assert.Equal(t, 4, obs.compressedSent(), "frames the server sent with RSV1")
		})
	}
}

// The rules of RFC 7692 against a raw client: RSV1 on a control frame or a
// continuation, or without negotiation, is 1002; data that does not
// inflate is 1007; a message that would inflate past the size limit is
// 1009, with never more than the limit held.
func TestDeflateViolations(t *testing.T) {
	offer := "Sec-WebSocket-Extensions: permessage-deflate"
	bomb := deflateBomb(t, 64<<20)
	for _, tc := range []struct {
		name  string
		mode  upgrade.DeflateMode
		offer string
		send  [][]byte
		code  frame.CloseCode
	}{
		{"RSV1 without negotiation", upgrade.DeflateOff, offer, [][]byte{wstest.MaskedRsv(true, frame.Rsv1, frame.OpText, []byte{0x4a, 0x04, 0x00})}, frame.CloseProtocolError},
		{"RSV1 on a ping", upgrade.DeflateOn, offer, [][]byte{wstest.MaskedRsv(true, frame.Rsv1, frame.OpPing, nil)}, frame.CloseProtocolError},
		{"RSV1 on a continuation", upgrade.DeflateOn, offer, [][]byte{
			wstest.MaskedRsv(false, frame.Rsv1, frame.OpText, []byte{0x4a}),
			wstest.MaskedRsv(true, frame.Rsv1, frame.OpContinuation, []byte{0x04, 0x00})}, frame.CloseProtocolError},
		{"does not inflate", upgrade.DeflateOn, offer, [][]byte{wstest.MaskedRsv(true, frame.Rsv1, frame.OpBinary, []byte{0xff, 0xfe, 0xfd, 0x00})}, frame.CloseInvalidPayload},
		{"inflates to bad UTF-8", upgrade.DeflateOn, offer, [][]byte{wstest.MaskedRsv(true, frame.Rsv1, frame.OpText, deflateRaw(t, []byte{0xff, 0xfe, 'x'}))}, frame.CloseInvalidPayload},
		{"a bomb past the limit", upgrade.DeflateOn, offer, [][]byte{wstest.MaskedRsv(true, frame.Rsv1, frame.OpBinary, bomb)}, frame.CloseMessageTooBig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := deflateServer(t, upgrade.DeflatePolicy{Mode: tc.mode}, func(o *Options) { o.MaxMessage = 1 << 20 })
			c, err := wstest.Dial(s.Addr().String(), "/echo", tc.offer)
			require.NoError(t, err)
			defer c.Close()
			for _, f := range tc.send {
				c.Write(f)
			}
			var code frame.CloseCode
			for {
				f, err := c.ReadFrame(5 * time.Second)
				require.NoError(t, err)
				if f.Header.OpCode == frame.OpClose {
					code, _ = f.Close()
					break
				}
			}
			assert.Equal(t, tc.code, code)
			assert.LessOrEqual(t, s.Stats().MessageMemory, int64(2<<20), "held for messages")
		})
	}
}

// A frame prepared for many connections is compressed once and the same
// compressed bytes go to every connection that negotiated deflate; the
// others get the plain frame.
func TestDeflatePreparedOnce(t *testing.T) {
	s, g, _ := startGroup(t, func(o *Options) { o.Deflate = upgrade.DeflatePolicy{Mode: upgrade.DeflateOn} })
	plain := joinGroup(t, s, 2)
	var deflated []*wstest.Client
	for range 3 {
		c, err := wstest.Dial(s.Addr().String(), "/g", "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits")
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		_, p, err := c.ReadMessage(3 * time.Second)
		require.NoError(t, err)
		require.Equal(t, "in", string(p))
		deflated = append(deflated, c)
	}
	body := bytes.Repeat([]byte(`{"news":"the same for all"}`), 40)
	p := Prepare(frame.OpText, body)
	g.Send(p)
	var wires [][]byte
	for _, c := range deflated {
		f, err := c.ReadFrame(3 * time.Second)
		require.NoError(t, err)
		assert.Equal(t, frame.Rsv1, f.Header.Rsv, "compressed")
		wires = append(wires, f.Payload)
	}
	for _, w := range wires[1:] {
		assert.Equal(t, wires[0], w, "the same compressed bytes for all")
	}
	assert.Less(t, len(wires[0]), len(body)/5)
	assert.Equal(t, body, inflateRaw(t, wires[0]))
	for _, c := range plain {
		f, err := c.ReadFrame(3 * time.Second)
		require.NoError(t, err)
		assert.Zero(t, f.Header.Rsv)
		assert.Equal(t, body, f.Payload)
	}
	made := 0
	for i := range p.z {
		if p.z[i].Load() != nil {
			made++
		}
	}
	assert.Equal(t, 1, made, "one compressed form, for the one window size in use")
}

// groupEcho puts each connection in g; a message asks for payload sent to
// that connection alone (with its own compression context).
type groupEcho struct {
	g       *Group
	payload []byte
}

func (h groupEcho) OnOpen(c *Conn) {
	if err := h.g.Add(c); err != nil {
		c.Close(frame.CloseInternalError, err.Error())
		return
	}
	c.Send(frame.OpText, []byte("in"))
}
func (h groupEcho) OnMessage(c *Conn, _ frame.Opcode, _ []byte) { c.Send(frame.OpText, h.payload) }
func (groupEcho) OnClose(*Conn, frame.CloseCode, string)        {}

// With context takeover a broadcast is still compressed once: the shared
// frame refers to nothing before it, and each connection's window takes
// it in, so the next message sent to one connection alone may refer to
// the broadcast — it comes out a fraction of its size, and a client that
// keeps its context inflates both right.
func TestDeflatePreparedTakeover(t *testing.T) {
	body := []byte(`{"type":"broadcast","data":{"title":"Spring sale","text":"` + strings.Repeat("tea, cups and pots at half price; ", 20) + `"}}`)
	var mu sync.Mutex
	var wires []*wireFrames
	o := Options{Observe: func(*upgrade.Request, netip.AddrPort, netip.AddrPort) Observer {
		w := &wireFrames{}
		mu.Lock()
		wires = append(wires, w)
		mu.Unlock()
		return w
	}}
	var g *Group
	s, cl := startTakeoverPair(t, o, func(s *Server) Handler { g = s.NewGroup(); return groupEcho{g, body} })
	var hs []*clientEvents
	var cs []*Conn
	for range 3 {
		h := newClientEvents()
		_, err := cl.Dial(Target{Addr: s.Addr(), Handler: h})
		require.NoError(t, err)
		c := recv(t, h.open)
		require.True(t, c.Compressed())
		require.Equal(t, "in", string(recv(t, h.msgs)[1:]))
		hs, cs = append(hs, h), append(cs, c)
	}
	p := Prepare(frame.OpText, body)
	require.Equal(t, 3, g.Send(p))
	for i, h := range hs {
		require.Equal(t, string(body), string(recv(t, h.msgs)[1:]), "broadcast to %d", i)
		require.NoError(t, cs[i].Send(frame.OpText, []byte("again")))
		require.Equal(t, string(body), string(recv(t, h.msgs)[1:]), "its own copy, %d", i)
	}
	made := 0
	for i := range p.z {
		if p.z[i].Load() != nil {
			made++
		}
	}
	assert.Equal(t, 1, made, "the broadcast compressed once")
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, wires, 3)
	for i, w := range wires {
		w.mu.Lock()
		require.Len(t, w.sizes, 2, "both compressed, connection %d", i)
		assert.Equal(t, wires[0].sizes[0], w.sizes[0], "the same broadcast frame")
		assert.Less(t, w.sizes[1]*4, w.sizes[0], "the second refers to the first through the window")
		w.mu.Unlock()
	}
}

// With context takeover a slow consumer is closed with 1008 even under
// DropOldest: every compressed frame is in the window the next ones may
// refer to, and a dropped one would corrupt all that follow.
func TestDropOldestWithTakeoverCloses(t *testing.T) {
	const qcap = 128 << 10
	burstDone := make(chan int, 1)
	s := startWith(t, func(o *Options) {
		o.QueueCap, o.DropOldest = qcap, true
		o.Deflate = upgrade.DeflatePolicy{Mode: upgrade.DeflateTakeover, WindowBits: 10}
	}, Routes{Upgrade: func(*Conn, *upgrade.Request) (Handler, *upgrade.Error) {
		return burstHandler(func(c *Conn) {
			// Four bits of entropy a byte: compresses to about half.
			p := make([]byte, 8<<10)
			for i := range p {
				p[i] = 'a' + byte(randomBytes(1)[0]&15)
			}
			n := 0
			for ; n < 100000 && c.Server().Stats().SlowConsumerClose == 0; n++ {
				numbered(p[:8], n)
				c.Send(frame.OpBinary, p)
			}
			burstDone <- n
		}), nil
	}})
	c, err := wstest.Dial(s.Addr().String(), "/burst", "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits")
	require.NoError(t, err)
	defer c.Close()
	require.Contains(t, c.Extension, "server_max_window_bits=10", "takeover negotiated")
	require.NoError(t, c.Send(true, frame.OpText, []byte("go")))
	select {
	case n := <-burstDone:
		t.Logf("closed after %d messages", n)
	case <-time.After(20 * time.Second):
		t.Fatal("the burst did not end")
	}
	assert.Zero(t, s.Stats().QueueDrops, "nothing dropped")
	for {
		f, err := c.ReadFrame(5 * time.Second)
		require.NoError(t, err)
		if f.Header.OpCode == frame.OpClose {
			code, _ := f.Close()
			assert.Equal(t, frame.ClosePolicyViolation, code)
			break
		}
	}
}

// startTakeoverPair starts a server with o, context takeover at 2^12 both
// ways and the handler made by handler, and a client with the same policy;
// both end with the test.
func startTakeoverPair(t *testing.T, o Options, handler func(*Server) Handler) (*Server, *Client) {
	t.Helper()
	policy := upgrade.DeflatePolicy{Mode: upgrade.DeflateTakeover, WindowBits: 12}
	o.Addr, o.Deflate = "127.0.0.1:0", policy
	s, err := New(o)
	require.NoError(t, err)
	h := handler(s)
	require.NoError(t, s.Start(Routes{Upgrade: func(*Conn, *upgrade.Request) (Handler, *upgrade.Error) { return h, nil }}))
	t.Cleanup(func() {
		ctx, cancel := contextTimeout(3 * time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	cl, err := NewClient(Options{Loops: 1, Deflate: policy})
	require.NoError(t, err)
	t.Cleanup(func() { cl.Close(time.Second) })
	return s, cl
}

// eachEcho answers every message with prep(body): a user's notification.
type eachEcho struct {
	prep func(frame.Opcode, []byte) *Prepared
	body []byte
}

func (eachEcho) OnOpen(*Conn) {}
func (h eachEcho) OnMessage(c *Conn, _ frame.Opcode, _ []byte) {
	c.SendPrepared(h.prep(frame.OpText, h.body))
}
func (eachEcho) OnClose(*Conn, frame.CloseCode, string) {}

// A frame made with PrepareEach goes to a takeover connection compressed
// against that connection's window, so a user's second notification
// refers to the first; Prepare's shared form refers to nothing.
func TestPrepareEachCompressesWithEachWindow(t *testing.T) {
	body := []byte(`{"type":"message","seq":1,"data":{"order":"` + strings.Repeat("tea, cups and pots; ", 12) + `"}}`)
	for _, tc := range []struct {
		name       string
		prep       func(frame.Opcode, []byte) *Prepared
		refersBack bool
	}{{"PrepareEach", PrepareEach, true}, {"Prepare", Prepare, false}} {
		t.Run(tc.name, func(t *testing.T) {
			w := &wireFrames{}
			o := Options{Observe: func(*upgrade.Request, netip.AddrPort, netip.AddrPort) Observer { return w }}
			s, cl := startTakeoverPair(t, o, func(*Server) Handler { return eachEcho{tc.prep, body} })
			h := newClientEvents()
			_, err := cl.Dial(Target{Addr: s.Addr(), Handler: h})
			require.NoError(t, err)
			c := recv(t, h.open)
			require.True(t, c.Compressed())
			for i := range 2 {
				require.NoError(t, c.Send(frame.OpText, []byte("next")))
				require.Equal(t, string(body), string(recv(t, h.msgs)[1:]), "notification %d inflated", i)
			}
			w.mu.Lock()
			defer w.mu.Unlock()
			require.Len(t, w.sizes, 2, "both compressed")
			if tc.refersBack {
				assert.Less(t, w.sizes[1]*4, w.sizes[0], "the second refers to the first through this connection's window")
			} else {
				assert.Equal(t, w.sizes[0], w.sizes[1], "the shared form refers to nothing")
			}
		})
	}
}
