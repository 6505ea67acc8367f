package wsconn

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/internal/testcert"
	"github.com/wsd-dev/wsd/internal/wstest"
	"github.com/wsd-dev/wsd/tlsrec"
	"github.com/wsd-dev/wsd/upgrade"
)

var testPair = sync.OnceValue(func() *testcert.Pair {
	p, err := testcert.New("wsconn test")
	if err != nil {
		panic(err)
	}
	return p
})

// serverTLS is a server config with the test certificate.
func serverTLS() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{testPair().Cert}}
}

// clientTLS trusts the test certificate; maxVersion 0 allows TLS 1.3.
func clientTLS(maxVersion uint16) *tls.Config {
	return &tls.Config{RootCAs: testPair().Pool, ServerName: "localhost", MaxVersion: maxVersion}
}

// tlsEcho is /echo that records each connection's TLS version and suite.
type tlsEcho struct {
	echoHandler
	opened chan [2]uint16
}

func (h tlsEcho) OnOpen(c *Conn) {
	v, s := c.TLS()
	h.opened <- [2]uint16{v, s}
}

// startTLSEcho runs a TLS server with /echo, recording TLS states and
// closes.
func startTLSEcho(t testing.TB, mod func(*Options)) (*Server, tlsEcho) {
	t.Helper()
	h := tlsEcho{echoHandler{&closeRecorder{}}, make(chan [2]uint16, 64)}
	routes := Routes{Upgrade: func(_ *Conn, req *upgrade.Request) (Handler, *upgrade.Error) {
		if string(req.Path) == "/echo" {
			return h, nil
		}
		return nil, &upgrade.Error{Status: 404, Msg: "no endpoint " + string(req.Path)}
	}}
	s := startWith(t, func(o *Options) {
		o.TLS = serverTLS()
		if mod != nil {
			mod(o)
		}
	}, routes)
	return s, h
}

// gorillaEcho runs the echo checks of clients_test.go over a gorilla
// client connection.
func gorillaEcho(t *testing.T, c *websocket.Conn) {
	t.Helper()
	c.SetReadLimit(2 << 20)
	text := "发送数据 😀 hello"
	require.NoError(t, c.WriteMessage(websocket.TextMessage, []byte(text)))
	mt, p, err := c.ReadMessage()
	require.NoError(t, err)
	assert.Equal(t, websocket.TextMessage, mt)
	assert.Equal(t, text, string(p))
	for _, n := range binarySizes {
		b := randomBytes(n)
		require.NoError(t, c.WriteMessage(websocket.BinaryMessage, b))
		_, p, err := c.ReadMessage()
		require.NoError(t, err)
		assert.True(t, bytes.Equal(b, p), "binary %d", n)
	}
	require.NoError(t, c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(4001, "bye"), time.Now().Add(time.Second)))
	_, _, err = c.ReadMessage()
	var ce *websocket.CloseError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, 4001, ce.Code)
}

// Go's crypto/tls as the client (gorilla over wss://): TLS 1.3 (AES-GCM,
// crypto/tls's choice here), TLS 1.2 with AES-GCM and with ChaCha20.
func TestTLSGoClients(t *testing.T) {
	cases := []struct {
		name    string
		cfg     *tls.Config
		version uint16
		suite   uint16
	}{
		{"TLS1.3", clientTLS(0), tls.VersionTLS13, tls.TLS_AES_128_GCM_SHA256},
		{"TLS1.3-client-takes-tickets", func() *tls.Config {
			c := clientTLS(0)
			c.ClientSessionCache = tls.NewLRUClientSessionCache(4) // it offers resumption: a ticket would come, under the application key, if one were sent
			return c
		}(), tls.VersionTLS13, tls.TLS_AES_128_GCM_SHA256},
		{"TLS1.2-AES", func() *tls.Config {
			c := clientTLS(tls.VersionTLS12)
			c.CipherSuites = []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}
			return c
		}(), tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
		{"TLS1.2-ChaCha", func() *tls.Config {
			c := clientTLS(tls.VersionTLS12)
			c.CipherSuites = []uint16{tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256}
			return c
		}(), tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, h := startTLSEcho(t, nil)
			d := websocket.Dialer{HandshakeTimeout: 5 * time.Second, TLSClientConfig: tc.cfg}
			c, resp, err := d.Dial("wss://"+s.Addr().String()+"/echo", nil)
			require.NoError(t, err)
			defer c.Close()
			assert.Equal(t, 101, resp.StatusCode)
			assert.Equal(t, [2]uint16{tc.version, tc.suite}, <-h.opened, "the server's side")
			st := c.UnderlyingConn().(*tls.Conn).ConnectionState()
			assert.Equal(t, tc.suite, st.CipherSuite)
			gorillaEcho(t, c)
			eventually(t, 2*time.Second, func() bool { return len(h.rec.list()) == 1 }, "no close recorded")
			assert.Equal(t, []frame.CloseCode{4001}, h.rec.list())
		})
	}
}

