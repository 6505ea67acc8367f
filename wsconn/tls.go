package wsconn

// TLS on the event loops.
//
// The handshake is crypto/tls's, run in a goroutine that exists only while
// the handshake is in flight (about one round trip): it talks to a rawConn,
// a net.Conn whose Read waits until the loop hands it bytes — one TLS
// record per Read at most, so that crypto/tls never reads past the end of
// the handshake — and whose Write goes to the socket under the
// connection's lock, queued when the socket is full. A loop runs at most
// tlsHandshakesPerLoop handshakes at once; beyond that a connection waits,
// its first bytes kept, until one ends. The goroutine posts the outcome to
// the loop and exits.
//
// Then, for TLS 1.3, crypto/tls's Conn is dropped and package tlsrec runs
// the records on the loop, keyed with the application traffic secrets
// that crypto/tls wrote to a key log made for this connection
// (Config.KeyLogWriter, set per connection through GetConfigForClient).
// Session tickets are off (SessionTicketsDisabled): a TLS 1.3 server sends
// its tickets under the application key right after its Finished, and
// without them nothing has been sealed with that key when the loop takes
// over, so both sequence numbers start at 0. Reads are decrypted in place
// in the loop's buffer; only a partial record is kept per connection
// (a pooled buffer, nil when there is none). Writes are sealed into a
// pooled buffer and written; what the socket does not take is queued.
//
// TLS 1.2 connections keep crypto/tls's Conn after the handshake, driven
// from the loop: its Read is called only with the bytes of this read at
// hand and gets a "would block" net.Error (Temporary) when they run out,
// which crypto/tls does not keep as an error. They cost more memory.
//
// The queue of a TLS connection holds plaintext, sealed when it is
// written, except its first segment when tlsConn.sealedHead says so:
// sealed bytes the socket took in part (or a handshake flight). So the
// slow-consumer policies work on whole messages as without TLS, and a
// shared frame (SendPrepared) is queued by reference.

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/poller"
	"github.com/wsd-dev/wsd/tlsrec"
)

const (
	// tlsHandshakesPerLoop caps the handshakes a loop runs at once (each
	// a goroutine with crypto/tls's state, ~30 KB).
	tlsHandshakesPerLoop = 256
	// A handshake's input is kept until crypto/tls reads it: reads pause
	// at tlsPauseAt, resumed at half of it.
	tlsPauseAt = 256 << 10
	// sealChunk is the plaintext sealed per write: four full records.
	sealChunk = 4 * tlsrec.MaxPlaintext
	// sealBufSize holds a sealed chunk with room for KeyUpdates, and for
	// crypto/tls's TLS 1.2 records (29 bytes each).
	sealBufSize = sealChunk + 4096
)

// TLS states of a connection.
const (
	tsWaiting   uint8 = iota // no handshake goroutine yet: no bytes yet (server), or waiting for a slot
	tsHandshake              // crypto/tls's handshake runs in its goroutine
	ts13                     // TLS 1.3: tlsrec on the loop
	ts12                     // TLS 1.2: crypto/tls's Conn on the loop
	tsClosed                 // close_notify sent, or a fatal alert: nothing more is sealed
)

var (
	sealBufs  = sync.Pool{New: func() any { b := make([]byte, 0, sealBufSize); return &b }}
	stashBufs = sync.Pool{New: func() any { return new([tlsrec.MaxRecord]byte) }}
)

// tlsConn is a TLS connection's state, kept in its extra.
type tlsConn struct {
	rec        tlsrec.Conn // TLS 1.3 after the handshake
	raw        *rawConn    // under crypto/tls: during the handshake, and for TLS 1.2 after it
	std        *tls.Conn   // TLS 1.2 after the handshake
	stash      *[tlsrec.MaxRecord]byte
	stashN     int32 // bytes of a partial record in stash (loop only)
	state      uint8
	queued     bool // in its loop's list of connections waiting for a handshake slot
	sealedHead bool // the queue's first segment is sealed bytes (under mu)
	readUsed   bool // records were opened since the last idle pass (loop only)
	writeUsed  bool // records were sealed since the last idle pass (under mu)
}

// tlsEngine is an engine's TLS configuration.
type tlsEngine struct {
	server *tls.Config // the server's: per-connection key logs through GetConfigForClient
	client *tls.Config // the client's: cloned per dial with its key log
}

// loopTLS is a loop's share of the TLS work. Loop goroutine only.
type loopTLS struct {
	inflight int     // handshake goroutines running
	waiting  []*Conn // connections waiting for a slot
	plain    []byte  // TLS 1.2: what crypto/tls decrypts, before it is parsed
	lastIdle uint32  // when tlsIdle last passed (engine clock)
}

// tlsIdleEvery is how often a loop looks for TLS 1.3 connections that
// neither read nor wrote a record since its last look: they let their
// AEAD objects go (rebuilt on the next record). An AES-GCM object is
// ~900 bytes, two per connection — most of what an idle TLS connection
// would hold — while a busy connection keeps its own.
const tlsIdleEvery = 2000 // ms

