package wsconn

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"time"

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
}

// DialHandler is a Handler that also hears how the opening of a dialed
// connection went.
type DialHandler interface {
	Handler
	// OnConnect is called when the TCP connection is up, just before the
	// upgrade request is written.
	OnConnect(c *Conn)
	// OnDialError is called, instead of OnOpen and OnClose, when the
	// connection or its handshake failed; err is a *DialError.
	OnDialError(c *Conn, err error)
}

// DialError is a failed dial: the stage ("connect", "handshake") and why.
// Errors from the response's checks wrap upgrade.ErrBadStatus,
// ErrBadAccept, ErrBadUpgrade or ErrBadHead; a connect error wraps the
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
	Addr    netip.AddrPort // the server
	Source  netip.Addr     // local address to dial from; zero: any
	Host    string         // Host header [Addr]
	URI     string         // request-target ["/"]
	Origin  string         // Origin header, if any
	Header  string         // more header lines, CRLF-separated, without the last CRLF
	Handler Handler        // gets the connection's events; a DialHandler also hears how the dial went
}

// NewClient makes a client with its loops running.
func NewClient(opt Options) (*Client, error) {
	cl := &Client{}
	if err := cl.init(opt, frame.RoleClient, nil); err != nil {
		return nil, err
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
	c.rd.Role = frame.RoleClient
	c.rd.Limits = &cl.limits
	x := c.extraLocked()
	x.key = upgrade.NewKey()
	host, uri := t.Host, t.URI
	if host == "" {
		host = t.Addr.String()
	}
	if uri == "" {
		uri = "/"
	}
	x.head = upgrade.AppendRequest(nil, upgrade.ClientRequest{Host: host, URI: uri, Key: x.key[:], Origin: t.Origin, Header: t.Header})
	c.l.stats.accepted.Add(1)
	if err := cl.register(c, poller.In|poller.Out|poller.RdHup); err != nil {
		return nil, &DialError{Stage: "connect", Err: err}
	}
	return c, nil
}

// connected handles the first event of a dialed socket: the connect
// finished, well or not. Loop goroutine only.
func (c *Conn) connected(bits uint32) {
	if err := poller.SocketError(int(c.fd)); err != nil {
		c.dialFailed(&DialError{Stage: "connect", Err: err})
		return
	}
	if bits&poller.Out == 0 {
		return
	}
	if dh, ok := c.h.(DialHandler); ok {
		dh.OnConnect(c)
	}
	c.state = stHandshake
	c.l.pl.Mod(int(c.fd), poller.In|poller.RdHup)
	c.mu.Lock()
	x := c.x.Load()
	req := x.head
	x.head = nil
	c.writeHeadLocked(req)
	c.mu.Unlock()
}

// answer reads the server's response head and checks it (§4.1): the
// connection opens, or the dial fails. Loop goroutine only.
func (c *Conn) answer(data []byte) {
	x := c.x.Load()
	in := data
	if x.head != nil {
		x.head = append(x.head, data...)
		in = x.head
	}
	resp, n, err := upgrade.ParseResponse(in, 0)
	if err == upgrade.ErrIncomplete {
		if x.head == nil {
			x.head = append([]byte(nil), data...)
		}
		return
	}
	if obs := x.obs; obs != nil && n > 0 {
		obs.Received(in[:n])
	}
	if err == nil {
		err = resp.Check(x.key[:])
	}
	if err != nil {
		c.dialFailed(&DialError{Stage: "handshake", Err: err})
		return
	}
	rest := in[n:]
	c.state = stOpen
	c.timer.Store(0)
	c.mu.Lock()
	x.head = nil
	c.trimExtra()
	c.setFlag(fOpened)
	c.mu.Unlock()
	c.l.stats.upgrades.Add(1)
	c.h.OnOpen(c)
	if len(rest) > 0 && c.state == stOpen && c.flags.Load()&fClosed == 0 {
		c.input(rest) // frames sent right behind the head
	}
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