// TLS 1.3 with ChaCha20-Poly1305: a crypto/tls client without AES
// hardware (GODEBUG=cpu.aes=off, in a child process) prefers it, and the
// server follows.
func TestTLSGoClientChaCha13(t *testing.T) {
	if addr := os.Getenv("WSCONN_CHACHA_ADDR"); addr != "" {
		d := websocket.Dialer{HandshakeTimeout: 5 * time.Second, TLSClientConfig: clientTLSFromEnv(t)}
		c, _, err := d.Dial("wss://"+addr+"/echo", nil)
		require.NoError(t, err)
		defer c.Close()
		require.Equal(t, tls.TLS_CHACHA20_POLY1305_SHA256, c.UnderlyingConn().(*tls.Conn).ConnectionState().CipherSuite)
		gorillaEcho(t, c)
		return
	}
	s, h := startTLSEcho(t, nil)
	dir := t.TempDir()
	certFile, _, err := testPair().Write(dir)
	require.NoError(t, err)
	cmd := exec.Command(os.Args[0], "-test.run=^TestTLSGoClientChaCha13$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "GODEBUG=cpu.aes=off", "WSCONN_CHACHA_ADDR="+s.Addr().String(), "WSCONN_CA="+certFile)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "--- PASS")
	assert.Equal(t, [2]uint16{tls.VersionTLS13, tls.TLS_CHACHA20_POLY1305_SHA256}, <-h.opened)
}

func clientTLSFromEnv(t *testing.T) *tls.Config {
	pem, err := os.ReadFile(os.Getenv("WSCONN_CA"))
	require.NoError(t, err)
	cfg := &tls.Config{ServerName: "localhost", RootCAs: x509Pool(t, pem)}
	return cfg
}

// The client role over TLS: wsconn.Client against the server, TLS 1.3 and
// 1.2, messages up to 1 MiB both ways.
func TestTLSClientCore(t *testing.T) {
	for _, max := range []uint16{0, tls.VersionTLS12} {
		t.Run(fmt.Sprintf("max-%x", max), func(t *testing.T) {
			s, h := startTLSEcho(t, func(o *Options) {
				o.TLS.MaxVersion = max
			})
			cl, err := NewClient(Options{Loops: 1, TLS: clientTLS(0)})
			require.NoError(t, err)
			defer cl.Close(time.Second)
			got := make(chan []byte, 16)
			opened := make(chan [2]uint16, 1)
			ch := &funcHandler{
				open: func(c *Conn) {
					v, s := c.TLS()
					opened <- [2]uint16{v, s}
				},
				msg: func(c *Conn, op frame.Opcode, p []byte) { got <- append([]byte(nil), p...) },
			}
			c, err := cl.Dial(Target{Addr: s.Addr(), URI: "/echo", Host: "localhost", Handler: ch})
			require.NoError(t, err)
			v := <-opened
			want := uint16(tls.VersionTLS13)
			if max != 0 {
				want = max
			}
			assert.Equal(t, want, v[0], "the client's side")
			assert.Equal(t, want, (<-h.opened)[0], "the server's side")
			for _, n := range binarySizes {
				b := randomBytes(n)
				require.NoError(t, c.Send(frame.OpBinary, b))
				select {
				case p := <-got:
					assert.True(t, bytes.Equal(b, p), "%d bytes", n)
				case <-time.After(10 * time.Second):
					t.Fatalf("no echo of %d bytes", n)
				}
			}
			c.Close(frame.CloseNormal, "")
			eventually(t, 2*time.Second, func() bool { return len(h.rec.list()) == 1 }, "no close recorded")
		})
	}
}

// funcHandler is a Handler of functions.
type funcHandler struct {
	open  func(*Conn)
	msg   func(*Conn, frame.Opcode, []byte)
	close func(*Conn, frame.CloseCode, string)
}

func (h *funcHandler) OnOpen(c *Conn) {
	if h.open != nil {
		h.open(c)
	}
}

func (h *funcHandler) OnMessage(c *Conn, op frame.Opcode, p []byte) {
	if h.msg != nil {
		h.msg(c, op, p)
	}
}

func (h *funcHandler) OnClose(c *Conn, code frame.CloseCode, reason string) {
	if h.close != nil {
		h.close(c, code, reason)
	}
}

// The HTTP hand-off over TLS: net/http serves the requests that are not
// upgrades on the same TLS connection (keep-alive, a 4 MiB body sent right
// behind the head), and r.TLS says how it came.
func TestTLSHTTPHandoff(t *testing.T) {
	for _, max := range []uint16{0, tls.VersionTLS12} {
		t.Run(fmt.Sprintf("max-%x", max), func(t *testing.T) {
			routes := echoRoutes(&closeRecorder{})
			routes.HTTP = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n, _ := io.Copy(io.Discard, r.Body)
				if r.TLS == nil {
					http.Error(w, "no r.TLS", 500)
					return
				}
				fmt.Fprintf(w, "%s %s %d %x", r.Method, r.URL.Path, n, r.TLS.Version)
			})
			s := startWith(t, func(o *Options) { o.TLS = serverTLS() }, routes)
			tr := &http.Transport{TLSClientConfig: clientTLS(max), MaxIdleConnsPerHost: 1}
			defer tr.CloseIdleConnections()
			hc := &http.Client{Transport: tr, Timeout: 20 * time.Second}
			want := tls.VersionTLS13
			if max != 0 {
				want = int(max)
			}
			base := "https://" + s.Addr().String()
			for i := range 3 {
				resp, err := hc.Get(base + "/healthz")
				require.NoError(t, err)
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				assert.Equal(t, fmt.Sprintf("GET /healthz 0 %x", want), string(b), "request %d", i)
			}
			body := randomBytes(4 << 20)
			resp, err := hc.Post(base+"/publish", "application/octet-stream", bytes.NewReader(body))
			require.NoError(t, err)
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			assert.Equal(t, fmt.Sprintf("POST /publish %d %x", len(body), want), string(b))
			assert.GreaterOrEqual(t, s.Stats().HTTPRequests, int64(1))
		})
	}
}