// newTLSEngine prepares the configuration for a role. The caller's
// config is not changed.
func newTLSEngine(cfg *tls.Config, server bool) *tlsEngine {
	base := cfg.Clone()
	base.SessionTicketsDisabled = true
	base.DynamicRecordSizingDisabled = true // full records: the seal buffer's sizes hold
	if base.MinVersion < tls.VersionTLS12 {
		base.MinVersion = tls.VersionTLS12
	}
	if len(base.NextProtos) == 0 || server {
		base.NextProtos = []string{"http/1.1"} // WebSocket and the HTTP hand-off speak HTTP/1.1 only
	}
	te := &tlsEngine{}
	if !server {
		te.client = base
		return te
	}
	userGet, userLog := base.GetConfigForClient, base.KeyLogWriter
	base.GetConfigForClient = func(hi *tls.ClientHelloInfo) (*tls.Config, error) {
		raw, ok := hi.Conn.(*rawConn)
		if !ok {
			return nil, nil
		}
		cfg := base
		if userGet != nil {
			c, err := userGet(hi)
			if err != nil {
				return nil, err
			}
			if c != nil {
				cfg = c
			}
		}
		per := cfg.Clone()
		per.GetConfigForClient = nil
		per.SessionTicketsDisabled = true
		per.KeyLogWriter = keyLog{raw, userLog}
		return per, nil
	}
	te.server = base
	return te
}

// clientConfig is the client's config for one dial, with its key log.
func (te *tlsEngine) clientConfig(raw *rawConn) *tls.Config {
	c := te.client.Clone()
	c.KeyLogWriter = keyLog{raw, te.client.KeyLogWriter}
	return c
}

// keyLog takes a connection's TLS 1.3 application traffic secrets from
// crypto/tls's key log lines ("LABEL <client random> <secret>", in hex),
// and passes every line on to the application's own key log, if any.
type keyLog struct {
	raw  *rawConn
	next io.Writer
}

func (k keyLog) Write(line []byte) (int, error) {
	if k.next != nil {
		k.next.Write(line)
	}
	label, rest, _ := bytes.Cut(line, []byte{' '})
	_, secret, _ := bytes.Cut(rest, []byte{' '})
	secret = bytes.TrimRight(secret, "\n")
	i := -1
	switch string(label) {
	case "CLIENT_TRAFFIC_SECRET_0":
		i = 0
	case "SERVER_TRAFFIC_SECRET_0":
		i = 1
	}
	if i >= 0 && len(secret)%2 == 0 {
		s := make([]byte, len(secret)/2)
		for j := range s {
			s[j] = unhex(secret[2*j])<<4 | unhex(secret[2*j+1])
		}
		k.raw.secrets[i] = s // the handshake goroutine's; the loop reads it after the handshake's Post
	}
	return len(line), nil
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}

// errWouldBlock tells crypto/tls, driven from the loop, that the bytes at
// hand ran out: a Temporary net.Error, which it does not keep as the
// connection's error.
var errWouldBlock net.Error = wouldBlock{}

type wouldBlock struct{}

func (wouldBlock) Error() string   { return "wsconn: would block" }
func (wouldBlock) Timeout() bool   { return true }
func (wouldBlock) Temporary() bool { return true }

// rawConn is the net.Conn under crypto/tls. During the handshake its Read
// and Write run on the handshake goroutine and take the connection's
// lock; for TLS 1.2 after it (done) the loop calls crypto/tls with the
// lock held; after an HTTP hand-off (nc) they go to the socket.
type rawConn struct {
	c       *Conn
	cond    sync.Cond // L is &c.mu: the handshake goroutine waits for bytes
	in      []byte    // bytes for crypto/tls (under mu)
	recLeft int       // bytes left of the record crypto/tls is reading
	aborted bool      // the connection ended: Read returns EOF
	eof     bool      // the peer closed: Read returns EOF once in is used up
	paused  bool      // the loop stopped reading: in is full, or the peer closed
	done    bool      // the handshake is over (TLS 1.2 on the loop)
	secrets [2][]byte // the client's and the server's application traffic secrets
	pend    []byte    // TLS 1.2: this read's bytes
	capture bool      // TLS 1.2: the loop seals: Write appends to out
	out     []byte
	nc      net.Conn // after the HTTP hand-off: the socket itself
	pendOut []byte   // after the hand-off: sealed bytes the loop had queued, written first
}

func (r *rawConn) Read(p []byte) (int, error) {
	if r.nc != nil || r.done {
		src := &r.in
		if len(r.in) == 0 {
			if r.nc != nil {
				return r.nc.Read(p)
			}
			src = &r.pend
		}
		if len(*src) == 0 {
			return 0, errWouldBlock
		}
		n := copy(p, *src)
		*src = (*src)[n:]
		return n, nil
	}
	c := r.c
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		if r.aborted {
			return 0, io.EOF
		}
		if r.recLeft == 0 && len(r.in) >= tlsrec.HeaderLen {
			r.recLeft = tlsrec.HeaderLen + (int(r.in[3])<<8 | int(r.in[4]))
		}
		if r.recLeft > 0 && len(r.in) > 0 {
			break
		}
		if r.eof {
			return 0, io.EOF
		}
		r.cond.Wait()
	}
	n := copy(p, r.in[:min(len(r.in), r.recLeft)])
	r.in = r.in[n:]
	r.recLeft -= n
	if len(r.in) == 0 {
		r.in = nil
	}
	if r.paused && !r.eof && len(r.in) < tlsPauseAt/2 {
		r.paused = false
		c.readOnLocked(true)
	}
	return n, nil
}

