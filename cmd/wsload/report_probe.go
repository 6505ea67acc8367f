package main

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"strings"
	"time"

	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/load"
	"github.com/wsd-dev/wsd/upgrade"
)

// serverAnswer is the server under test as one handshake of wsload's own
// saw it: after the run, with the run's request (its path for the first
// connection, its token), the whole answer's head, whether its
// Sec-WebSocket-Accept was right (RFC 6455 §4.1), and what it agreed to.
// The run's connections keep no heads: a few hundred bytes each.
type serverAnswer struct {
	URL        string  `json:"url"`
	At         string  `json:"probed_at"`
	Request    string  `json:"request"`            // the head sent (a token in it cut short)
	Response   string  `json:"response,omitempty"` // the head answered
	Status     int     `json:"status,omitempty"`
	AcceptOK   bool    `json:"accept_ok"`
	Extensions string  `json:"extensions,omitempty"` // Sec-WebSocket-Extensions answered
	Protocol   string  `json:"protocol,omitempty"`   // Sec-WebSocket-Protocol answered
	Millis     float64 `json:"handshake_ms"`         // connect to the head's end
	Error      string  `json:"error,omitempty"`
}

// probeServer makes the one handshake and ends it with a Close (1000).
func probeServer(o *options) *serverAnswer {
	a := &serverAnswer{URL: o.url, At: time.Now().Format(time.RFC3339)}
	uri := load.ExpandPath(o.path, o.first)
	if o.token != nil {
		sep := "?"
		if strings.Contains(uri, "?") {
			sep = "&"
		}
		uri += sep + "token=" + o.token(o.first)
	}
	// The run's offer: -deflate-offer as given, or -deflate's (the
	// browsers', as the engine's client makes it).
	offer := o.deflateOffer
	if offer == "" && o.deflate {
		offer = string(upgrade.AppendDeflateOffer(nil, upgrade.DeflateOffer{ClientMaxWindowBits: upgrade.OfferNoValue}))
	}
	key := upgrade.NewKey()
	req := upgrade.AppendRequest(nil, upgrade.ClientRequest{Host: o.target.String(), URI: uri, Key: key[:], Extensions: offer})
	a.Request = cutTokens(strings.TrimRight(string(req), "\r\n"))

	start := time.Now()
	deadline := start.Add(o.connectTimeout)
	c, err := net.DialTimeout("tcp", o.target.String(), o.connectTimeout)
	if err != nil {
		a.Error = err.Error()
		return a
	}
	defer c.Close()
	c.SetDeadline(deadline)
	if _, err := c.Write(req); err != nil {
		a.Error = "writing the request: " + err.Error()
		return a
	}
	var buf []byte
	chunk := make([]byte, 4096)
	for {
		n, err := c.Read(chunk)
		buf = append(buf, chunk[:n]...)
		resp, hn, perr := upgrade.ParseResponse(buf, 0)
		if perr == nil {
			a.Millis = float64(time.Since(start)) / 1e6
			a.Response = strings.TrimRight(string(buf[:hn]), "\r\n")
			a.Status = resp.Status
			a.Extensions, a.Protocol = string(resp.Extension), string(resp.Protocol)
			a.AcceptOK = resp.CheckAccept(key[:]) == nil
			break
		}
		if !errors.Is(perr, upgrade.ErrIncomplete) {
			a.Error = perr.Error()
			return a
		}
		if err != nil {
			a.Error = fmt.Sprintf("reading the answer (%d bytes so far): %v", len(buf), err)
			return a
		}
	}
	if a.Status == 101 {
		closeHandshake(c)
	}
	return a
}

// closeHandshake sends a masked Close (1000, §5.5.1) and reads until the
// server ends the connection, for at most two seconds.
func closeHandshake(c net.Conn) {
	payload := frame.AppendClose(nil, frame.CloseNormal, "")
	h := frame.Header{Fin: true, OpCode: frame.OpClose, Length: int64(len(payload)), Masked: true, Mask: [4]byte{0x5a, 0x17, 0xc3, 0x88}}
	var b [frame.MaxHeaderSize + 2]byte
	n := h.Encode(b[:])
	n += copy(b[n:], payload)
	frame.Mask(h.Mask, 0, b[n-len(payload):n])
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write(b[:n]); err != nil {
		return
	}
	var sink [4096]byte
	for {
		if _, err := c.Read(sink[:]); err != nil {
			return
		}
	}
}

var tokenParam = regexp.MustCompile(`([?&]token=)([^&\s]{8})[^&\s]*`)

// cutTokens keeps a token's first 8 characters: the report may travel.
func cutTokens(s string) string { return tokenParam.ReplaceAllString(s, "${1}${2}…") }
