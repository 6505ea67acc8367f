package wsconn

import (
	"bytes"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/internal/wstest"
	"github.com/wsd-dev/wsd/upgrade"
)

// A compressed message read, inflated, handed to the handler, echoed and
// compressed again allocates nothing once the pools are warm: in both
// modes (with takeover the windows are kept in place).
func TestDeflateEchoPathAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates on its own (and sync.Pool drops items under it); make test runs the allocation tests without it")
	}
	note := bytes.Repeat([]byte(`{"type":"message","seq":7,"body":"a notification"} `), 12)
	for _, mode := range []upgrade.DeflatePolicy{{Mode: upgrade.DeflateOn}, {Mode: upgrade.DeflateTakeover, WindowBits: 10}} {
		t.Run(mode.Mode.String(), func(t *testing.T) {
			s, _ := startEcho(t, func(o *Options) { o.Deflate = mode })
			c, err := wstest.Dial(s.Addr().String(), "/echo", "Sec-WebSocket-Extensions: permessage-deflate")
			require.NoError(t, err)
			defer c.Close()
			require.Contains(t, c.Extension, "permessage-deflate")
			msg := wstest.MaskedRsv(true, frame.Rsv1, frame.OpText, wstest.Deflate(note))
			var hdr [2]byte
			body := make([]byte, 125)
			compressed := 0
			roundTrip := func() {
				if _, err := c.Conn.Write(msg); err != nil {
					t.Fatal(err)
				}
				if _, err := io.ReadFull(c.Conn, hdr[:]); err != nil {
					t.Fatal(err)
				}
				n := int(hdr[1] & 0x7f)
				if n > 125 || hdr[0]&0x40 == 0 {
					t.Fatalf("want a short compressed frame, got header % x", hdr)
				}
				if _, err := io.ReadFull(c.Conn, body[:n]); err != nil {
					t.Fatal(err)
				}
				compressed++
			}
			roundTrip()
			roundTrip() // with takeover, the window is full from here on
			assert.Zero(t, testing.AllocsPerRun(200, roundTrip))
			assert.Equal(t, 203, compressed)
		})
	}
}

// Send compresses into pooled buffers and SendPrepared reuses the frame
// compressed once: neither allocates per call.
func TestDeflateSendAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates on its own (and sync.Pool drops items under it); make test runs the allocation tests without it")
	}
	for _, mode := range []upgrade.DeflatePolicy{{Mode: upgrade.DeflateOn}, {Mode: upgrade.DeflateTakeover, WindowBits: 10}} {
		t.Run(mode.Mode.String(), func(t *testing.T) {
			s, _ := startEcho(t, func(o *Options) { o.Deflate = mode })
			c, err := wstest.Dial(s.Addr().String(), "/echo", "Sec-WebSocket-Extensions: permessage-deflate")
			require.NoError(t, err)
			defer c.Close()
			go io.Copy(io.Discard, c.Conn.(*net.TCPConn))
			conn := serverConn(t, s)
			require.True(t, conn.Compressed())
			payload := bytes.Repeat([]byte(`{"news":"the same for all"}`), 20)
			p := Prepare(frame.OpText, payload)
			conn.Send(frame.OpText, payload)
			conn.SendPrepared(p)
			assert.Zero(t, testing.AllocsPerRun(300, func() { conn.Send(frame.OpText, payload) }), "Send")
			assert.Zero(t, testing.AllocsPerRun(300, func() { conn.SendPrepared(p) }), "SendPrepared")
			compressible := strings.Repeat(`{"news":"on the stack"}`, 8) // over DeflateMinSize, under 256
			sendFromStack(conn, compressible)
			assert.Zero(t, testing.AllocsPerRun(300, func() { sendFromStack(conn, compressible) }), "Send from the stack")
		})
	}
}