func (r *rawConn) Write(b []byte) (int, error) {
	if r.nc != nil {
		if len(r.pendOut) > 0 {
			if _, err := r.nc.Write(r.pendOut); err != nil {
				return 0, err
			}
			r.pendOut = nil
		}
		return r.nc.Write(b)
	}
	c := r.c
	if r.done {
		if r.capture {
			r.out = append(r.out, b...)
		} else {
			c.writeSealedLocked(b)
		}
		return len(b), nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if r.aborted || c.flags.Load()&fClosed != 0 {
		return 0, net.ErrClosed
	}
	c.writeSealedLocked(b)
	return len(b), nil
}

func (r *rawConn) Close() error {
	if r.nc != nil {
		return r.nc.Close()
	}
	return nil
}

func (r *rawConn) LocalAddr() net.Addr {
	if r.nc != nil {
		return r.nc.LocalAddr()
	}
	return &net.TCPAddr{}
}

func (r *rawConn) RemoteAddr() net.Addr {
	if r.nc != nil {
		return r.nc.RemoteAddr()
	}
	return net.TCPAddrFromAddrPort(r.c.RemoteAddr())
}

func (r *rawConn) SetDeadline(t time.Time) error {
	if r.nc != nil {
		return r.nc.SetDeadline(t)
	}
	return nil
}

func (r *rawConn) SetReadDeadline(t time.Time) error {
	if r.nc != nil {
		return r.nc.SetReadDeadline(t)
	}
	return nil
}

func (r *rawConn) SetWriteDeadline(t time.Time) error {
	if r.nc != nil {
		return r.nc.SetWriteDeadline(t)
	}
	return nil
}

// readOnLocked turns reading on or off, keeping EPOLLOUT as it is. The
// caller holds mu.
func (c *Conn) readOnLocked(on bool) {
	var ev uint32
	if on {
		ev = poller.In | poller.RdHup
	}
	if c.flags.Load()&fWantOut != 0 {
		ev |= poller.Out
	}
	c.l.pl.Mod(int(c.fd), ev)
}

// newTLSConn gives a new connection its TLS state, before it is
// registered.
func (c *Conn) newTLSConn() {
	t := &tlsConn{raw: &rawConn{c: c}}
	t.raw.cond.L = &c.mu
	c.extraLocked().tls = t
	c.flags.Store(c.flags.Load() | fTLS)
}

// tlsOf returns c's TLS state, nil once the connection is closed.
func (c *Conn) tlsOf() *tlsConn {
	if x := c.x.Load(); x != nil {
		return x.tls
	}
	return nil
}

// TLS returns the TLS version and cipher suite of the connection, zeros
// without TLS or before the handshake is done.
func (c *Conn) TLS() (version, cipherSuite uint16) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.tlsOf()
	if t == nil {
		return 0, 0
	}
	switch t.state {
	case ts13:
		return tls.VersionTLS13, t.rec.Suite()
	case ts12:
		st := t.std.ConnectionState()
		return st.Version, st.CipherSuite
	}
	return 0, 0
}

// readableTLS handles an In (or hang-up) event of a TLS connection: one
// read into the loop's buffer, after the partial record kept from the
// last, then the bytes go through TLS. Loop goroutine only.
func (c *Conn) readableTLS() {
	t := c.tlsOf()
	if t == nil {
		return
	}
	l := c.l
	buf := l.pl.Buf
	k := 0
	if t.state == tsWaiting || t.state == tsHandshake {
		// crypto/tls has not read what is here yet: no more until it has
		// (a client cannot send much before our ServerHello, but a request
		// body may follow its Finished at once).
		c.mu.Lock()
		over := len(t.raw.in) >= tlsPauseAt
		if over && t.state == tsHandshake {
			t.raw.paused = true
			c.readOnLocked(false)
		}
		c.mu.Unlock()
		if over {
			if t.state == tsWaiting {
				c.closeNow(frame.CloseAbnormal, "TLS: too much sent before the handshake began")
			}
			return
		}
	} else if t.stash != nil {
		k = copy(buf, t.stash[:t.stashN])
	}
	n, err := poller.Read(int(c.fd), buf[k:])
	if err == poller.ErrAgain || err == poller.ErrIntr {
		return
	}
	if n <= 0 {
		if t.state == tsHandshake {
			// crypto/tls reads what is left, then EOF, and says what went
			// wrong (the peer's alert, say); reads resume when it is done.
			c.mu.Lock()
			t.raw.eof, t.raw.paused = true, true
			t.raw.cond.Signal()
			c.readOnLocked(false)
			c.mu.Unlock()
			return
		}
		c.dropped()
		return
	}
	l.stats.bytesIn.Add(int64(n))
	c.heard()
	if t.stash != nil {
		stashBufs.Put(t.stash)
		t.stash, t.stashN = nil, 0
	}
	c.tlsInput(t, buf[:k+n])
}

