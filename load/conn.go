package load

import (
	"errors"
	"strings"
	"time"

	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/poller"
	"github.com/wsd-dev/wsd/upgrade"
	"github.com/wsd-dev/wsd/wsconn"
)

// Conn is one load connection: the scenario's state beside the
// connection itself, which the wsconn client core runs (the same core as
// the server's, in the client role). It is the connection's handler.
type Conn struct {
	wc   *wsconn.Conn
	e    *Engine
	l    *Loop         // set by the first call from the core, on the connection's loop
	ID   int32         // index given at Dial
	t0   time.Duration // dial started (engine clock)
	tReq time.Duration // TCP connected (wss: TLS handshake begun), then upgrade request sent

	// Scenario state.
	Sent, Recv int64
	Next       time.Duration // rate mode: when the next message is due
}

// Loop returns the connection's loop.
func (c *Conn) Loop() *Loop { return c.l }

// Send writes one message (masked with a fresh key by the core, §5.3, and
// compressed by it when permessage-deflate was agreed). On the
// connection's loop only: its payload bytes are counted there.
func (c *Conn) Send(op frame.Opcode, payload []byte) {
	if c.wc.Send(op, payload) == nil {
		c.l.PayloadOut += int64(len(payload))
	}
}

// Buffered returns the bytes waiting to be written.
func (c *Conn) Buffered() int { return c.wc.Buffered() }

// close starts the closing handshake.
func (c *Conn) close(code frame.CloseCode) { c.wc.Close(code, "") }

// OnTCPConnect implements wsconn.TLSDialHandler: the TCP connect of a
// wss:// dial took until now; the TLS handshake starts.
func (c *Conn) OnTCPConnect(wc *wsconn.Conn) {
	c.bind(wc)
	now := c.e.Now()
	c.l.ConnectHist.Record(now - c.t0)
	c.tReq = now
}

// OnConnect implements wsconn.DialHandler: the TCP connect (ws://), or the
// TLS handshake after it (wss://), took until now, and the request goes
// out.
func (c *Conn) OnConnect(wc *wsconn.Conn) upgrade.ClientRequest {
	c.bind(wc)
	e := c.e
	now := e.Now()
	if e.cfg.TLS != nil {
		c.l.TLSHist.Record(now - c.tReq)
	} else {
		c.l.ConnectHist.Record(now - c.t0)
	}
	c.tReq = now
	uri := ExpandPath(e.cfg.Path, int(c.ID))
	if e.cfg.Token != nil {
		sep := "?"
		if strings.Contains(uri, "?") {
			sep = "&"
		}
		uri += sep + "token=" + e.cfg.Token(int(c.ID))
	}
	return upgrade.ClientRequest{Host: e.cfg.Host, URI: uri, Origin: e.cfg.Origin}
}

// OnOpen implements wsconn.Handler: the 101 was checked.
func (c *Conn) OnOpen(wc *wsconn.Conn) {
	c.bind(wc)
	e := c.e
	c.l.HandshakeHist.Record(e.Now() - c.tReq)
	e.pending.Add(-1)
	e.open.Add(1)
	e.opened.Add(1)
	e.sc.Open(c)
}

// OnMessage implements wsconn.Handler.
func (c *Conn) OnMessage(_ *wsconn.Conn, op frame.Opcode, p []byte) {
	c.l.PayloadIn += int64(len(p)) // inflated already, when it came compressed
	if c.wc.IsOpen() {
		c.e.sc.Message(c, op, p)
	}
}

// OnClose implements wsconn.Handler: a connection that opened ended. Ends
// this side did not ask for (the engine's Close) count as failures.
func (c *Conn) OnClose(wc *wsconn.Conn, code frame.CloseCode, reason string) {
	e := c.e
	e.open.Add(-1)
	e.closed.Add(1)
	switch {
	case wc.ClosedLocally() && code != frame.CloseNormal && code != frame.CloseAbnormal:
		e.fail(CauseProtocol, "the server broke the protocol: "+code.String()+" "+reason)
	case e.closing.Load() || wc.ClosedLocally() && code == frame.CloseNormal:
	case code == frame.CloseAbnormal:
		e.fail(CauseClosed, "server closed the connection without a close frame")
	default:
		e.fail(CauseClosed, "server closed with "+code.String())
	}
}

// OnDialError implements wsconn.DialHandler: the connect or the
// handshake failed.
func (c *Conn) OnDialError(_ *wsconn.Conn, err error) {
	c.e.pending.Add(-1)
	c.e.fail(causeOf(err), err.Error())
}

// bind learns the core connection and its loop.
func (c *Conn) bind(wc *wsconn.Conn) {
	if c.l == nil {
		c.wc, c.l = wc, c.e.loops[wc.Loop()]
	}
}

// causeOf classifies a failed dial.
func causeOf(err error) Cause {
	switch {
	case errors.Is(err, wsconn.ErrTimeout):
		return CauseTimeout
	case errors.Is(err, upgrade.ErrBadStatus):
		return CauseBadStatus
	case errors.Is(err, upgrade.ErrBadAccept):
		return CauseBadAccept
	case poller.IsRefused(err):
		return CauseRefused
	case poller.IsTimeout(err):
		return CauseTimeout
	}
	var de *wsconn.DialError
	if errors.As(err, &de) && de.Stage == "handshake" {
		return CauseBadResponse
	}
	if errors.As(err, &de) && de.Stage == "tls" {
		return CauseTLS
	}
	return CauseOther
}
