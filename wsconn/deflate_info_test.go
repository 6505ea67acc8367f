package wsconn

import (
	"bufio"
	"net"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsd-dev/wsd/upgrade"
)

// A client counts the extension answers its connections opened with, by
// the server's text ("none" without one), and the bytes of the heads: with
// no frame sent yet, they are all the bytes on the wire.
func TestClientTalliesExtensionAnswersAndHeads(t *testing.T) {
	for _, tc := range []struct {
		server upgrade.DeflatePolicy
		want   string
	}{
		{upgrade.DeflatePolicy{Mode: upgrade.DeflateOn}, "permessage-deflate; server_no_context_takeover; client_no_context_takeover"},
		{upgrade.DeflatePolicy{Mode: upgrade.DeflateTakeover, WindowBits: 10}, "permessage-deflate; server_max_window_bits=10; client_max_window_bits=10"},
		{upgrade.DeflatePolicy{}, NoExtension},
	} {
		t.Run(tc.server.Mode.String(), func(t *testing.T) {
			s, _ := startEcho(t, func(o *Options) { o.Deflate = tc.server })
			// The browsers' offer: the server picks the mode.
			cl, err := NewClient(Options{Loops: 2, Deflate: upgrade.DeflatePolicy{Mode: upgrade.DeflateTakeover}})
			require.NoError(t, err)
			t.Cleanup(func() { cl.Close(time.Second) })
			const conns = 3
			for range conns {
				h := newClientEvents()
				_, err := cl.Dial(Target{Addr: s.Addr(), Handler: h})
				require.NoError(t, err)
				recv(t, h.open)
			}
			assert.Equal(t, map[string]int64{tc.want: conns}, cl.ExtensionAnswers())
			in, out := cl.HandshakeBytes()
			st := cl.Stats()
			assert.Equal(t, st.BytesIn, in, "response heads: every byte read so far")
			assert.Equal(t, st.BytesOut, out, "request heads: every byte written so far")
			assert.Greater(t, in, int64(conns*100))
		})
	}
}

// An answer the client refuses (an extension it never offered) opens no
// connection and is not counted as agreed; its head still counts as bytes.
func TestClientTallyLeavesOutRefusedAnswers(t *testing.T) {
	s, _ := startEcho(t, func(o *Options) { o.Deflate = upgrade.DeflatePolicy{Mode: upgrade.DeflateOn} })
	cl, err := NewClient(Options{Loops: 1, DeflateOffer: "x-webkit-deflate-frame"}) // offers nothing the server takes
	require.NoError(t, err)
	t.Cleanup(func() { cl.Close(time.Second) })
	h := newClientEvents()
	_, err = cl.Dial(Target{Addr: s.Addr(), Handler: h})
	require.NoError(t, err)
	recv(t, h.open)
	assert.Equal(t, map[string]int64{NoExtension: 1}, cl.ExtensionAnswers(), "declined: opened without")

	// A server that answers permessage-deflate to a client that offered nothing.
	raw := startRawAnswer(t, "Sec-WebSocket-Extensions: permessage-deflate")
	plain, err := NewClient(Options{Loops: 1})
	require.NoError(t, err)
	t.Cleanup(func() { plain.Close(time.Second) })
	h2 := newClientEvents()
	_, err = plain.Dial(Target{Addr: raw, Handler: h2})
	require.NoError(t, err)
	assert.ErrorIs(t, recv(t, h2.failed), upgrade.ErrBadExtension)
	assert.Empty(t, plain.ExtensionAnswers())
	in, _ := plain.HandshakeBytes()
	assert.Greater(t, in, int64(100), "the refused head was read")
}

// startRawAnswer runs a server that answers every upgrade request with a
// correct 101 carrying the extra header line, then holds the connection.
func startRawAnswer(t *testing.T, extra string) netip.AddrPort {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				req, err := http.ReadRequest(bufio.NewReader(c))
				if err != nil {
					return
				}
				accept := upgrade.Accept([]byte(req.Header.Get("Sec-WebSocket-Key")))
				c.Write([]byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
					string(accept[:]) + "\r\n" + extra + "\r\n\r\n"))
				c.Read(make([]byte, 1)) // until the client hangs up
			}()
		}
	}()
	return netip.MustParseAddrPort(l.Addr().String())
}