// tlsInput takes bytes read (after the partial record kept from before):
// to the handshake, or decrypted and on to the state's parser.
func (c *Conn) tlsInput(t *tlsConn, data []byte) {
	switch t.state {
	case tsWaiting, tsHandshake:
		c.mu.Lock()
		t.raw.in = append(t.raw.in, data...)
		t.raw.cond.Signal()
		c.mu.Unlock()
		if t.state == tsWaiting && !c.IsClient() {
			c.tlsStart(t) // the ClientHello is here
		}
	case ts13:
		c.tls13Input(t, data)
	case ts12:
		c.tls12Input(t, data)
	}
}

// tlsIdle drops the ciphers of the loop's TLS 1.3 connections that were
// idle since the last pass. Loop goroutine only.
func (l *loop) tlsIdle() {
	if l.e.tls == nil {
		return
	}
	now := l.e.clock()
	if now-l.tls.lastIdle < tlsIdleEvery {
		return
	}
	l.tls.lastIdle = now
	for c := range l.conns.All {
		if c.flags.Load()&fClosed != 0 {
			continue
		}
		c.mu.Lock()
		if t := c.tlsOf(); t != nil && t.state == ts13 {
			if !t.readUsed && !t.writeUsed && t.stash == nil && c.queued().empty() {
				t.rec.Drop()
			}
			t.readUsed, t.writeUsed = false, false
		}
		c.mu.Unlock()
	}
}

// tls13Input opens the records of data in place and parses their data.
func (c *Conn) tls13Input(t *tlsConn, data []byte) {
	t.readUsed = true
	r, err := t.rec.Open(data)
	if err == nil && !r.CloseNotify && r.Used < len(data) {
		t.stash = stashBufs.Get().(*[tlsrec.MaxRecord]byte)
		t.stashN = int32(copy(t.stash[:], data[r.Used:]))
	}
	if r.UpdateRequested {
		c.mu.Lock()
		if c.queued().empty() {
			c.sealLocked(t, nil, nil, nil) // just our KeyUpdate
		} // else the next flush seals it first
		c.mu.Unlock()
	}
	if r.N > 0 {
		opening := c.state == stHandshake
		c.dispatch(data[:r.N])
		if opening && c.state == stOpen {
			c.mu.Lock()
			if t.stash == nil && c.queued().empty() {
				t.rec.Drop() // most connections are idle once open: rebuilt when one is not
			}
			c.mu.Unlock()
		}
	}
	if c.flags.Load()&fClosed != 0 {
		return
	}
	switch {
	case err != nil:
		c.tlsFailed(t, err)
	case r.CloseNotify:
		c.dropped()
	}
}

// tls12Input hands data to crypto/tls and parses what it decrypts.
func (c *Conn) tls12Input(t *tlsConn, data []byte) {
	l := c.l
	if l.tls.plain == nil {
		l.tls.plain = make([]byte, 0, l.e.opt.ReadBuffer)
	}
	for {
		plain := l.tls.plain[:0]
		var rerr error
		c.mu.Lock()
		t.raw.pend = data
		for len(plain) < cap(plain) {
			n, err := t.std.Read(plain[len(plain):cap(plain)])
			plain = plain[:len(plain)+n]
			if err != nil {
				if err != errWouldBlock {
					rerr = err
				}
				break
			}
		}
		data = t.raw.pend
		t.raw.pend = nil
		c.mu.Unlock()
		if len(plain) > 0 {
			c.dispatch(plain)
		}
		if c.flags.Load()&fClosed != 0 {
			return
		}
		switch {
		case rerr == io.EOF:
			c.dropped() // close_notify
			return
		case rerr != nil:
			c.tlsFailed(t, rerr)
			return
		case len(plain) < cap(plain):
			return // crypto/tls ran out of bytes
		}
		// The buffer filled up: crypto/tls may hold more of what it
		// decrypted, with no more bytes to come from the socket.
	}
}

// tlsFailed ends a connection whose TLS broke after the handshake: our
// alert for a violation found here, then the socket is closed.
func (c *Conn) tlsFailed(t *tlsConn, err error) {
	var ae *tlsrec.AlertError
	if errors.As(err, &ae) && !ae.Remote && t.state == ts13 {
		c.mu.Lock()
		if c.queued().empty() {
			buf := sealBufs.Get().(*[]byte)
			out := t.rec.SealAlert((*buf)[:0], ae.Alert)
			poller.Write(int(c.fd), out, nil, nil)
			sealBufs.Put(buf)
		}
		t.state = tsClosed // no close_notify after a fatal alert
		c.mu.Unlock()
	}
	c.l.stats.protocolErrors.Add(1)
	c.closeNow(frame.CloseAbnormal, "TLS: "+err.Error())
}

