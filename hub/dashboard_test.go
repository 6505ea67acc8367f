package hub

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsd-dev/wsd/internal/wstest"
)

// get fetches a path without following redirects.
func (e *env) get(path string, hdr ...string) (*http.Response, string) {
	e.t.Helper()
	req, err := http.NewRequest("GET", "http://"+e.addr+path, nil)
	require.NoError(e.t, err)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	cl := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := cl.Do(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// With -api-token, the page takes the Bearer header or ?token= (which
// sets the ticket cookie and redirects), or the ticket; anything else is
// 401 with a one-line JSON reason.
func TestDashboardPageAuth(t *testing.T) {
	e := start(t, Options{APIToken: "s3cret"}, nil)
	refused := func(resp *http.Response, body, why string) {
		t.Helper()
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, why)
		assert.Equal(t, `Bearer realm="wsd"`, resp.Header.Get("WWW-Authenticate"), why)
		var m map[string]string
		require.NoError(t, json.Unmarshal([]byte(body), &m), "%s: %q", why, body)
		assert.NotEmpty(t, m["error"], why)
		assert.Empty(t, resp.Cookies(), why)
	}
	resp, body := e.get(DashboardPath)
	refused(resp, body, "no token")
	resp, body = e.get(DashboardPath + "?token=wrong")
	refused(resp, body, "wrong ?token=")
	resp, body = e.get(DashboardPath, "Authorization", "Bearer wrong")
	refused(resp, body, "wrong Bearer")

	resp, body = e.get(DashboardPath, "Authorization", "Bearer s3cret")
	assert.Equal(t, 200, resp.StatusCode)
	assert.Contains(t, body, "<title>wsd dashboard</title>")
	assert.Contains(t, resp.Header.Get("Content-Security-Policy"), "script-src 'sha256-")

	resp, _ = e.get(DashboardPath + "?token=s3cret")
	assert.Equal(t, http.StatusSeeOther, resp.StatusCode)
	assert.Equal(t, DashboardPath, resp.Header.Get("Location"), "the token leaves the address")
	cs := resp.Cookies()
	require.Len(t, cs, 1)
	ticket := cs[0]
	assert.Equal(t, DashboardCookie, ticket.Name)
	assert.True(t, ticket.HttpOnly)
	assert.Equal(t, http.SameSiteStrictMode, ticket.SameSite)
	assert.Equal(t, DashboardPath, ticket.Path)
	assert.Equal(t, int(DashboardTicketTTL/time.Second), ticket.MaxAge)
	assert.NotContains(t, ticket.Value, "s3cret")

	resp, body = e.get(DashboardPath, "Cookie", "other=x; "+ticket.Name+"="+ticket.Value)
	assert.Equal(t, 200, resp.StatusCode, body)
	assert.Len(t, resp.Cookies(), 1, "the ticket is renewed")

	exp, _, _ := strings.Cut(ticket.Value, ".")
	forged := exp + "0." + strings.SplitN(ticket.Value, ".", 2)[1] // a later expiry, the old MAC
	resp, body = e.get(DashboardPath, "Cookie", DashboardCookie+"="+forged)
	refused(resp, body, "a forged ticket")
	resp, body = e.get(DashboardPath, "Cookie", DashboardCookie+"="+e.hub.ticket(time.Now().Add(-time.Second).Unix()))
	refused(resp, body, "an expired ticket")
	other := start(t, Options{APIToken: "another"}, nil)
	resp, body = e.get(DashboardPath, "Cookie", DashboardCookie+"="+other.hub.ticket(time.Now().Add(time.Minute).Unix()))
	refused(resp, body, "a ticket signed with another token")
}

// The socket takes the ticket, ?token= or the Bearer header, and refuses
// another origin; a viewer first gets the history, then samples.
func TestDashboardSocketAuth(t *testing.T) {
	e := start(t, Options{APIToken: "s3cret"}, nil)
	ticket := e.hub.ticket(time.Now().Add(time.Minute).Unix())
	for _, c := range []struct {
		uri, header, want string
	}{
		{"/dashboard/ws", "", "401"},
		{"/dashboard/ws?token=wrong", "", "401"},
		{"/dashboard/ws", "Authorization: Bearer wrong", "401"},
		{"/dashboard/ws", "Cookie: " + DashboardCookie + "=" + e.hub.ticket(time.Now().Add(-time.Second).Unix()), "401"},
		{"/dashboard/ws", "Cookie: " + DashboardCookie + "=" + ticket + "\r\nOrigin: http://evil.example", "403"},
		{"/dashboard/ws?token=s3cret", "Origin: http://127.0.0.1:1", "403"},
	} {
		_, err := wstest.Dial(e.addr, c.uri, c.header)
		require.Error(t, err, "%s %q", c.uri, c.header)
		assert.Contains(t, err.Error(), c.want, "%s %q", c.uri, c.header)
	}
	assert.Zero(t, e.hub.Viewers())

	eventually(t, func() bool { return samplers() == 0 }, "a sampler runs before any viewer")
	for _, c := range []struct{ uri, header string }{
		{"/dashboard/ws?token=s3cret", ""},
		{"/dashboard/ws", "Authorization: Bearer s3cret"},
		{"/dashboard/ws", "Cookie: a=b; " + DashboardCookie + "=" + ticket + "\r\nOrigin: http://" + e.addr},
	} {
		v, err := wstest.Dial(e.addr, c.uri, c.header)
		require.NoError(t, err, "%s %q", c.uri, c.header)
		defer v.Close()
		first := msg(t, v)
		assert.Equal(t, "history", first["type"])
		assert.Equal(t, float64(DashboardInterval.Milliseconds()), first["interval_ms"])
		s := msg(t, v)
		assert.Equal(t, "sample", s["type"], "%v", s)
		assert.NotNil(t, s["loops"])
	}
	assert.Equal(t, 3, e.hub.Viewers())
	assert.Equal(t, 1, samplers(), "one sampler for every viewer")
}