// A plain HTTP request to the TLS port gets a 400 that says why, in
// plain text, and the server goes on.
func TestTLSPlainHTTPToTLSPort(t *testing.T) {
	s, _ := startTLSEcho(t, nil)
	nc, err := net.Dial("tcp", s.Addr().String())
	require.NoError(t, err)
	defer nc.Close()
	nc.Write([]byte("GET /echo HTTP/1.1\r\nHost: x\r\n\r\n"))
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(nc)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(b), "HTTP/1.0 400 Bad Request\r\n"), "%q", b)
	assert.Contains(t, string(b), "Client sent an HTTP request to an HTTPS server.")
	assertTLSServes(t, s)
}

// assertTLSServes checks that a proper client still gets its echo.
func assertTLSServes(t *testing.T, s *Server) {
	t.Helper()
	c, err := wstest.DialTLS(s.Addr().String(), "/echo", "", clientTLS(0))
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Send(true, frame.OpText, []byte("still serving")))
	_, p, err := c.ReadMessage(5 * time.Second)
	require.NoError(t, err)
	assert.Equal(t, "still serving", string(p))
}

// clientHello is the first flight a crypto/tls client sends.
func clientHello(t *testing.T) []byte {
	a, b := net.Pipe()
	go tls.Client(a, clientTLS(0)).Handshake()
	b.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 8192)
	n, err := b.Read(buf)
	require.NoError(t, err)
	a.Close()
	b.Close()
	return buf[:n]
}