// tlsStart starts the connection's handshake if its loop has a slot, else
// queues it. Loop goroutine only.
func (c *Conn) tlsStart(t *tlsConn) {
	l := c.l
	if l.tls.inflight >= tlsHandshakesPerLoop {
		if !t.queued {
			t.queued = true
			l.tls.waiting = append(l.tls.waiting, c)
		}
		return
	}
	l.tls.inflight++
	t.state = tsHandshake
	raw, te := t.raw, l.e.tls
	client := c.IsClient()
	go func() {
		var tc *tls.Conn
		if client {
			tc = tls.Client(raw, te.clientConfig(raw))
		} else {
			tc = tls.Server(raw, te.server)
		}
		err := tc.Handshake()
		l.pl.Post(func() { c.tlsHandshakeDone(t, tc, err) })
	}()
}

// tlsNext starts waiting handshakes while the loop has slots.
func (l *loop) tlsNext() {
	w := l.tls.waiting
	for len(w) > 0 && l.tls.inflight < tlsHandshakesPerLoop {
		c := w[0]
		w[0] = nil
		w = w[1:]
		if t := c.tlsOf(); t != nil && c.flags.Load()&fClosed == 0 {
			t.queued = false
			c.tlsStart(t)
		}
	}
	if len(w) == 0 {
		w = l.tls.waiting[:0]
	}
	l.tls.waiting = w
}

// tlsHandshakeDone takes over from crypto/tls once its handshake ended.
// Loop goroutine only.
func (c *Conn) tlsHandshakeDone(t *tlsConn, tc *tls.Conn, err error) {
	l := c.l
	l.tls.inflight--
	l.tlsNext()
	if c.flags.Load()&fClosed != 0 {
		return
	}
	if err != nil {
		c.tlsHandshakeFailed(err)
		return
	}
	st := tc.ConnectionState()
	client := c.IsClient()
	c.mu.Lock()
	raw := t.raw
	rest := raw.in
	raw.in = nil
	if raw.paused {
		raw.paused = false
		c.readOnLocked(true)
	}
	if st.Version == tls.VersionTLS13 {
		read, write := raw.secrets[0], raw.secrets[1]
		if client {
			read, write = write, read
		}
		if err = t.rec.Init(st.CipherSuite, read, write, !client); err == nil {
			t.raw, t.state = nil, ts13
		}
	} else {
		t.std, t.state = tc, ts12
		raw.done = true
	}
	c.mu.Unlock()
	if err != nil {
		c.tlsHandshakeFailed(err)
		return
	}
	if !c.queued().empty() {
		c.mu.Lock()
		c.armOutLocked() // plaintext sent before the handshake was done
		c.mu.Unlock()
	}
	l.stats.tlsHandshakes.Add(1)
	if client {
		c.request()
	}
	if len(rest) > 0 && c.flags.Load()&fClosed == 0 {
		c.tlsInput(t, rest) // what came after the peer's Finished
	}
}

// tlsHandshakeFailed ends a connection whose handshake failed. A plain
// HTTP request to the TLS port gets a 400 that says so, in plain text, as
// net/http answers one.
func (c *Conn) tlsHandshakeFailed(err error) {
	c.l.stats.handshakeErrors.Add(1)
	if c.IsClient() {
		c.dialFailed(&DialError{Stage: "tls", Err: err})
		return
	}
	var rh tls.RecordHeaderError
	if errors.As(err, &rh) && looksLikeHTTP(rh.RecordHeader[:]) {
		c.mu.Lock()
		c.write(nil, nil, []byte("HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"))
		c.mu.Unlock()
		err = errors.New("a plain HTTP request to the TLS port")
	}
	c.l.e.opt.Logger.Debug("TLS handshake failed", "remote", c.RemoteAddr().String(), "err", err)
	c.closeNow(frame.CloseAbnormal, "TLS handshake: "+err.Error())
}

func looksLikeHTTP(h []byte) bool {
	switch string(h) {
	case "GET /", "HEAD ", "POST ", "PUT /", "OPTIO", "DELET", "PATCH", "CONNE":
		return true
	}
	return false
}

// writeSealedLocked writes bytes that are already sealed (crypto/tls's
// records) after whatever is queued. The caller holds mu.
func (c *Conn) writeSealedLocked(b []byte) {
	t := c.tlsOf()
	if t == nil || c.flags.Load()&fClosed != 0 {
		return
	}
	if q := c.queued(); !q.empty() {
		if t.sealedHead && len(q.segs) == 1 {
			q.segs[0] = append(q.segs[0], b...)
			q.bytes += len(b)
		}
		// Behind queued plaintext only an alert of crypto/tls's can come
		// (TLS 1.2, as the connection fails): it is dropped.
		return
	}
	n, ok := c.write(nil, nil, b)
	if ok && n < len(b) {
		c.pushSealedHead(t, b[n:])
	}
}

// pushSealedHead puts a copy of sealed bytes the socket did not take at
// the queue's front.
func (c *Conn) pushSealedHead(t *tlsConn, b []byte) {
	q := &c.extraLocked().q
	q.segs = append(q.segs, nil)
	copy(q.segs[1:], q.segs)
	q.segs[0] = append([]byte(nil), b...)
	q.bytes += len(b)
	t.sealedHead = true
	c.armOutLocked()
}

