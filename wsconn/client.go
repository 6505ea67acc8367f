package wsconn

import (
	crand "crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"time"
	"unsafe"

	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/poller"
	"github.com/wsd-dev/wsd/upgrade"
)

// Client dials WebSocket connections and runs them on its own event loops:
// the client role of the same connection core the Server runs (§4.1 for
// the opening, masked frames out, unmasked frames in, the client's side of
// the closing handshake).
type Client struct {
	engine
	secret [32]byte // keys the Sec-WebSocket-Keys (clientKey)
	offer  string   // the Sec-WebSocket-Extensions offer, if any
	offers []upgrade.DeflateOffer
	tally  handshakeTally // answers and head bytes (deflate_info.go)
}

// DialHandler is a Handler that writes its own upgrade request and hears
// how the opening of a dialed connection went. A load generator's handler
// is one: nothing of the request is kept per connection before it is
// written.
type DialHandler interface {
	Handler
	// OnConnect is called when the TCP connection is up and returns the
	// upgrade request to write at once (the core sets its Key).
	OnConnect(c *Conn) upgrade.ClientRequest
	// OnDialError is called, instead of OnOpen and OnClose, when the
	// connection or its handshake failed; err is a *DialError.
	OnDialError(c *Conn, err error)
}

// TLSDialHandler is a DialHandler that also hears when the TCP connection
// of a TLS dial is up, before its TLS handshake; OnConnect follows once
// that is done (a load generator times the two apart).
type TLSDialHandler interface {
	DialHandler
	OnTCPConnect(c *Conn)
}

// DialError is a failed dial: the stage ("connect", "tls", "handshake") and why.
// Errors from the response's checks wrap upgrade.ErrBadStatus,
// ErrBadAccept, ErrBadUpgrade, ErrBadExtension or ErrBadHead; a connect error wraps the
// socket's errno; ErrTimeout means no answer within HandshakeTimeout.
type DialError struct {
	Stage string
	Err   error
}

func (e *DialError) Error() string { return "wsconn: " + e.Stage + ": " + e.Err.Error() }
func (e *DialError) Unwrap() error { return e.Err }

// ErrTimeout is a dial that did not connect and get its 101 within the
// handshake timeout.
var ErrTimeout = errors.New("no connection and answer within the handshake timeout")

// Target is one connection to dial.
type Target struct {
	Addr   netip.AddrPort // the server
	Source netip.Addr     // local address to dial from; zero: any
	// The request, unless Handler is a DialHandler (which gives its own):
	Host   string // Host header [Addr]
	URI    string // request-target ["/"]
	Origin string // Origin header, if any
	Header string // more header lines, CRLF-separated, without the last CRLF
	// Handler gets the connection's events. A plain Handler hears a failed
	// dial as OnClose with 1006 (and no OnOpen).
	Handler Handler
}

// NewClient makes a client with its loops running.
func NewClient(opt Options) (*Client, error) {
	cl := &Client{}
	cl.cl = cl
	crand.Read(cl.secret[:])
	if err := cl.init(opt, frame.RoleClient, nil); err != nil {
		return nil, err
	}
	switch {
	case opt.DeflateOffer != "":
		cl.offer, cl.offers = opt.DeflateOffer, upgrade.ParseDeflateOffers(opt.DeflateOffer)
	case opt.Deflate.Mode == upgrade.DeflateOn:
		// Nothing kept between messages, either way. client_max_window_bits
		// too: we compress within any window the server names (RFC 7692
		// §7.1.2.2), and servers that bound the client's window refuse
		// offers without it (Node's ws with clientMaxWindowBits set
		// answers 400).
		cl.offers = []upgrade.DeflateOffer{{ServerNoContextTakeover: true, ClientNoContextTakeover: true, ClientMaxWindowBits: upgrade.OfferNoValue}}
	case opt.Deflate.Mode == upgrade.DeflateTakeover:
		// Context takeover both ways; the server may shrink our window.
		cl.offers = []upgrade.DeflateOffer{{ClientMaxWindowBits: upgrade.OfferNoValue}}
	}
	if cl.offer == "" && cl.offers != nil {
		cl.offer = string(upgrade.AppendDeflateOffer(nil, cl.offers...))
	}
	if opt.TLS != nil {
		cl.tls = newTLSEngine(opt.TLS, false)
	}
	cl.runLoops()
	return cl, nil
}