// Hostile handshakes: garbage, a ClientHello cut short and a connection
// that never speaks are closed — the first at once with an alert, the
// others at the handshake timeout — their goroutines end, and the server
// goes on.
func TestTLSHostileHandshakes(t *testing.T) {
	s, _ := startTLSEcho(t, func(o *Options) { o.HandshakeTimeout = 400 * time.Millisecond })
	base := runtime.NumGoroutine()
	dial := func() net.Conn {
		nc, err := net.Dial("tcp", s.Addr().String())
		require.NoError(t, err)
		t.Cleanup(func() { nc.Close() })
		return nc
	}
	readAll := func(nc net.Conn) ([]byte, time.Duration) {
		start := time.Now()
		nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		b, err := io.ReadAll(nc)
		if err != nil && !strings.Contains(err.Error(), "reset") {
			t.Fatalf("read: %v", err)
		}
		return b, time.Since(start)
	}

	garbage := dial()
	g := append([]byte{22, 3, 1, 0, 200}, bytes.Repeat([]byte{0xAB}, 200)...)
	garbage.Write(g)
	b, took := readAll(garbage)
	require.NotEmpty(t, b, "an alert")
	assert.Equal(t, byte(21), b[0], "a TLS alert record")
	assert.Less(t, took, 300*time.Millisecond, "closed at once, not at the timeout")

	hello := clientHello(t)
	start := time.Now()
	stalls := []net.Conn{dial(), dial()}
	stalls[0].Write(hello[:len(hello)/2])
	eventually(t, 2*time.Second, func() bool { return s.Conns() == 2 }, "two connections")
	inflight := func() int {
		var n atomic.Int64
		s.onLoops(func(l *loop) { n.Add(int64(l.tls.inflight)) })
		return int(n.Load())
	}
	eventually(t, 2*time.Second, func() bool { return inflight() == 1 }, "a handshake in flight for the half ClientHello")
	for i, nc := range stalls {
		b, _ := readAll(nc)
		assert.Empty(t, b, "stall %d: closed without a word", i)
		assert.Greater(t, time.Since(start), 350*time.Millisecond, "stall %d closed at the timeout", i)
	}
	eventually(t, 2*time.Second, func() bool { return s.Conns() == 0 && inflight() == 0 }, "connections gone")
	eventually(t, 2*time.Second, func() bool { return runtime.NumGoroutine() <= base }, "handshake goroutines gone: %d > %d", runtime.NumGoroutine(), base)
	assert.GreaterOrEqual(t, s.Stats().HandshakeTimeouts, int64(2))
	assertTLSServes(t, s)
}

// At most tlsHandshakesPerLoop handshakes run at once on a loop; the
// others wait with their ClientHello kept, and start as slots free up.
func TestTLSHandshakeCap(t *testing.T) {
	s, _ := startTLSEcho(t, func(o *Options) { o.Loops = 1; o.HandshakeTimeout = 30 * time.Second })
	base := runtime.NumGoroutine()
	hello := clientHello(t)
	n := tlsHandshakesPerLoop + 40
	conns := make([]net.Conn, n)
	for i := range conns {
		nc, err := net.Dial("tcp", s.Addr().String())
		require.NoError(t, err)
		defer nc.Close()
		nc.Write(hello[:len(hello)-1]) // all but a byte: each handshake waits for it
		conns[i] = nc
	}
	eventually(t, 5*time.Second, func() bool { return s.Conns() == n }, "%d connections", n)
	var waiting int
	eventually(t, 5*time.Second, func() bool {
		s.onLoops(func(l *loop) { waiting = len(l.tls.waiting) })
		return waiting == n-tlsHandshakesPerLoop
	}, "waiting %d, want %d", waiting, n-tlsHandshakesPerLoop)
	assert.LessOrEqual(t, runtime.NumGoroutine()-base, tlsHandshakesPerLoop+2, "one goroutine per running handshake")
	// Closing running handshakes frees slots for the waiting ones.
	for _, nc := range conns[:40] {
		nc.Close()
	}
	eventually(t, 5*time.Second, func() bool {
		s.onLoops(func(l *loop) { waiting = len(l.tls.waiting) })
		return waiting == 0
	}, "still waiting: %d", waiting)
	for _, nc := range conns[40:] {
		nc.Close()
	}
	eventually(t, 5*time.Second, func() bool { return s.Conns() == 0 && runtime.NumGoroutine() <= base+1 }, "goroutines left: %d", runtime.NumGoroutine()-base)
}

