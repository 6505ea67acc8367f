package wsconn

import (
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/wsd-dev/wsd/upgrade"
)

// handshake reads the request head (§4.2.1) and answers it: 101 and the
// connection opens, an HTTP error, or a hand-off to net/http for requests
// that are not upgrades. Loop goroutine only.
func (c *Conn) handshake(data []byte) {
	l := c.l
	s := l.e.srv
	in := data
	x := c.x.Load()
	if x != nil && x.head != nil {
		x.head = append(x.head, data...)
		in = x.head
	}
	// The request lives in the loop (one per loop, reused): a Request per
	// connection would be garbage that idle servers pay for in RSS.
	req := &l.req
	var n int
	var err *upgrade.Error
	*req, n, err = upgrade.Parse(in, l.e.opt.MaxHead)
	if err == upgrade.ErrIncomplete {
		if x == nil || x.head == nil {
			// The head is split over reads: keep its bytes, the loop's
			// buffer will be overwritten.
			c.extraLocked().head = append(make([]byte, 0, max(2*len(data), 512)), data...)
		}
		return
	}
	if err != nil {
		c.refuse(err)
		return
	}
	if !req.IsUpgrade() {
		c.toHTTP(in, req)
		return
	}
	if obsFn := l.e.opt.Observe; obsFn != nil {
		if obs := obsFn(req, c.RemoteAddr(), s.addr); obs != nil {
			c.extraLocked().obs = obs
			obs.Received(in[:n])
		}
	}
	if err := req.Validate(); err != nil {
		c.refuse(err)
		return
	}
	if c.flags.Load()&fTooFast != 0 {
		l.stats.handshakeLimited.Add(1)
		c.refuse(&upgrade.Error{Status: 429, Msg: "too many new connections from this address: at most " +
			strconv.FormatFloat(l.e.opt.HandshakeRate, 'g', -1, 64) + " per second", Header: s.ipRate.retryAfter()})
		return
	}
	if !s.originAllowed(req.Origin) {
		c.refuse(&upgrade.Error{Status: 403, Msg: "origin " + quoteOrigin(req.Origin) + " is not allowed"})
		return
	}
	var h Handler
	var ue *upgrade.Error
	if s.routes.Upgrade == nil {
		ue = &upgrade.Error{Status: 404, Msg: "no WebSocket endpoint at " + string(req.Path)}
	} else {
		h, ue = s.routes.Upgrade(c, req)
	}
	if ue != nil {
		c.refuse(ue)
		return
	}
	var ext []byte
	if dp, ok := req.NegotiateDeflate(l.e.opt.Deflate); ok {
		c.setDeflate(dp, false)
		ext = upgrade.AppendDeflateResponse(l.deflateAnswer[:0], dp)
	}
	resp := upgrade.AppendResponseExt(l.scratch[:0], req.Key, req.SelectProtocol(l.e.opt.Protocols), ext)
	rest := in[n:]
	c.h = h
	c.state = stOpen
	c.timer.Store(0)
	c.mu.Lock()
	if x := c.x.Load(); x != nil {
		x.head = nil // rest still points into it: used below, then dropped
		c.trimExtra()
	}
	c.writeHeadLocked(resp)
	c.setFlag(fOpened)
	c.mu.Unlock()
	l.stats.upgrades.Add(1)
	h.OnOpen(c)
	if len(rest) > 0 && c.state == stOpen && c.flags.Load()&fClosed == 0 {
		c.input(rest) // frames sent right behind the head
	}
}

// writeHeadLocked writes an HTTP head (a response, or a client's request),
// observed. The caller holds c.mu.
func (c *Conn) writeHeadLocked(head []byte) {
	if obs := c.observer(); obs != nil {
		obs.Sent(head)
	}
	c.sendLocked(nil, head)
}

// refuse answers a bad handshake with its status and a one-line body, then
// drains until the client hangs up or CloseTimeout passes.
func (c *Conn) refuse(e *upgrade.Error) {
	resp := upgrade.AppendError(c.l.scratch[:0], e)
	c.l.stats.handshakeErrors.Add(1)
	c.l.stats.refusedBy[statusSlot(e.Status)].Add(1)
	c.state = stDraining
	c.mu.Lock()
	if x := c.x.Load(); x != nil {
		x.head = nil
		c.trimExtra()
	}
	c.writeHeadLocked(resp)
	c.timer.Store(nonzero(c.l.e.clock()))
	c.mu.Unlock()
	c.shutdownWrite()
}

func (s *Server) originAllowed(origin []byte) bool {
	if len(s.opt.Origins) == 0 {
		return true
	}
	for _, o := range s.opt.Origins {
		if o == "*" || strings.EqualFold(o, string(origin)) {
			return true
		}
	}
	return false
}

func quoteOrigin(o []byte) string {
	if o == nil {
		return "(none)"
	}
	if len(o) > 100 {
		o = o[:100]
	}
	return `"` + strings.ToValidUTF8(string(o), "?") + `"`
}

// toHTTP hands a plain HTTP request's connection to net/http, with the
// bytes already read in front of it, or answers 404 when the server has no
// HTTP handler.
func (c *Conn) toHTTP(in []byte, req *upgrade.Request) {
	l := c.l
	s := l.e.srv
	if s.http == nil {
		c.refuse(&upgrade.Error{Status: 404, Msg: "no route for " + string(req.Method) + " " + string(req.Path)})
		return
	}
	pre := append([]byte(nil), in...)
	fd := int(c.fd)
	l.pl.Del(fd)
	l.e.table.Store(fd, nil)
	c.mu.Lock()
	c.setFlag(fClosed)
	var t *tlsConn
	var sealed []byte // TLS: bytes sealed and queued (a KeyUpdate), written first
	if x := c.x.Load(); x != nil && x.tls != nil {
		if t = x.tls; t.sealedHead {
			sealed = x.q.segs[0]
		}
	}
	c.x.Store(nil)
	c.mu.Unlock()
	l.e.conns.Add(-1)
	l.stats.httpReqs.Add(1)
	f := os.NewFile(uintptr(fd), "http")
	nc, err := net.FileConn(f) // a dup; net/http's poller takes it from here
	f.Close()
	if err != nil {
		s.opt.Logger.Warn("http hand-off failed", "err", err)
		return
	}
	if t != nil {
		s.http.hand(t.httpConn(nc, pre, sealed))
		return
	}
	s.http.hand(&prefixConn{Conn: nc, pre: pre})
}