// armOutLocked asks for EPOLLOUT. The caller holds mu.
func (c *Conn) armOutLocked() {
	if c.flags.Load()&fWantOut == 0 {
		c.setFlag(fWantOut)
		c.l.pl.Mod(int(c.fd), poller.In|poller.RdHup|poller.Out)
	}
}

// sendTLSLocked is sendLocked for a TLS connection: hdr+payload go after
// what is queued (as plaintext, copied), or into the cork, or are sealed
// and written. The caller holds mu.
func (c *Conn) sendTLSLocked(hdr, payload []byte) {
	t := c.tlsOf()
	if t == nil || t.state == tsClosed {
		return
	}
	if !c.queued().empty() || t.state < ts13 {
		if c.admit(len(hdr) + len(payload)) {
			c.push(join(hdr, payload))
		}
		return
	}
	cork, gathered := c.gather(hdr, payload)
	if gathered {
		return
	}
	if a, b, d := c.sealLocked(t, cork, hdr, payload); len(a)+len(b)+len(d) > 0 {
		c.push(join3(a, b, d))
	}
}

// sendTLSSharedLocked is sendSharedLocked for a TLS connection: the
// immutable frame b is queued by reference when it must wait. The caller
// holds mu.
func (c *Conn) sendTLSSharedLocked(b []byte) {
	t := c.tlsOf()
	if t == nil || t.state == tsClosed {
		return
	}
	if !c.queued().empty() || t.state < ts13 {
		if c.admit(len(b)) {
			c.push(b)
		}
		return
	}
	cork, gathered := c.gather(nil, b)
	if gathered {
		return
	}
	a, _, d := c.sealLocked(t, cork, nil, b)
	switch {
	case len(a) > 0:
		c.push(join3(a, nil, d))
	case len(d) > 0:
		c.push(d)
	}
}

// sealLocked seals a, b and d (their concatenation) a chunk at a time and
// writes each chunk. When the socket does not take a chunk whole, the
// rest of it goes to the queue's front, sealed, and the plaintext not yet
// sealed is returned for the caller to queue (nothing when the queue cap
// refused it, or the socket broke). With nothing to seal it sends a
// KeyUpdate the peer asked for, if any. The caller holds mu and the queue
// is empty.
func (c *Conn) sealLocked(t *tlsConn, a, b, d []byte) (ra, rb, rd []byte) {
	buf := sealBufs.Get().(*[]byte)
	defer sealBufs.Put(buf)
	t.writeUsed = true
	total := len(a) + len(b) + len(d)
	for first := true; first || total > 0; first = false {
		// Take up to sealChunk bytes of a, b, d.
		n := min(total, sealChunk)
		pa := a[:min(len(a), n)]
		pb := b[:min(len(b), n-len(pa))]
		pd := d[:min(len(d), n-len(pa)-len(pb))]
		a, b, d = a[len(pa):], b[len(pb):], d[len(pd):]
		total -= n
		out := t.seal((*buf)[:0], pa, pb, pd)
		*buf = out[:0] // keep a grown buffer
		if len(out) == 0 {
			return nil, nil, nil
		}
		w, ok := c.write(nil, nil, out)
		if !ok {
			return nil, nil, nil
		}
		if w < len(out) {
			// Admit the plaintext left while the queue is still empty, as
			// the plain path admits what a write left.
			admitted := total == 0 || c.admit(total)
			c.pushSealedHead(t, out[w:])
			if !admitted {
				return nil, nil, nil
			}
			return a, b, d
		}
	}
	return nil, nil, nil
}

func join3(a, b, c []byte) []byte {
	seg := make([]byte, 0, len(a)+len(b)+len(c))
	return append(append(append(seg, a...), b...), c...)
}

// seal appends the records carrying a, b and c to dst. The caller holds
// mu.
func (t *tlsConn) seal(dst, a, b, c []byte) []byte {
	if t.state == ts13 {
		return t.rec.Seal(dst, a, b, c)
	}
	// TLS 1.2: crypto/tls seals; its writes land in dst. The plaintext
	// goes to it through a pooled copy: handed to crypto/tls, the
	// caller's bytes (often on its stack) would escape to the heap.
	pb := sealBufs.Get().(*[]byte)
	p := append(append(append((*pb)[:0], a...), b...), c...)
	r := t.raw
	r.capture, r.out = true, dst
	if len(p) > 0 {
		t.std.Write(p)
	}
	dst = r.out
	r.capture, r.out = false, nil
	*pb = p[:0]
	sealBufs.Put(pb)
	return dst
}