// recClient is a test client that does its handshake with crypto/tls,
// then runs its records with tlsrec (keyed from the key log), over a raw
// TCP connection: it sees every record, allocates nothing per message,
// and can send what crypto/tls would not (KeyUpdates, a tampered record).
type recClient struct {
	t     *testing.T
	nc    net.Conn
	rec   tlsrec.Conn
	buf   []byte // read, not yet opened
	data  []byte // opened, not yet taken
	res   tlsrec.Result
	out   []byte
	frame frame.MessageReader
}

type secretLog struct{ client, server []byte }

func (k *secretLog) Write(line []byte) (int, error) {
	f := strings.Fields(string(line))
	if len(f) == 3 {
		s, _ := hex.DecodeString(f[2])
		switch f[0] {
		case "CLIENT_TRAFFIC_SECRET_0":
			k.client = s
		case "SERVER_TRAFFIC_SECRET_0":
			k.server = s
		}
	}
	return len(line), nil
}

// oneRecord hands crypto/tls one record per Read at most.
type oneRecord struct {
	net.Conn
	left int
}

func (r *oneRecord) Read(p []byte) (int, error) {
	if r.left == 0 {
		var h [5]byte
		if _, err := io.ReadFull(r.Conn, h[:]); err != nil {
			return 0, err
		}
		r.left = int(h[3])<<8 | int(h[4])
		return copy(p, h[:]), nil // p is large enough for a header: crypto/tls reads into a buffer
	}
	n, err := r.Conn.Read(p[:min(len(p), r.left)])
	r.left -= n
	return n, err
}

func dialRec(t *testing.T, addr netip.AddrPort, uri string) *recClient {
	t.Helper()
	nc, err := net.Dial("tcp", addr.String())
	require.NoError(t, err)
	t.Cleanup(func() { nc.Close() })
	log := &secretLog{}
	cfg := clientTLS(0)
	cfg.KeyLogWriter = log
	tc := tls.Client(&oneRecord{Conn: nc}, cfg)
	require.NoError(t, tc.Handshake())
	c := &recClient{t: t, nc: nc, buf: make([]byte, 0, 1<<20), out: make([]byte, 0, 1<<20)}
	require.NoError(t, c.rec.Init(tc.ConnectionState().CipherSuite, log.server, log.client, false))
	c.frame.Role = frame.RoleClient
	key := upgrade.NewKey()
	c.write(upgrade.AppendRequest(nil, upgrade.ClientRequest{Host: "localhost", URI: uri, Key: key[:]}))
	for {
		resp, n, err := upgrade.ParseResponse(c.data, 0)
		if err == nil {
			require.NoError(t, resp.Check(key[:]))
			c.data = c.data[n:]
			return c
		}
		require.Equal(t, upgrade.ErrIncomplete, err)
		c.readOnce()
	}
}

func (c *recClient) write(p []byte) {
	c.out = c.rec.Seal(c.out[:0], p)
	_, err := c.nc.Write(c.out)
	require.NoError(c.t, err)
}

// readOnce reads from the socket and opens what is complete.
func (c *recClient) readOnce() {
	if cap(c.buf)-len(c.buf) < tlsrec.MaxRecord {
		c.buf = append(make([]byte, 0, 2*cap(c.buf)), c.buf...)
	}
	c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := c.nc.Read(c.buf[len(c.buf):cap(c.buf)])
	require.NoError(c.t, err)
	c.buf = c.buf[:len(c.buf)+n]
	r, err := c.rec.Open(c.buf)
	require.NoError(c.t, err)
	c.data = append(c.data, c.buf[:r.N]...)
	c.buf = c.buf[:copy(c.buf, c.buf[r.Used:])]
	c.res.UpdateRequested = c.res.UpdateRequested || r.UpdateRequested
	c.res.CloseNotify = c.res.CloseNotify || r.CloseNotify
}

// message reads the next data message (whole frames, unfragmented).
func (c *recClient) message() (frame.Opcode, []byte) {
	for {
		if len(c.data) > 0 {
			m, n, err := c.frame.Next(c.data)
			c.data = c.data[n:]
			if err == nil {
				return m.OpCode, append([]byte(nil), m.Payload...)
			}
			require.Equal(c.t, frame.ErrNeedMore, err)
		}
		c.readOnce()
	}
}

