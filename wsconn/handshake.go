package wsconn

import (
	"net"
	"os"
	"strings"

	"github.com/wsd-dev/wsd/trace"
	"github.com/wsd-dev/wsd/upgrade"
)

// handshake reads the request head (§4.2.1) and answers it: 101 and the
// connection opens, an HTTP error, or a hand-off to net/http for requests
// that are not upgrades. Loop goroutine only.
func (c *Conn) handshake(data []byte) {
	s := c.l.s
	in := data
	if c.hs != nil {
		*c.hs = append(*c.hs, data...)
		in = *c.hs
	}
	// The request lives in the loop (one per loop, reused): a Request per
	// connection would be garbage that idle servers pay for in RSS.
	req := &c.l.req
	var n int
	var err error
	*req, n, err = upgrade.Parse(in, s.opt.MaxHead)
	if err == upgrade.ErrIncomplete {
		if c.hs == nil {
			// The head is split over reads: keep its bytes, the loop's
			// buffer will be overwritten.
			b := append(make([]byte, 0, max(2*len(data), 512)), data...)
			c.hs = &b
		}
		return
	}
	if err != nil {
		c.refuse(err.(*upgrade.Error))
		return
	}
	if !req.IsUpgrade() {
		c.toHTTP(in, req)
		return
	}
	if s.opt.Trace != nil && (s.opt.TraceFilter == nil || s.opt.TraceFilter(req)) {
		c.tr = s.opt.Trace.Conn(c.RemoteAddr().String(), s.addr.String())
		c.tr.Feed(trace.ClientToServer, in[:n])
	}
	if err := req.Validate(); err != nil {
		c.refuse(err.(*upgrade.Error))
		return
	}
	if !s.originAllowed(req.Origin) {
		c.refuse(&upgrade.Error{Status: 403, Msg: "origin " + quoteOrigin(req.Origin) + " is not allowed"})
		return
	}
	var h Handler
	var ue *upgrade.Error
	if s.opt.Upgrade == nil {
		ue = &upgrade.Error{Status: 404, Msg: "no WebSocket endpoint at " + string(req.Path)}
	} else {
		h, ue = s.opt.Upgrade(req)
	}
	if ue != nil {
		c.refuse(ue)
		return
	}
	resp := upgrade.AppendResponse(c.l.scratch[:0], req.Key, req.SelectProtocol(s.opt.Protocols))
	c.h = h
	c.state = stOpen
	c.pingAt = 0
	c.mu.Lock()
	c.writeLocked(nil, resp, false)
	c.mu.Unlock()
	c.l.stats.upgrades.Add(1)
	h.OnOpen(c)
	if rest := in[n:]; len(rest) > 0 && c.state == stOpen && c.flags.Load()&fClosed == 0 {
		c.input(rest) // frames sent right behind the head
	}
	c.releaseHead()
}

func (c *Conn) releaseHead() { c.hs = nil }

// refuse answers a bad handshake with its status and a one-line body, then
// drains until the client hangs up or CloseTimeout passes.
func (c *Conn) refuse(e *upgrade.Error) {
	resp := upgrade.AppendError(c.l.scratch[:0], e)
	c.l.stats.handshakeErrors.Add(1)
	c.state = stDraining
	c.releaseHead()
	c.mu.Lock()
	c.writeLocked(nil, resp, false)
	c.closingAt = nonzero(c.l.s.clock())
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
	s := c.l.s
	if s.http == nil {
		c.refuse(&upgrade.Error{Status: 404, Msg: "no route for " + string(req.Method) + " " + string(req.Path)})
		return
	}
	pre := append([]byte(nil), in...)
	fd := int(c.fd)
	c.l.Del(fd)
	s.table[fd].Store(nil)
	c.mu.Lock()
	c.setFlag(fClosed)
	c.mu.Unlock()
	c.releaseHead()
	s.conns.Add(-1)
	c.l.stats.httpReqs.Add(1)
	f := os.NewFile(uintptr(fd), "http")
	nc, err := net.FileConn(f) // a dup; net/http's poller takes it from here
	f.Close()
	if err != nil {
		s.opt.Logger.Warn("http hand-off failed", "err", err)
		return
	}
	s.http.hand(&prefixConn{Conn: nc, pre: pre})
}
