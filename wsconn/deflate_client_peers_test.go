package wsconn

// The client role's permessage-deflate against real servers: Node's ws
// (several perMessageDeflate settings) and Python's websockets (its
// default), with Options.Deflate on and takeover. A relay between them
// parses both directions of the wire (the server's answer, the messages
// sent compressed) without taking part.

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/upgrade"
)

// wireTap relays TCP connections to a server and counts each one's wire
// in both directions (peerWire: in is the client's, out the server's).
type wireTap struct {
	ln    net.Listener
	conns peerConns
}

func startWireTap(t *testing.T, target string) *wireTap {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	tp := &wireTap{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			w := &peerWire{in: newWireCount(frame.RoleServer), out: newWireCount(frame.RoleClient)}
			tp.conns.mu.Lock()
			tp.conns.list = append(tp.conns.list, w)
			tp.conns.mu.Unlock()
			var wg sync.WaitGroup
			wg.Add(2)
			go func() { defer wg.Done(); relay(s, c, w.Received) }()
			go func() { defer wg.Done(); relay(c, s, w.Sent) }()
			go func() { wg.Wait(); c.Close(); s.Close(); w.End("") }()
		}
	}()
	return tp
}

// relay copies src to dst, showing each read to see, and half-closes dst
// when src ends.
func relay(dst, src net.Conn, see func([]byte)) {
	buf := make([]byte, 64<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			see(buf[:n])
			if _, werr := dst.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	if tc, ok := dst.(*net.TCPConn); ok {
		tc.CloseWrite()
	}
}

func (tp *wireTap) addr(t *testing.T) netip.AddrPort {
	ap, err := netip.ParseAddrPort(tp.ln.Addr().String())
	require.NoError(t, err)
	return ap
}

// startPeerServer runs a peer server script that prints {"port": N} and
// serves until its stdin closes; the test's end closes it and, should it
// still run, kills it by its PID.
func startPeerServer(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		stdin.Close()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			line <- sc.Text()
		}
		close(line)
		io.Copy(io.Discard, stdout)
	}()
	select {
	case l, ok := <-line:
		require.True(t, ok, "%s printed nothing", name)
		var p struct{ Port int }
		require.NoError(t, json.Unmarshal([]byte(l), &p), "%s printed %q", name, l)
		return "127.0.0.1:" + strconv.Itoa(p.Port)
	case <-time.After(15 * time.Second):
		t.Fatalf("%s: no port within 15 s", name)
		return ""
	}
}

// echoThroughClient dials addr with a client of the given policy and
// echoes each size as text and binary, then the repeat twice, through it.
func echoThroughClient(t *testing.T, addr netip.AddrPort, p upgrade.DeflatePolicy, who string) {
	t.Helper()
	cl, err := NewClient(Options{Loops: 1, Deflate: p, MaxMessage: 1 << 20})
	require.NoError(t, err)
	defer cl.Close(5 * time.Second)
	h := newClientEvents()
	_, err = cl.Dial(Target{Addr: addr, URI: "/", Handler: h})
	require.NoError(t, err)
	var c *Conn
	select {
	case c = <-h.open:
	case err := <-h.failed:
		t.Fatalf("%s: dial failed: %v", who, err)
	case code := <-h.closed:
		t.Fatalf("%s: closed %d before opening", who, code)
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: no open within 10 s", who)
	}
	require.True(t, c.Compressed(), "%s: permessage-deflate negotiated", who)
	echo := func(op frame.Opcode, m []byte) {
		require.NoError(t, c.Send(op, m))
		got := recv(t, h.msgs)
		require.Equal(t, byte(op), got[0], "%s: opcode", who)
		require.Equal(t, len(m), len(got)-1, "%s: length", who)
		assert.Equal(t, string(m), string(got[1:]), "%s: echo of %d bytes", who, len(m))
	}
	for _, n := range peerSizes {
		echo(frame.OpText, textOf(n))
		echo(frame.OpBinary, binOf(n))
	}
	echo(frame.OpText, []byte(peerRepeat))
	echo(frame.OpText, []byte(peerRepeat))
	c.Close(frame.CloseNormal, "done")
	assert.Equal(t, frame.CloseNormal, recv(t, h.closed), "%s: the server answers our close", who)
}