// The echo path over TLS 1.3 — one record in, decrypted in place, parsed,
// echoed, sealed, written — allocates nothing in the server (nor in this
// client).
func TestTLSEchoPathAllocatesNothing(t *testing.T) {
	s, _ := startTLSEcho(t, nil)
	c := dialRec(t, s.Addr(), "/echo")
	msg := wstest.Masked(true, frame.OpText, []byte("hello, 发送数据, a message of modest size"))
	want := 2 + len(msg) - 6
	in := make([]byte, 0, 4096)
	roundTrip := func() {
		c.write(msg)
		in = in[:0]
		for len(in) < tlsrec.SealedSize(want) {
			c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, err := c.nc.Read(in[len(in):cap(in)])
			if err != nil {
				t.Fatal(err)
			}
			in = in[:len(in)+n]
		}
		r, err := c.rec.Open(in)
		if err != nil || r.N != want {
			t.Fatal(err, r)
		}
	}
	roundTrip()
	assert.Zero(t, testing.AllocsPerRun(200, roundTrip))
}

// Send from another goroutine over TLS allocates nothing while the socket
// takes the bytes.
func TestTLSSendAllocatesNothing(t *testing.T) {
	s, h := startTLSEcho(t, nil)
	c := dialRec(t, s.Addr(), "/echo")
	<-h.opened
	go io.Copy(io.Discard, c.nc)
	conn := serverConn(t, s)
	payload := []byte("notification payload")
	p := Prepare(frame.OpText, payload)
	assert.Zero(t, testing.AllocsPerRun(500, func() { conn.Send(frame.OpText, payload) }), "Send")
	assert.Zero(t, testing.AllocsPerRun(500, func() { conn.SendPrepared(p) }), "SendPrepared")
}

// A KeyUpdate from the client that asks for the server's: the server
// answers with its own before its next data, and both sides go on under
// the new keys.
func TestTLSKeyUpdateFromClient(t *testing.T) {
	s, _ := startTLSEcho(t, nil)
	c := dialRec(t, s.Addr(), "/echo")
	c.out = c.rec.SealKeyUpdate(c.out[:0], true)
	_, err := c.nc.Write(c.out)
	require.NoError(t, err)
	for range 3 {
		c.write(wstest.Masked(true, frame.OpText, []byte("after the update")))
		op, p := c.message()
		assert.Equal(t, frame.OpText, op)
		assert.Equal(t, "after the update", string(p))
	}
	r, w := c.rec.Seqs()
	assert.Equal(t, uint64(3), r, "the client's read key changed: the server's KeyUpdate came, then three records")
	assert.Equal(t, uint64(3), w)
}

// A record that fails its MAC ends the connection with bad_record_mac.
func TestTLSTamperedRecord(t *testing.T) {
	s, _ := startTLSEcho(t, nil)
	c := dialRec(t, s.Addr(), "/echo")
	c.out = c.rec.Seal(c.out[:0], wstest.Masked(true, frame.OpText, []byte("tampered")))
	c.out[len(c.out)-1] ^= 1
	c.nc.Write(c.out)
	c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, _ := io.ReadAll(c.nc)
	r, err := c.rec.Open(b)
	var ae *tlsrec.AlertError
	require.ErrorAs(t, err, &ae, "%d bytes: %v", len(b), r)
	assert.True(t, ae.Remote)
	assert.Equal(t, tlsrec.AlertBadRecordMAC, ae.Alert)
	eventually(t, 2*time.Second, func() bool { return s.Conns() == 0 }, "closed")
}

