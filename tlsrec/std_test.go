package tlsrec

// Against crypto/tls as the peer: the handshake is crypto/tls's on both
// sides, then one side continues with this package, keyed from the
// secrets crypto/tls logs.

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsd-dev/wsd/internal/testcert"
)

// keyLog keeps the application traffic secrets crypto/tls logs.
type keyLog struct {
	mu             sync.Mutex
	client, server []byte
}

func (k *keyLog) Write(line []byte) (int, error) {
	f := strings.Fields(string(line))
	if len(f) == 3 {
		s, _ := hex.DecodeString(f[2])
		k.mu.Lock()
		switch f[0] {
		case "CLIENT_TRAFFIC_SECRET_0":
			k.client = s
		case "SERVER_TRAFFIC_SECRET_0":
			k.server = s
		}
		k.mu.Unlock()
	}
	return len(line), nil
}

// recordReader hands crypto/tls one record per Read at most, so that it
// never reads past the end of the handshake: what follows is ours.
type recordReader struct {
	net.Conn
	left int // bytes left of the current record
	hdr  [5]byte
	nhdr int
}

func (r *recordReader) Read(p []byte) (int, error) {
	if r.left == 0 {
		if _, err := io.ReadFull(r.Conn, r.hdr[:]); err != nil {
			return 0, err
		}
		r.left = int(r.hdr[3])<<8 | int(r.hdr[4])
		r.nhdr = 5
	}
	if r.nhdr > 0 {
		n := copy(p, r.hdr[5-r.nhdr:])
		r.nhdr -= n
		return n, nil
	}
	n, err := r.Conn.Read(p[:min(len(p), r.left)])
	r.left -= n
	return n, err
}

// stdPeer is a handshake done by crypto/tls on both ends of a pipe, with
// our side's raw end and Conn, and the other side's tls.Conn.
type stdPeer struct {
	raw   net.Conn  // our side of the pipe
	ours  *Conn     // keyed from the log
	std   *tls.Conn // the other side
	suite uint16
}

func handshake(t *testing.T, oursIsServer bool, serverCfg, clientCfg *tls.Config) *stdPeer {
	t.Helper()
	a, b := tcpPair(t) // a: the client's end, b: the server's
	log := &keyLog{}
	var sconn, cconn *tls.Conn
	if oursIsServer {
		serverCfg.KeyLogWriter = log
		sconn, cconn = tls.Server(&recordReader{Conn: b}, serverCfg), tls.Client(a, clientCfg)
	} else {
		clientCfg.KeyLogWriter = log
		sconn, cconn = tls.Server(b, serverCfg), tls.Client(&recordReader{Conn: a}, clientCfg)
	}
	errc := make(chan error, 1)
	go func() { errc <- sconn.Handshake() }()
	require.NoError(t, cconn.Handshake())
	require.NoError(t, <-errc)
	st := cconn.ConnectionState()
	require.Equal(t, uint16(tls.VersionTLS13), st.Version)
	p := &stdPeer{ours: new(Conn), suite: st.CipherSuite}
	if oursIsServer {
		p.raw, p.std = b, cconn
		require.NoError(t, p.ours.Init(st.CipherSuite, log.client, log.server, true))
	} else {
		p.raw, p.std = a, sconn
		require.NoError(t, p.ours.Init(st.CipherSuite, log.server, log.client, false))
	}
	return p
}

// tcpPair is a loopback TCP connection: kernel buffers, unlike net.Pipe,
// let both sides write before the other reads, as crypto/tls's server
// does with its tickets.
func tcpPair(t *testing.T) (client, server net.Conn) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	client, err = net.Dial("tcp", l.Addr().String())
	require.NoError(t, err)
	server, err = l.Accept()
	require.NoError(t, err)
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

func configs(t *testing.T) (server, client *tls.Config) {
	pair, err := testcert.New("tlsrec test")
	require.NoError(t, err)
	return &tls.Config{Certificates: []tls.Certificate{pair.Cert}, SessionTicketsDisabled: true},
		&tls.Config{RootCAs: pair.Pool, ServerName: "localhost"}
}

// reader opens what arrives on raw with c, keeping partial records, and
// delivers the application data.
type reader struct {
	c      *Conn
	raw    net.Conn
	buf    []byte
	data   []byte
	result Result
}

// readOnce reads what arrives and opens the complete records.
func (r *reader) readOnce(t *testing.T) {
	t.Helper()
	if len(r.buf) == cap(r.buf) {
		r.buf = append(make([]byte, 0, 2*cap(r.buf)+MaxRecord), r.buf...)
	}
	r.raw.SetReadDeadline(time.Now().Add(10 * time.Second))
	k, err := r.raw.Read(r.buf[len(r.buf):cap(r.buf)])
	require.NoError(t, err)
	r.buf = r.buf[:len(r.buf)+k]
	res, err := r.c.Open(r.buf)
	require.NoError(t, err)
	r.data = append(r.data, r.buf[:res.N]...)
	r.buf = append(r.buf[:0], r.buf[res.Used:]...)
	r.result.UpdateRequested = r.result.UpdateRequested || res.UpdateRequested
	r.result.CloseNotify = res.CloseNotify
}

