package hub

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/wsd-dev/wsd/upgrade"
	"github.com/wsd-dev/wsd/wsconn"
)

// GET /dashboard: one page for the backend's operators, served from the
// binary (no CDN, no external script or font), that opens a WebSocket to
// /dashboard/ws and draws what wsd pushes there every second
// (dashboard_sampler.go) as inline SVG charts.
//
// Both are behind the API's auth, as /stats is. Without -api-token: for
// loopback clients only. With one, the page takes "Authorization: Bearer
// <token>" or, since a browser cannot set that header when it navigates or
// opens a WebSocket, ?token=<token> once: the answer sets a ticket cookie
// (HttpOnly, SameSite=Strict, Path=/dashboard, DashboardTicketTTL) and
// redirects to /dashboard, so that the token leaves the address bar and
// the history. The ticket is the expiry signed with the token (HMAC-SHA256):
// changing the token voids every ticket, and a restart keeps them. The
// page renews it (HEAD /dashboard) while it is open. The socket takes the
// ticket, the Bearer header or ?token=, and refuses an Origin other than
// the server itself (a cookie rides along on cross-site sockets too).

// Dashboard paths and timing.
const (
	DashboardPath       = "/dashboard"
	DashboardSocketPath = "/dashboard/ws"
	DashboardInterval   = time.Second      // one sample a second while a dashboard is open
	DashboardHistory    = 300              // samples kept for a page that opens: five minutes
	DashboardTicketTTL  = 15 * time.Minute // the ticket cookie's life; the page renews it every 5 minutes
	DashboardCookie     = "wsd_dashboard"
)

//go:embed dashboard.html
var dashboardPage []byte

// dashboardCSP lets the page run its own inline script (by its hash) and
// talk to this server only.
var dashboardCSP = "default-src 'none'; script-src '" + scriptHash(dashboardPage) +
	"'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// scriptHash is the CSP source of the page's one inline script.
func scriptHash(page []byte) string {
	_, rest, _ := bytes.Cut(page, []byte("<script>"))
	script, _, ok := bytes.Cut(rest, []byte("</script>"))
	if !ok {
		panic("hub: dashboard.html has no <script>…</script>")
	}
	sum := sha256.Sum256(script)
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}

func (h *Hub) handleDashboard(w http.ResponseWriter, r *http.Request) {
	if h.opt.APIToken == "" {
		if !isLoopback(r.RemoteAddr) {
			fail(w, http.StatusForbidden, "the dashboard answers loopback clients only when wsd runs without -api-token")
			return
		}
		serveDashboard(w)
		return
	}
	now := time.Now()
	bearer, hasBearer := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	switch q := r.URL.Query(); {
	case hasBearer && h.isAPIToken(bearer):
	case q.Has("token"):
		if !h.isAPIToken(q.Get("token")) {
			h.dashboardRefused(w, "wrong API token in ?token=")
			return
		}
		h.setTicket(w, now)
		http.Redirect(w, r, DashboardPath, http.StatusSeeOther)
		return
	case h.validTicket(cookieValue(r.Header.Get("Cookie")), now):
	default:
		h.dashboardRefused(w, "missing or wrong API token: open /dashboard?token=<token> or send Authorization: Bearer <token>")
		return
	}
	h.setTicket(w, now) // a fresh one: the page renews its ticket this way
	serveDashboard(w)
}

func (h *Hub) dashboardRefused(w http.ResponseWriter, msg string) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="wsd"`)
	fail(w, http.StatusUnauthorized, msg)
}

func serveDashboard(w http.ResponseWriter) {
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	hd.Set("Content-Security-Policy", dashboardCSP)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	w.Write(dashboardPage)
}

// dashboardUpgrade authorises a dashboard socket and makes it a viewer.
func (h *Hub) dashboardUpgrade(c *wsconn.Conn, req *upgrade.Request) (wsconn.Handler, *upgrade.Error) {
	if o := req.Origin; len(o) > 0 && !sameOrigin(o, req.Host) {
		return nil, &upgrade.Error{Status: http.StatusForbidden, Msg: "dashboard socket from another origin: " + strconv.Quote(string(o)) + " is not " + strconv.Quote(string(req.Host))}
	}
	if h.opt.APIToken == "" {
		if !c.RemoteAddr().Addr().Unmap().IsLoopback() {
			return nil, &upgrade.Error{Status: http.StatusForbidden, Msg: "the dashboard answers loopback clients only when wsd runs without -api-token"}
		}
		return viewer{}, nil
	}
	bearer, hasBearer := bytes.CutPrefix(req.Header("Authorization"), []byte("Bearer "))
	tok, hasTok := queryParam(req.Query, "token")
	switch {
	case hasBearer && h.isAPIToken(string(bearer)):
	case hasTok && h.isAPIToken(string(tok)):
	case h.validTicket(cookieValue(string(req.Header("Cookie"))), time.Now()):
	default:
		return nil, &upgrade.Error{Status: http.StatusUnauthorized, Header: `WWW-Authenticate: Bearer realm="wsd"`,
			Msg: "missing or wrong API token: open /dashboard?token=<token> first (its cookie), or send ?token= or Authorization: Bearer"}
	}
	return viewer{}, nil
}

// sameOrigin reports whether a browser's Origin names host (RFC 6454: a
// page of this server has Origin http(s)://<its Host>).
func sameOrigin(origin, host []byte) bool {
	o, ok := bytes.CutPrefix(origin, []byte("http://"))
	if !ok {
		o, ok = bytes.CutPrefix(origin, []byte("https://"))
	}
	return ok && len(host) > 0 && bytes.EqualFold(o, host)
}

func isLoopback(remote string) bool {
	ap, err := netip.ParseAddrPort(remote)
	return err == nil && ap.Addr().Unmap().IsLoopback()
}

// A ticket is "<unix expiry>.<HMAC-SHA256(token, expiry), 128 bits>".

func (h *Hub) ticket(exp int64) string {
	s := strconv.FormatInt(exp, 10)
	return s + "." + h.ticketMAC(s)
}

func (h *Hub) ticketMAC(exp string) string {
	m := hmac.New(sha256.New, []byte(h.opt.APIToken))
	m.Write([]byte("wsd dashboard ticket " + exp))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}

func (h *Hub) validTicket(t string, now time.Time) bool {
	exp, mac, ok := strings.Cut(t, ".")
	if !ok || h.opt.APIToken == "" {
		return false
	}
	n, err := strconv.ParseInt(exp, 10, 64)
	return err == nil && now.Unix() < n && hmac.Equal([]byte(mac), []byte(h.ticketMAC(exp)))
}

func (h *Hub) setTicket(w http.ResponseWriter, now time.Time) {
	http.SetCookie(w, &http.Cookie{Name: DashboardCookie, Value: h.ticket(now.Add(DashboardTicketTTL).Unix()),
		Path: DashboardPath, MaxAge: int(DashboardTicketTTL / time.Second), HttpOnly: true, SameSite: http.SameSiteStrictMode})
}

// cookieValue finds the ticket in a Cookie header ("a=1; b=2", RFC 6265
// §5.4), whatever the other cookies look like.
func cookieValue(header string) string {
	for header != "" {
		var pair string
		pair, header, _ = strings.Cut(header, ";")
		if name, value, _ := strings.Cut(strings.TrimSpace(pair), "="); name == DashboardCookie {
			return value
		}
	}
	return ""
}