// A client that reads slowly: the server's sends queue (sealed head, then
// plaintext sealed as the socket drains) and arrive whole and in order.
func TestTLSQueuedSendsArriveInOrder(t *testing.T) {
	for _, max := range []uint16{0, tls.VersionTLS12} {
		t.Run(fmt.Sprintf("max-%x", max), func(t *testing.T) {
			s, h := startTLSEcho(t, func(o *Options) { o.TLS.MaxVersion = max; o.QueueCap = 64 << 20 })
			c, err := wstest.DialTLS(s.Addr().String(), "/echo", "", clientTLS(0))
			require.NoError(t, err)
			defer c.Close()
			<-h.opened
			conn := serverConn(t, s)
			const n = 300
			msgs := make([][]byte, n)
			var wg sync.WaitGroup
			wg.Add(1)
			go func() { // from another goroutine, as a hub would
				defer wg.Done()
				for i := range msgs {
					msgs[i] = bytes.Repeat([]byte{byte(i)}, 1000+i*131)
					if i%3 == 0 {
						conn.SendPrepared(Prepare(frame.OpBinary, msgs[i]))
					} else {
						conn.Send(frame.OpBinary, msgs[i])
					}
				}
			}()
			wg.Wait()
			assert.Positive(t, conn.Buffered(), "the socket did not take it all: a queue")
			for i := range n {
				_, p, err := c.ReadMessage(10 * time.Second)
				require.NoError(t, err, "message %d", i)
				require.True(t, bytes.Equal(msgs[i], p), "message %d", i)
			}
		})
	}
}

// With DropOldest, a TLS connection whose queue is full loses whole
// messages, never part of a record: what arrives decrypts, and every
// message that arrives is whole.
func TestTLSDropOldestKeepsRecordsWhole(t *testing.T) {
	s, h := startTLSEcho(t, func(o *Options) { o.QueueCap = 256 << 10; o.DropOldest = true })
	c, err := wstest.DialTLS(s.Addr().String(), "/echo", "", clientTLS(0))
	require.NoError(t, err)
	defer c.Close()
	<-h.opened
	conn := serverConn(t, s)
	for i := range 2000 {
		conn.Send(frame.OpBinary, bytes.Repeat([]byte{byte(i)}, 4000))
	}
	assert.Positive(t, s.Stats().QueueDrops)
	got := 0
	for {
		_, p, err := c.ReadMessage(time.Second)
		if err != nil {
			assert.ErrorContains(t, err, "no frame within")
			break
		}
		require.Len(t, p, 4000)
		require.Equal(t, bytes.Repeat(p[:1], 4000), p)
		got++
	}
	assert.Less(t, got, 2000)
	assert.Positive(t, got)
}

func x509Pool(t *testing.T, pem []byte) *x509.CertPool {
	p := x509.NewCertPool()
	require.True(t, p.AppendCertsFromPEM(pem))
	return p
}

// Bytes that arrive while crypto/tls is still busy with the handshake are
// kept for it, up to tlsPauseAt: then the loop stops reading until the
// handshake goroutine has taken them, and nothing is lost. The server's
// handshake is held in a client-certificate check while the client,
// already done, sends a request with a 2 MiB body.
func TestTLSReadsPauseDuringHandshake(t *testing.T) {
	release := make(chan struct{})
	routes := echoRoutes(&closeRecorder{})
	routes.HTTP = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		fmt.Fprintf(w, "%d", n)
	})
	s := startWith(t, func(o *Options) {
		o.TLS = serverTLS()
		o.TLS.ClientAuth = tls.RequireAnyClientCert
		o.TLS.VerifyConnection = func(tls.ConnectionState) error { <-release; return nil }
	}, routes)
	nc, err := net.Dial("tcp", s.Addr().String())
	require.NoError(t, err)
	defer nc.Close()
	cfg := clientTLS(0)
	cfg.Certificates = []tls.Certificate{testPair().Cert}
	tc := tls.Client(nc, cfg)
	require.NoError(t, tc.Handshake()) // done on this side: the server still checks
	body := randomBytes(2 << 20)
	go func() {
		fmt.Fprintf(tc, "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", len(body))
		tc.Write(body)
	}()
	paused := func() (p bool) {
		var mu sync.Mutex
		s.onLoops(func(l *loop) {
			for c := range l.conns.All {
				c.mu.Lock()
				if t := c.tlsOf(); t != nil && t.raw != nil && t.raw.paused {
					mu.Lock()
					p = true
					mu.Unlock()
				}
				c.mu.Unlock()
			}
		})
		return p
	}
	eventually(t, 5*time.Second, paused, "reads never paused")
	close(release)
	tc.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(tc), nil)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	assert.Equal(t, fmt.Sprint(len(body)), string(b), "every byte of the body arrived")
	assert.False(t, paused())
}