// Dial starts a connection and returns at once: the handler hears the
// outcome. The error is for a connection that could not even start (no
// fds, a bad source address).
func (cl *Client) Dial(t Target) (*Conn, error) {
	if t.Handler == nil {
		return nil, errors.New("wsconn: Dial without a Handler")
	}
	fd, err := poller.Dial(t.Source, t.Addr)
	if err != nil {
		return nil, &DialError{Stage: "connect", Err: err}
	}
	if fd >= cl.table.Size() {
		poller.Close(fd)
		return nil, &DialError{Stage: "connect", Err: fmt.Errorf("fd %d beyond the table of %d", fd, cl.table.Size())}
	}
	now := cl.clock()
	c := &Conn{fd: int32(fd), l: cl.pick(), h: t.Handler, state: stConnecting, lastRead: now}
	c.timer.Store(nonzero(now))
	c.flags.Store(fClient)
	if cl.tls != nil {
		c.newTLSConn()
	}
	if _, ok := t.Handler.(DialHandler); !ok {
		host := t.Host
		if host == "" {
			host = t.Addr.String()
		}
		c.extraLocked().dial = &upgrade.ClientRequest{Host: host, URI: t.URI, Origin: t.Origin, Header: t.Header}
	}
	c.l.stats.accepted.Add(1)
	if err := cl.register(c, poller.In|poller.Out|poller.RdHup); err != nil {
		return nil, &DialError{Stage: "connect", Err: err}
	}
	return c, nil
}

// clientKey is the connection's Sec-WebSocket-Key: 16 bytes that no one
// else can predict (§4.1 asks for a random nonce), made from the client's
// secret, the fd, the dial time and the connection's address — so that it
// need not be kept: the answer is checked against it made again.
func (c *Conn) clientKey() [24]byte {
	var in [32 + 16]byte
	copy(in[:32], c.l.e.cl.secret[:])
	binary.LittleEndian.PutUint32(in[32:], uint32(c.fd))
	binary.LittleEndian.PutUint32(in[36:], c.timer.Load()) // the dial time until the open
	binary.LittleEndian.PutUint64(in[40:], uint64(uintptr(unsafe.Pointer(c))))
	sum := sha256.Sum256(in[:])
	var k [24]byte
	base64.StdEncoding.Encode(k[:], sum[:16])
	return k
}

// connected handles the first event of a dialed socket: the connect
// finished, well or not. The request is built in the loop's scratch
// buffer and written at once. Loop goroutine only.
func (c *Conn) connected(bits uint32) {
	if err := poller.SocketError(int(c.fd)); err != nil {
		c.dialFailed(&DialError{Stage: "connect", Err: err})
		return
	}
	if bits&poller.Out == 0 {
		return
	}
	if t := c.tlsOf(); t != nil {
		c.state = stHandshake
		c.l.pl.Mod(int(c.fd), poller.In|poller.RdHup)
		if th, ok := c.h.(TLSDialHandler); ok {
			th.OnTCPConnect(c)
		}
		c.tlsStart(t) // request follows when it is done
		return
	}
	c.request()
}

// request writes the upgrade request, built in the loop's scratch buffer,
// once the connection is up (TCP, and TLS for wss). Loop goroutine only.
func (c *Conn) request() {
	var req upgrade.ClientRequest
	if dh, ok := c.h.(DialHandler); ok {
		req = dh.OnConnect(c)
	} else {
		req = *c.x.Load().dial
	}
	key := c.clientKey()
	req.Key = key[:]
	if req.Extensions == "" {
		req.Extensions = c.l.e.cl.offer
	}
	c.state = stHandshake
	c.l.pl.Mod(int(c.fd), poller.In|poller.RdHup)
	c.mu.Lock()
	if x := c.x.Load(); x != nil {
		x.dial = nil
		c.trimExtra()
	}
	head := upgrade.AppendRequest(c.l.scratch[:0], req)
	c.l.e.cl.tally.requestSent(len(head))
	c.writeHeadLocked(head)
	c.mu.Unlock()
}

