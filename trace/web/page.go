package web

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"

	"github.com/wsd-dev/wsd/upgrade"
	"github.com/wsd-dev/wsd/wsconn"
)

//go:embed page.html
var pageHTML []byte

// pageCSP lets the page run its one inline script (by its hash) and talk
// to this server only: it works offline and loads nothing from elsewhere.
var pageCSP = "default-src 'none'; script-src '" + scriptHash(pageHTML) +
	"'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

func scriptHash(page []byte) string {
	_, rest, _ := bytes.Cut(page, []byte("<script>"))
	script, _, ok := bytes.Cut(rest, []byte("</script>"))
	if !ok {
		panic("trace/web: page.html has no <script>…</script>")
	}
	sum := sha256.Sum256(script)
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}

// page serves GET / (the page) and nothing else.
func (s *Server) page() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path != "/":
			http.Error(w, `{"error":"not found: the page is at /"}`, http.StatusNotFound)
		case r.Method != http.MethodGet && r.Method != http.MethodHead:
			http.Error(w, `{"error":"method not allowed"}`, http.StatusMethodNotAllowed)
		case !directHost(r.Host):
			http.Error(w, `{"error":"Host `+strconv.Quote(r.Host)+` is a name: open the page by IP address or localhost"}`, http.StatusMisdirectedRequest)
		default:
			h := w.Header()
			h.Set("Content-Type", "text/html; charset=utf-8")
			h.Set("Cache-Control", "no-store")
			h.Set("Content-Security-Policy", pageCSP)
			h.Set("X-Content-Type-Options", "nosniff")
			h.Set("Referrer-Policy", "no-referrer")
			w.Write(pageHTML)
		}
	})
}

// upgrade admits the page's socket. The trace shows everything the traced
// connections carry (tokens in URLs included), so two checks keep other
// web sites out: the Host must be an IP address or localhost (a name could
// be an attacker's, rebound to this address: RFC 6455 §10.2's Origin
// check alone does not stop that), and a browser's Origin must be this
// very host.
func (s *Server) upgrade(_ *wsconn.Conn, req *upgrade.Request) (wsconn.Handler, *upgrade.Error) {
	if string(req.Path) != SocketPath {
		return nil, &upgrade.Error{Status: http.StatusNotFound, Msg: "no socket at " + strconv.Quote(string(req.Path)) + ": the page's is " + SocketPath}
	}
	if !directHost(string(req.Host)) {
		return nil, &upgrade.Error{Status: http.StatusMisdirectedRequest, Msg: "Host " + strconv.Quote(string(req.Host)) + " is a name: open the page by IP address or localhost"}
	}
	if o := req.Origin; len(o) > 0 && !sameOrigin(o, req.Host) {
		return nil, &upgrade.Error{Status: http.StatusForbidden, Msg: "socket from another origin: " + strconv.Quote(string(o)) + " is not " + strconv.Quote(string(req.Host))}
	}
	return &viewer{s: s, wake: make(chan struct{}, 1), gone: make(chan struct{})}, nil
}

// directHost reports whether a Host header names the server by address
// (or localhost), not by a name that DNS could point anywhere.
func directHost(host string) bool {
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	if strings.EqualFold(h, "localhost") {
		return true
	}
	_, err := netip.ParseAddr(h)
	return err == nil
}

// sameOrigin reports whether a browser's Origin names host (RFC 6454: a
// page of this server has Origin http://<its Host>).
func sameOrigin(origin, host []byte) bool {
	o, ok := bytes.CutPrefix(origin, []byte("http://"))
	return ok && len(host) > 0 && bytes.EqualFold(o, host)
}