// ourOffers are what the client offers in each mode.
var ourOffers = map[upgrade.DeflateMode]string{
	upgrade.DeflateOn:       "permessage-deflate; server_no_context_takeover; client_no_context_takeover; client_max_window_bits",
	upgrade.DeflateTakeover: "permessage-deflate; client_max_window_bits",
}

// Our client against ws's server: each setting's answer accepted and
// applied; we compress from 64 bytes, ws with its context everything and
// without it from its threshold (1024); with context takeover each side's
// second copy of the repeat is a few bytes.
func TestDeflateClientAgainstNodeWS(t *testing.T) {
	const pmd = "permessage-deflate"
	for _, tc := range []struct {
		name         string
		options      string
		on, takeover string
	}{
		{"default", `{}`, pmd + "; server_no_context_takeover; client_no_context_takeover", pmd},
		// ws with clientMaxWindowBits set answers 400 to an offer without
		// client_max_window_bits: the client offers it in both modes.
		{"windows of 2^10", `{"serverMaxWindowBits":10,"clientMaxWindowBits":10}`,
			pmd + "; server_no_context_takeover; client_no_context_takeover; client_max_window_bits=10; server_max_window_bits=10", pmd + "; client_max_window_bits=10; server_max_window_bits=10"},
		{"no context takeover", `{"serverNoContextTakeover":true,"clientNoContextTakeover":true}`,
			pmd + "; server_no_context_takeover; client_no_context_takeover", pmd + "; server_no_context_takeover; client_no_context_takeover"},
		{"threshold 0", `{"threshold":0}`, pmd + "; server_no_context_takeover; client_no_context_takeover", pmd},
	} {
		for _, mode := range deflateModes {
			t.Run(tc.name+" "+mode.name, func(t *testing.T) {
				srv := startPeerServer(t, "node", filepath.Join(repoRoot(t), "test/node/deflate_server.js"), tc.options)
				tap := startWireTap(t, srv)
				who := "ws server " + tc.name + ", client " + mode.name
				echoThroughClient(t, tap.addr(t), mode.policy, who)
				w := tap.conns.ended(t, 0)
				want := tc.on
				if mode.policy.Mode == upgrade.DeflateTakeover {
					want = tc.takeover
				}
				assert.Equal(t, ourOffers[mode.policy.Mode], w.offer, who)
				assert.Equal(t, want, w.answer, who)
				a := parseAgreed(want)
				assert.Equal(t, peerMessages, w.msgsIn, who)
				assert.Equal(t, countFrom(peerSizes, DefaultDeflateMinSize)+2, w.compIn, "%s: we compress from 64 bytes", who)
				wsFrom := 1024
				if a.srvCtx || tc.options == `{"threshold":0}` {
					wsFrom = 0
				}
				extra := 0
				if wsFrom <= len(peerRepeat) {
					extra = 2
				}
				assert.Equal(t, countFrom(peerSizes, wsFrom)+extra, w.compOut, "%s: ws compresses from %d bytes", who, wsFrom)
				w.assertContext(t, want, who)
			})
		}
	}
}

// Our client against websockets' server with its default deflate.
func TestDeflateClientAgainstPythonWebsockets(t *testing.T) {
	for _, mode := range deflateModes {
		t.Run(mode.name, func(t *testing.T) {
			srv := startPeerServer(t, "/usr/bin/python3", filepath.Join(repoRoot(t), "test/python/deflate_server.py"))
			tap := startWireTap(t, srv)
			who := "websockets server, client " + mode.name
			echoThroughClient(t, tap.addr(t), mode.policy, who)
			w := tap.conns.ended(t, 0)
			assert.Equal(t, ourOffers[mode.policy.Mode], w.offer, who)
			// websockets' server defaults: windows of 2^12 both ways.
			want := "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=12; client_max_window_bits=12"
			if mode.policy.Mode == upgrade.DeflateTakeover {
				want = "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12"
			}
			assert.Equal(t, want, w.answer, who)
			assert.Equal(t, peerMessages, w.msgsIn, who)
			assert.Equal(t, countFrom(peerSizes, DefaultDeflateMinSize)+2, w.compIn, "%s: we compress from 64 bytes", who)
			assert.Equal(t, peerMessages, w.compOut, "%s: websockets compresses every message", who)
			w.assertContext(t, w.answer, who)
		})
	}
}