// answer reads the server's response head and checks it (§4.1): the
// connection opens, or the dial fails. Loop goroutine only.
func (c *Conn) answer(data []byte) {
	x := c.x.Load()
	in := data
	if x != nil && x.head != nil {
		x.head = append(x.head, data...)
		in = x.head
	}
	resp, n, err := upgrade.ParseResponse(in, 0)
	if err == upgrade.ErrIncomplete {
		if x == nil || x.head == nil {
			c.mu.Lock()
			c.extraLocked().head = append([]byte(nil), data...)
			c.mu.Unlock()
		}
		return
	}
	if obs := c.observer(); obs != nil && n > 0 {
		obs.Received(in[:n])
	}
	if err == nil {
		key := c.clientKey()
		err = resp.CheckAccept(key[:])
	}
	if err == nil && resp.Extension != nil {
		err = c.agree(&resp)
	}
	c.l.e.cl.tally.answered(n, resp.Extension, err == nil)
	if err != nil {
		c.dialFailed(&DialError{Stage: "handshake", Err: err})
		return
	}
	rest := in[n:]
	c.state = stOpen
	c.timer.Store(0)
	c.mu.Lock()
	if x != nil {
		x.head = nil
		c.trimExtra()
	}
	c.setFlag(fOpened)
	c.mu.Unlock()
	c.l.stats.upgrades.Add(1)
	c.h.OnOpen(c)
	if len(rest) > 0 && c.state == stOpen && c.flags.Load()&fClosed == 0 {
		c.input(rest) // frames sent right behind the head
	}
}

// agree checks the server's Sec-WebSocket-Extensions answer against our
// offer (RFC 7692 §7.1) and applies it: an answer to nothing offered, or
// several extension lines, fail the handshake (§9.1).
func (c *Conn) agree(resp *upgrade.Response) error {
	offers := c.l.e.cl.offers
	if len(offers) == 0 {
		return errors.Join(upgrade.ErrBadExtension, fmt.Errorf("the server answered extensions that were not offered: %q", resp.Extension))
	}
	if resp.ExtensionLines > 1 {
		return errors.Join(upgrade.ErrBadExtension, errors.New("the server answered several Sec-WebSocket-Extensions lines"))
	}
	p, err := upgrade.ParseDeflateResponse(resp.Extension, offers...)
	if err != nil {
		return err
	}
	c.setDeflate(p, true)
	return nil
}

// dialFailed ends a client connection that never opened and tells its
// handler why.
func (c *Conn) dialFailed(err *DialError) {
	c.mu.Lock()
	if c.flags.Load()&fClosed != 0 {
		c.mu.Unlock()
		return
	}
	c.decideLocked(frame.CloseAbnormal, err.Error())
	c.mu.Unlock()
	c.end(frame.CloseAbnormal, err.Error(), err)
}

// OnLoops and Conns come from the engine; Close ends the client.

// Close sends a Close (1000) on every open connection, waits up to timeout
// for the close handshakes, then cuts what is left and stops the loops.
func (cl *Client) Close(timeout time.Duration) {
	cl.onLoops(func(l *loop) {
		for i := l.conns.Len() - 1; i >= 0; i-- {
			if c := l.conns.At(i); c.state == stOpen {
				c.Close(frame.CloseNormal, "")
			}
		}
	})
	deadline := time.Now().Add(timeout)
	for cl.conns.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cl.onLoops(func(l *loop) {
		for i := l.conns.Len() - 1; i >= 0; i-- {
			l.conns.At(i).closeNow(frame.CloseAbnormal, "client closed after "+strconv.Itoa(int(timeout/time.Millisecond))+" ms")
		}
	})
	cl.stopLoops()
}
