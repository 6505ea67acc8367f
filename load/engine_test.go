package load

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/internal/testkit"
	"github.com/wsd-dev/wsd/upgrade"
	"github.com/wsd-dev/wsd/wsconn"
)

type echoH struct{}

func (echoH) OnOpen(*wsconn.Conn)                                 {}
func (echoH) OnMessage(c *wsconn.Conn, op frame.Opcode, p []byte) { c.Send(op, p) }
func (echoH) OnClose(*wsconn.Conn, frame.CloseCode, string)       {}

func startWSD(t *testing.T) netip.AddrPort {
	s, err := wsconn.New(wsconn.Options{Addr: "127.0.0.1:0", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	require.NoError(t, s.Start(wsconn.Routes{Upgrade: func(*wsconn.Conn, *upgrade.Request) (wsconn.Handler, *upgrade.Error) {
		return echoH{}, nil
	}}))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return s.Addr()
}

func TestEchoAgainstWSD(t *testing.T) {
	addr := startWSD(t)
	sc := &Echo{Size: 100, PerConn: 50, Window: 4}
	e, err := New(Config{Target: addr, Path: "/echo?c={i}"}, sc)
	require.NoError(t, err)
	e.Start()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(t, e.Dial(ctx, 0, 200, 0))
	assert.Equal(t, int64(200), e.Stats().Opened)
	for sc.Stats().ConnsDone < 200 && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	st := sc.Stats()
	assert.Equal(t, int64(200*50), st.Received)
	assert.Zero(t, st.Mismatched, st.FirstMismatch)
	_, hs, lat := e.Collect()
	assert.Equal(t, uint64(200), hs.Count())
	assert.Equal(t, uint64(200*50), lat.Count())
	assert.Greater(t, lat.Percentile(50), time.Duration(0))
	e.Close(5 * time.Second)
	assert.Zero(t, e.Stats().Failed(), "%v", e.Stats().Errors)
	assert.Zero(t, e.Stats().Open)
}

func TestRateModeChargesScheduledTime(t *testing.T) {
	addr := startWSD(t)
	sc := &Echo{Size: 64, Rate: 100, PerConn: 20, Binary: true}
	e, err := New(Config{Target: addr, Path: "/echo", Tick: time.Millisecond}, sc)
	require.NoError(t, err)
	e.Start()
	defer e.Close(time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	require.NoError(t, e.Dial(ctx, 0, 10, 0))
	for sc.Stats().ConnsDone < 10 && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	assert.Equal(t, int64(200), sc.Stats().Received)
	assert.GreaterOrEqual(t, time.Since(start), 150*time.Millisecond, "20 messages at 100/s take ~200 ms")
	assert.Zero(t, sc.Stats().Mismatched)
}

// fakeServer answers every connection with resp, then reads until the
// client hangs up; closeAfter makes it hang up itself right after.
func fakeServer(t *testing.T, resp func(req []byte) []byte, closeAfter ...bool) netip.AddrPort {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 4096)
				n, _ := c.Read(buf)
				if out := resp(buf[:n]); out != nil {
					c.Write(out)
				}
				if len(closeAfter) == 0 {
					io.Copy(io.Discard, c) // until the client hangs up
				}
			}()
		}
	}()
	return netip.MustParseAddrPort(ln.Addr().String())
}

func TestFailuresByCause(t *testing.T) {
	keyOf := func(req []byte) []byte {
		r, _, err := upgrade.Parse(req, 0)
		require.Nil(t, err)
		return r.Key
	}
	closedPort := testkit.RefusedAddr(t)
	maskedFrame := frame.AppendHeader(nil, frame.Header{Fin: true, OpCode: frame.OpText, Length: 1, Masked: true, Mask: [4]byte{1, 2, 3, 4}})
	maskedFrame = append(maskedFrame, 'x'^1)
	cases := []struct {
		name   string
		target netip.AddrPort
		cause  string
	}{
		{"refused", closedPort, "refused"},
		{"bad status", fakeServer(t, func([]byte) []byte { return []byte("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n") }), "bad_status"},
		{"bad accept", fakeServer(t, func([]byte) []byte {
			return []byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n")
		}), "bad_accept"},
		{"garbage", fakeServer(t, func([]byte) []byte { return []byte("SSH-2.0-OpenSSH_9.2\r\n") }), "bad_response"},
		{"closed mid-handshake", fakeServer(t, func([]byte) []byte { return []byte("HTTP/1.1 101 Swi") }, true), "bad_response"},
		{"masked server frame", fakeServer(t, func(req []byte) []byte {
			return append(upgrade.AppendResponse(nil, keyOf(req), ""), maskedFrame...)
		}), "protocol_error"},
		{"never answers", fakeServer(t, func([]byte) []byte { return nil }), "timeout"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, err := New(Config{Target: tc.target, ConnectTimeout: time.Second, Tick: 50 * time.Millisecond}, Hold{})
			require.NoError(t, err)
			e.Start()
			defer e.Close(time.Second)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			require.NoError(t, e.Dial(ctx, 0, 3, 0))
			// A protocol error arrives after the 101: wait for the count.
			for e.Stats().Failed() < 3 && ctx.Err() == nil {
				time.Sleep(5 * time.Millisecond)
			}
			st := e.Stats()
			assert.Equal(t, int64(3), st.Failures[tc.cause], "%+v", st)
			assert.Equal(t, int64(3), st.Failed(), "%+v", st)
		})
	}
}