// An idle TLS 1.3 connection holds no AEAD objects: they go once the
// connection is open, come back with the next record, and go again after
// a whole idle pass without records.
func TestTLSIdleDropsCiphers(t *testing.T) {
	s, h := startTLSEcho(t, func(o *Options) { o.Loops = 1 })
	c := dialRec(t, s.Addr(), "/echo")
	<-h.opened
	conn := serverConn(t, s)
	holding := func() (h bool) { // on the loop, which owns the read half
		s.onLoops(func(*loop) {
			conn.mu.Lock()
			h = conn.tlsOf().rec.Holding()
			conn.mu.Unlock()
		})
		return h
	}
	pass := func() {
		s.onLoops(func(l *loop) {
			l.tls.lastIdle = l.e.clock() - tlsIdleEvery
			l.tlsIdle()
		})
	}
	eventually(t, 2*time.Second, func() bool { return !holding() }, "not dropped once open")
	c.write(wstest.Masked(true, frame.OpText, []byte("wake up")))
	_, p := c.message()
	assert.Equal(t, "wake up", string(p))
	assert.True(t, holding(), "rebuilt for the record")
	pass()
	assert.True(t, holding(), "used since the last pass: kept")
	pass()
	assert.False(t, holding(), "a whole pass idle: dropped")
	c.write(wstest.Masked(true, frame.OpText, []byte("again")))
	_, p = c.message()
	assert.Equal(t, "again", string(p), "records after a drop open and seal")
}

// A HelloRetryRequest (the client's key share is not for the group the
// server picks) means a second ClientHello: the handshake takes two round
// trips through the loop, and the connection works.
func TestTLSHelloRetryRequest(t *testing.T) {
	// crypto/tls orders the groups itself: the client's one share is
	// X25519's, and the server takes P-256 only.
	s, h := startTLSEcho(t, func(o *Options) { o.TLS.CurvePreferences = []tls.CurveID{tls.CurveP256} })
	cfg := clientTLS(0)
	cfg.CurvePreferences = []tls.CurveID{tls.CurveP256, tls.X25519}
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second, TLSClientConfig: cfg}
	c, _, err := d.Dial("wss://"+s.Addr().String()+"/echo", nil)
	require.NoError(t, err)
	defer c.Close()
	st := c.UnderlyingConn().(*tls.Conn).ConnectionState()
	assert.True(t, st.HelloRetryRequest, "a HelloRetryRequest happened")
	assert.Equal(t, tls.CurveP256, st.CurveID)
	assert.Equal(t, uint16(tls.VersionTLS13), (<-h.opened)[0])
	gorillaEcho(t, c)
}

// TLS 1.2 on both sides, 1 MiB messages echoed back and forth from the
// handlers: when crypto/tls holds more decrypted bytes than the loop's
// buffer took, the loop goes on reading them (it used to wait for the
// socket, which had nothing more to give: both sides stalled).
func TestTLS12LargeMessagesBothWays(t *testing.T) {
	s, _ := startTLSEcho(t, nil)
	cl, err := NewClient(Options{Loops: 2, TLS: clientTLS(tls.VersionTLS12)})
	require.NoError(t, err)
	defer cl.Close(time.Second)
	big := randomBytes(1 << 20)
	for conn := range 10 {
		got := make(chan []byte, 16)
		n := 0
		h := &funcHandler{
			open: func(c *Conn) { c.Send(frame.OpBinary, big) },
			msg: func(c *Conn, op frame.Opcode, p []byte) {
				got <- append([]byte(nil), p...)
				if n++; n < 10 {
					c.Send(frame.OpBinary, big)
				}
			},
		}
		c, err := cl.Dial(Target{Addr: s.Addr(), URI: "/echo", Host: "localhost", Handler: h})
		require.NoError(t, err)
		for k := range 10 {
			select {
			case p := <-got:
				require.True(t, bytes.Equal(big, p), "conn %d message %d", conn, k)
			case <-time.After(5 * time.Second):
				t.Fatalf("conn %d: no echo of message %d", conn, k)
			}
		}
		v, _ := c.TLS()
		assert.Equal(t, uint16(tls.VersionTLS12), v)
		c.Close(frame.CloseNormal, "")
	}
}