// flushTLS writes the queue on EPOLLOUT: the sealed head, then the
// plaintext sealed a chunk at a time. Loop goroutine only.
func (c *Conn) flushTLS() {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.tlsOf()
	if t == nil || c.flags.Load()&fClosed != 0 {
		return
	}
	q := c.queued()
	for !q.empty() {
		if t.sealedHead {
			n, err := poller.Write(int(c.fd), q.segs[0], nil, nil)
			if err != nil {
				if err != poller.ErrAgain {
					poller.ShutdownBoth(int(c.fd)) // the read side reports it
				}
				return
			}
			c.l.stats.bytesOut.Add(int64(n))
			q.bytes -= n
			if n < len(q.segs[0]) {
				q.segs[0] = q.segs[0][n:]
				continue
			}
			q.segs[0] = nil
			q.segs = q.segs[1:]
			t.sealedHead = false
			continue
		}
		if t.state < ts13 {
			// Nothing is sealed before the handshake is done; it arms
			// EPOLLOUT again then.
			c.clearFlag(fWantOut)
			c.l.pl.Mod(int(c.fd), poller.In|poller.RdHup)
			return
		}
		// Seal whole segments up to a chunk (or a chunk of the first).
		k, size := 0, 0
		for k < len(q.segs) && (k == 0 || size+len(q.segs[k]) <= sealChunk) {
			size += len(q.segs[k])
			k++
		}
		var part []byte
		if size > sealChunk { // one segment, larger than a chunk
			part = q.segs[0][:sealChunk]
			q.segs[0] = q.segs[0][sealChunk:]
			size = sealChunk
			k = 0
		}
		buf := sealBufs.Get().(*[]byte)
		t.writeUsed = true
		var out []byte
		if part != nil {
			out = t.seal((*buf)[:0], part, nil, nil)
		} else {
			out = t.sealSegs((*buf)[:0], q.segs[:k])
			clear(q.segs[:k])
			q.segs = q.segs[k:]
		}
		q.bytes -= size
		n, err := poller.Write(int(c.fd), out, nil, nil)
		if err != nil && err != poller.ErrAgain {
			sealBufs.Put(buf)
			poller.ShutdownBoth(int(c.fd))
			return
		}
		n = max(n, 0)
		c.l.stats.bytesOut.Add(int64(n))
		if n < len(out) {
			q.segs = append(q.segs, nil)
			copy(q.segs[1:], q.segs)
			q.segs[0] = append([]byte(nil), out[n:]...)
			q.bytes += len(out) - n
			t.sealedHead = true
		}
		*buf = out[:0]
		sealBufs.Put(buf)
		if n < len(out) {
			return
		}
	}
	if q.empty() && t.state == ts13 {
		c.sealLocked(t, nil, nil, nil) // a KeyUpdate the peer asked for while data was queued
	}
	if !q.empty() {
		return
	}
	if q != nil {
		*q = queue{}
		c.trimExtra()
	}
	if c.flags.Load()&fWantOut != 0 {
		c.clearFlag(fWantOut)
		c.l.pl.Mod(int(c.fd), poller.In|poller.RdHup)
	}
	if c.flags.Load()&fShutAfterFlush != 0 {
		c.shutWriteLocked()
	}
}

// sealSegs seals whole queued segments.
func (t *tlsConn) sealSegs(dst []byte, segs [][]byte) []byte {
	if t.state == ts13 {
		return t.rec.Seal(dst, segs...)
	}
	for _, s := range segs {
		dst = t.seal(dst, s, nil, nil)
	}
	return dst
}

// tlsCloseLocked runs as the connection ends (the caller holds mu, the
// socket is still open): a handshake in flight is woken to fail, an
// established connection with nothing queued sends close_notify, the
// partial record goes back to its pool.
func (c *Conn) tlsCloseLocked(t *tlsConn) {
	switch t.state {
	case tsWaiting, tsHandshake:
		t.raw.aborted = true
		t.raw.cond.Broadcast()
	case ts13, ts12:
		if c.queued().empty() {
			c.closeNotifyLocked(t)
		}
	}
	if t.stash != nil {
		stashBufs.Put(t.stash)
		t.stash, t.stashN = nil, 0
	}
}

// closeNotifyLocked writes close_notify (best effort) once.
func (c *Conn) closeNotifyLocked(t *tlsConn) {
	switch t.state {
	case ts13:
		buf := sealBufs.Get().(*[]byte)
		out := t.rec.SealAlert((*buf)[:0], tlsrec.AlertCloseNotify)
		poller.Write(int(c.fd), out, nil, nil)
		sealBufs.Put(buf)
	case ts12:
		t.std.CloseWrite() // through rawConn.Write: the socket
	}
	t.state = tsClosed
}

// shutWriteLocked ends our side: close_notify, then FIN. The caller holds
// mu and the queue is empty.
func (c *Conn) shutWriteLocked() {
	if t := c.tlsOf(); t != nil && (t.state == ts13 || t.state == ts12) {
		c.closeNotifyLocked(t)
	}
	poller.ShutdownWrite(int(c.fd))
}

// httpConn makes the net.Conn net/http gets for a TLS connection handed
// off after its request head: the socket nc under this side's TLS, the
// head's bytes (pre) read first.
func (t *tlsConn) httpConn(nc net.Conn, pre, sealed []byte) net.Conn {
	if t.state == ts12 {
		t.raw.nc, t.raw.done, t.raw.pendOut = nc, false, sealed
		return &stdHTTPConn{Conn: t.std, pre: pre}
	}
	h := &recHTTPConn{Conn: nc, rec: &t.rec, pre: pre, pendingOut: sealed}
	if t.stash != nil {
		h.raw = append(h.raw, t.stash[:t.stashN]...)
		stashBufs.Put(t.stash)
		t.stash, t.stashN = nil, 0
	}
	return h
}