// readN reads until n bytes of data have arrived (or the peer closes).
func (r *reader) readN(t *testing.T, n int) []byte {
	t.Helper()
	for len(r.data) < n && !r.result.CloseNotify {
		r.readOnce(t)
	}
	out := r.data[:min(n, len(r.data))]
	r.data = r.data[len(out):]
	return out
}

// exchange runs data both ways between our Conn and crypto/tls, then a
// KeyUpdate that asks for crypto/tls's, then crypto/tls's close.
func exchange(t *testing.T, p *stdPeer) {
	rd := &reader{c: p.ours, raw: p.raw, buf: make([]byte, 0, 4096)}
	for _, n := range []int{1, 100, MaxPlaintext, MaxPlaintext + 1, 100000} {
		msg := make([]byte, n)
		rand.Read(msg)
		// crypto/tls → ours
		wrote := make(chan error, 1)
		go func() { _, err := p.std.Write(msg); wrote <- err }()
		assert.True(t, bytes.Equal(msg, rd.readN(t, n)), "%d bytes from crypto/tls", n)
		require.NoError(t, <-wrote)
		// ours → crypto/tls
		go p.raw.Write(p.ours.Seal(nil, msg))
		got := make([]byte, n)
		p.std.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err := io.ReadFull(p.std, got)
		require.NoError(t, err)
		assert.True(t, bytes.Equal(msg, got), "%d bytes to crypto/tls", n)
	}

	// Our KeyUpdate asks for crypto/tls's: it answers at once (inside its
	// Read), then writes under its new key.
	go p.raw.Write(p.ours.Seal(p.ours.SealKeyUpdate(nil, true), []byte("after our update")))
	got := make([]byte, len("after our update"))
	readDone := make(chan error, 1)
	go func() { _, err := io.ReadFull(p.std, got); readDone <- err }()
	for p.ours.in.seq != 0 { // until crypto/tls's KeyUpdate has been opened
		rd.readOnce(t)
	}
	require.NoError(t, <-readDone)
	assert.Equal(t, "after our update", string(got))
	wrote := make(chan error, 1)
	go func() { _, err := p.std.Write([]byte("after its update")); wrote <- err }()
	assert.Equal(t, "after its update", string(rd.readN(t, len("after its update"))))
	require.NoError(t, <-wrote) // done: a Close during a Write sends no close_notify
	rseq, wseq := p.ours.Seqs()
	assert.Equal(t, uint64(1), rseq, "our read key was updated by crypto/tls's KeyUpdate")
	assert.Equal(t, uint64(1), wseq, "our write key was updated")

	// crypto/tls closes: close_notify.
	go p.std.Close()
	rd.readN(t, 1)
	assert.True(t, rd.result.CloseNotify)
}

func TestAgainstStdAsServer(t *testing.T) {
	sc, cc := configs(t)
	p := handshake(t, true, sc, cc)
	assert.Equal(t, tls.TLS_AES_128_GCM_SHA256, p.suite, "crypto/tls with AES hardware prefers AES-128-GCM")
	exchange(t, p)
}

// As a client against a crypto/tls server that sends session tickets:
// they arrive after the handshake, under the application key, and are
// dropped.
func TestAgainstStdAsClientWithTickets(t *testing.T) {
	sc, cc := configs(t)
	sc.SessionTicketsDisabled = false
	cc.ClientSessionCache = tls.NewLRUClientSessionCache(4) // so that crypto/tls sends tickets
	p := handshake(t, false, sc, cc)
	exchange(t, p)
}

// ChaCha20-Poly1305 against crypto/tls: a crypto/tls without AES
// hardware (GODEBUG=cpu.aes=off) puts it first, and crypto/tls on the
// other side follows the client. The test runs itself in a child process
// with the setting.
func TestAgainstStdChaCha(t *testing.T) {
	if os.Getenv("TLSREC_CHACHA_CHILD") == "1" {
		for _, server := range []bool{true, false} {
			sc, cc := configs(t)
			p := handshake(t, server, sc, cc)
			require.Equal(t, tls.TLS_CHACHA20_POLY1305_SHA256, p.suite)
			exchange(t, p)
		}
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestAgainstStdChaCha$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "TLSREC_CHACHA_CHILD=1", "GODEBUG=cpu.aes=off")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "--- PASS: TestAgainstStdChaCha")
}