// stdHTTPConn is a TLS 1.2 connection handed to net/http: crypto/tls's
// Conn, now over the socket itself, with the request head in front.
type stdHTTPConn struct {
	*tls.Conn
	pre []byte
}

func (s *stdHTTPConn) Read(p []byte) (int, error) {
	if len(s.pre) > 0 {
		n := copy(p, s.pre)
		s.pre = s.pre[n:]
		return n, nil
	}
	return s.Conn.Read(p)
}

// recHTTPConn is a TLS 1.3 connection handed to net/http: tlsrec over the
// blocking socket, in net/http's goroutines. Reads and writes may run at
// once (they use the record layer's two halves); a KeyUpdate's answer is
// written under the write lock.
type recHTTPConn struct {
	net.Conn
	rec        *tlsrec.Conn
	pre        []byte // the request head, read before the hand-off
	raw        []byte // read, not yet opened
	plain      []byte // opened, not yet returned
	rerr       error
	wmu        sync.Mutex
	wbuf       []byte
	pendingOut []byte // sealed bytes the loop had queued
	closed     bool
}

func (h *recHTTPConn) Read(p []byte) (int, error) {
	for {
		if len(h.pre) > 0 {
			n := copy(p, h.pre)
			h.pre = h.pre[n:]
			return n, nil
		}
		if len(h.plain) > 0 {
			n := copy(p, h.plain)
			h.plain = h.plain[n:]
			return n, nil
		}
		if h.rerr != nil {
			return 0, h.rerr
		}
		if len(h.raw) > 0 {
			r, err := h.rec.Open(h.raw)
			h.plain = append(h.plain[:0], h.raw[:r.N]...)
			h.raw = append(h.raw[:0], h.raw[r.Used:]...)
			if r.UpdateRequested {
				h.write(nil)
			}
			if err != nil {
				h.rerr = err
			} else if r.CloseNotify {
				h.rerr = io.EOF
			}
			if r.N > 0 || h.rerr != nil {
				continue
			}
		}
		if cap(h.raw)-len(h.raw) < tlsrec.MaxRecord {
			h.raw = append(make([]byte, 0, len(h.raw)+2*tlsrec.MaxRecord), h.raw...)
		}
		n, err := h.Conn.Read(h.raw[len(h.raw):cap(h.raw)])
		h.raw = h.raw[:len(h.raw)+n]
		if err != nil && n == 0 {
			return 0, err
		}
	}
}

// write seals p (nothing: a pending KeyUpdate) and writes it.
func (h *recHTTPConn) write(p []byte) (int, error) {
	h.wmu.Lock()
	defer h.wmu.Unlock()
	if h.closed {
		return 0, net.ErrClosed
	}
	if len(h.pendingOut) > 0 {
		if _, err := h.Conn.Write(h.pendingOut); err != nil {
			return 0, err
		}
		h.pendingOut = nil
	}
	done := 0
	for first := true; first || done < len(p); first = false {
		chunk := p[done:min(len(p), done+sealChunk)]
		h.wbuf = h.rec.Seal(h.wbuf[:0], chunk)
		if len(h.wbuf) > 0 {
			if _, err := h.Conn.Write(h.wbuf); err != nil {
				return done, err
			}
		}
		done += len(chunk)
	}
	return done, nil
}

func (h *recHTTPConn) Write(p []byte) (int, error) { return h.write(p) }

func (h *recHTTPConn) Close() error {
	h.wmu.Lock()
	if !h.closed {
		h.closed = true
		h.Conn.SetWriteDeadline(time.Now().Add(time.Second))
		h.Conn.Write(h.rec.SealAlert(h.wbuf[:0], tlsrec.AlertCloseNotify))
	}
	h.wmu.Unlock()
	return h.Conn.Close()
}

// ConnectionState is what net/http's handlers see as r.TLS.
func (h *recHTTPConn) ConnectionState() tls.ConnectionState {
	return tls.ConnectionState{Version: tls.VersionTLS13, CipherSuite: h.rec.Suite(), HandshakeComplete: true, NegotiatedProtocol: "http/1.1"}
}

// tlsStater is a handed-off connection that knows its TLS state.
type tlsStater interface{ ConnectionState() tls.ConnectionState }

type tlsStateKey struct{}

// withTLSState makes net/http's r.TLS of a handed-off TLS connection: the
// connection's state goes into its context (ConnContext), and the handler
// takes it from there.
func withTLSState(srv *http.Server) {
	srv.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		if s, ok := c.(tlsStater); ok {
			return context.WithValue(ctx, tlsStateKey{}, s)
		}
		return ctx
	}
	h := srv.Handler
	srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s, ok := r.Context().Value(tlsStateKey{}).(tlsStater); ok && r.TLS == nil {
			st := s.ConnectionState()
			r.TLS = &st
		}
		h.ServeHTTP(w, r)
	})
}
