package hub

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"iter"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsd-dev/wsd/auth"
	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/internal/wstest"
	"github.com/wsd-dev/wsd/upgrade"
	"github.com/wsd-dev/wsd/wsconn"
)

// tokens is a test issuer: an HMAC secret the hub verifies with.
type tokens struct {
	t      *testing.T
	secret []byte
	v      *auth.Verifier
}

func newTokens(t *testing.T) *tokens {
	secret := make([]byte, 32)
	rand.Read(secret)
	f := filepath.Join(t.TempDir(), "secret")
	require.NoError(t, os.WriteFile(f, secret, 0o600))
	v, err := auth.New(auth.Config{SecretFile: f, Leeway: 0})
	require.NoError(t, err)
	return &tokens{t: t, secret: secret, v: v}
}

func (k *tokens) mint(sub string, exp time.Duration, rooms ...string) string {
	tok, err := auth.Mint(k.secret, "HS256", auth.MintClaims{Subject: sub, Expires: time.Now().Add(exp), IssuedAt: time.Now(), Rooms: rooms})
	require.NoError(k.t, err)
	return tok
}

// handshake makes an upgrade request and returns the status, the
// WWW-Authenticate header and the body of a refusal ("" on 101).
func (e *env) handshake(uri, header string) (int, string, string) {
	e.t.Helper()
	c, err := wstest.Dial(e.addr, uri, header)
	if err == nil {
		c.Close()
		return 101, "", ""
	}
	// Dial failed: ask again by hand to read the answer.
	req, _ := http.NewRequest("GET", "http://"+e.addr+uri, nil)
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	req.Header.Set("Sec-WebSocket-Version", "13")
	if name, value, ok := strings.Cut(header, ": "); ok {
		req.Header.Set(name, value)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("WWW-Authenticate"), string(body)
}

// With a verifier, every client endpoint wants a valid token for its
// user; every refusal is JSON naming the reason, and nothing of a refused
// request reaches the hub.
func TestTokensAtTheHandshake(t *testing.T) {
	k := newTokens(t)
	e := start(t, Options{Auth: k.v}, nil)
	good := k.mint("alice", time.Hour)
	longTok := strings.Repeat("a", 9<<10)
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	otherKey, _ := auth.Mint(priv, "EdDSA", auth.MintClaims{Subject: "alice", Expires: time.Now().Add(time.Hour)})
	for _, tc := range []struct {
		name, uri, header string
		status            int
		reason            string
	}{
		{"no token", "/ws/alice", "", 401, auth.ReasonNoToken},
		{"query token", "/ws/alice?token=" + good, "", 101, ""},
		{"bearer token", "/ws/alice", "Authorization: Bearer " + good, 101, ""},
		{"user from the token", "/ws", "Authorization: Bearer " + good, 101, ""},
		{"?user= and token", "/ws?user=alice&token=" + good, "", 101, ""},
		{"another user", "/ws/bob?token=" + good, "", 403, auth.ReasonOtherUser},
		{"expired", "/ws/alice?token=" + k.mint("alice", -time.Minute), "", 401, auth.ReasonExpired},
		{"malformed", "/ws/alice?token=abc.def", "", 401, auth.ReasonMalformed},
		{"bad signature", "/ws/alice?token=" + good[:len(good)-2] + "AA", "", 401, auth.ReasonBadSignature},
		{"another key's algorithm", "/ws/alice?token=" + otherKey, "", 401, auth.ReasonAlgNotAllowed},
		{"alg none", "/ws/alice?token=eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJhbGljZSIsImV4cCI6OTk5OTk5OTk5OX0.", "", 401, auth.ReasonAlgNone},
		{"over 8 KiB", "/ws/alice?token=" + longTok, "", 431, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, challenge, body := e.handshake(tc.uri, tc.header)
			assert.Equal(t, tc.status, st, body)
			if tc.status == 101 {
				return
			}
			assert.True(t, strings.HasPrefix(body, `{"error":`), "a JSON body: %q", body)
			if tc.reason != "" {
				assert.Contains(t, body, `"error":"`+tc.reason+`"`)
			}
			if tc.status == 401 {
				assert.True(t, strings.HasPrefix(challenge, "Bearer"), "WWW-Authenticate: %q", challenge)
			}
		})
	}
	eventually(t, func() bool { return e.hub.Counts().Connections == 0 }, "connections left")
	assert.Zero(t, e.hub.Counts().Users, "refused requests left a user behind (or the accepted ones did)")
	assert.Positive(t, e.hub.AuthFailures()[auth.ReasonExpired])

	// Polling wants the token too.
	st, _ := e.request("GET", "/poll/alice", "")
	assert.Equal(t, 401, st)
	st, out := e.request("GET", "/poll/alice?token="+k.mint("bob", time.Hour), "")
	assert.Equal(t, 403, st)
	assert.Equal(t, auth.ReasonOtherUser, out["error"])
	st, _ = e.request("GET", "/poll/alice", "", "Authorization", "Bearer "+good)
	assert.Equal(t, 200, st)
}

// A token's rooms are the only rooms the connection may join or say in;
// anything else is refused with an error and changes nothing.
func TestTokenRooms(t *testing.T) {
	k := newTokens(t)
	e := start(t, Options{Auth: k.v}, nil)
	c := e.dial("/ws/ann?token=" + k.mint("ann", time.Hour, "news"))
	msg(t, c)
	c.Send(true, frame.OpText, []byte(`{"type":"join","room":"staff"}`))
	m := msg(t, c)
	assert.Equal(t, "error", m["type"])
	assert.Contains(t, m["message"], "not in your token")
	assert.Equal(t, 0, e.hub.Counts().Rooms, "nothing joined")
	c.Send(true, frame.OpText, []byte(`{"type":"say","room":"staff","data":1}`))
	assert.Equal(t, "error", msg(t, c)["type"])
	c.Send(true, frame.OpText, []byte(`{"type":"join","room":"news"}`))
	assert.Equal(t, map[string]any{"type": "joined", "room": "news"}, msg(t, c))
	c.Send(true, frame.OpText, []byte(`{"type":"say","room":"news","data":"hi"}`))
	assert.Equal(t, "room", msg(t, c)["type"])

	// A token without rooms may join none.
	d := e.dial("/ws/dan?token=" + k.mint("dan", time.Hour))
	msg(t, d)
	d.Send(true, frame.OpText, []byte(`{"type":"join","room":"news"}`))
	assert.Equal(t, "error", msg(t, d)["type"])
}

// At its token's expiry a connection gets {"type":"expired"} and a Close
// 4001, unless it sent a good refresh; a bad refresh is an error and keeps
// the old expiry.
func TestTokenExpiryAndRefresh(t *testing.T) {
	k := newTokens(t)
	e := start(t, Options{Auth: k.v}, nil)
	expiring := func(user string) *wstest.Client {
		c := e.dial("/ws/" + user + "?token=" + k.mint(user, 1500*time.Millisecond))
		msg(t, c)
		return c
	}
	waitExpiry := func(c *wstest.Client) {
		t.Helper()
		op, p, err := c.ReadMessage(5 * time.Second)
		require.NoError(t, err)
		require.Equal(t, frame.OpText, op)
		assert.JSONEq(t, `{"type":"expired"}`, string(p))
		f, err := c.ReadFrame(3 * time.Second)
		require.NoError(t, err)
		code, reason := f.Close()
		assert.Equal(t, frame.CloseCode(CloseTokenExpired), code)
		assert.Equal(t, "token expired", reason)
	}

	// No refresh: expired.
	waitExpiry(expiring("eve"))

	// A bad refresh (another user's token, then one that does not expire
	// later) is an error; the old expiry stands.
	c := expiring("fay")
	c.Send(true, frame.OpText, []byte(`{"type":"refresh","token":"`+k.mint("gus", time.Hour)+`"}`))
	m := msg(t, c)
	assert.Equal(t, "error", m["type"])
	assert.Contains(t, m["message"], auth.ReasonOtherUser)
	c.Send(true, frame.OpText, []byte(`{"type":"refresh","token":"`+k.mint("fay", time.Second)+`"}`))
	assert.Contains(t, msg(t, c)["message"], auth.ReasonRefreshNotLater)
	waitExpiry(c)

	// A good refresh: the connection now expires with the new token (the
	// sweep that expired the others watches that time).
	r := expiring("hal")
	r.Send(true, frame.OpText, []byte(`{"type":"refresh","token":"`+k.mint("hal", time.Hour)+`"}`))
	m = msg(t, r)
	assert.Equal(t, "refreshed", m["type"])
	newExp := time.Unix(int64(m["exp"].(float64)), 0)
	assert.WithinDuration(t, time.Now().Add(time.Hour), newExp, 5*time.Second)
	var held time.Time
	e.srv.OnLoops(func(_ int, conns iter.Seq[*wsconn.Conn]) {
		for c := range conns {
			if u, ok := c.Handler().(*user); ok && u.name == "hal" {
				held = c.Expiry()
			}
		}
	})
	assert.Equal(t, newExp, held, "the connection holds the new expiry")
	assert.Equal(t, int64(2), e.srv.Stats().Expired, "eve and fay expired, hal did not")
}

// -max-conns-per-user: the connection past the cap is answered 429; one
// closing makes room again.
func TestMaxConnsPerUser(t *testing.T) {
	e := start(t, Options{MaxConnsPerUser: 2}, nil)
	a := e.dial("/ws/ivy")
	msg(t, a)
	b := e.dial("/ws/ivy")
	msg(t, b)
	st, _, body := e.handshake("/ws/ivy", "")
	assert.Equal(t, 429, st)
	assert.Contains(t, body, "too many connections for this user")
	st, _, _ = e.handshake("/ws/jon", "")
	assert.Equal(t, 101, st, "other users are not affected")
	a.Close()
	eventually(t, func() bool { return e.hub.User("ivy").Online == 1 }, "the closed connection is still counted")
	c := e.dial("/ws/ivy")
	assert.Equal(t, float64(2), msg(t, c)["online"])
}

// A handshake with a token allocates nothing for a known user whose
// token lists a known set of rooms: the token is checked in a buffer on
// the loop's stack, and the connection keeps a number for its rooms. (The
// connection here is a live one of alice's; each Upgrade's open count is
// taken back, as OnOpen would.)
func TestTokenUpgradeAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates, and drops sync.Pool items")
	}
	k := newTokens(t)
	e := start(t, Options{Auth: k.v}, nil)
	tok := k.mint("alice", time.Hour, "lobby", "ops")
	cl := e.dial("/ws/alice?token=" + tok)
	msg(t, cl)
	u := e.hub.lookup("alice", false)
	require.NotNil(t, u)
	c := u.conn
	tag := c.Tag()
	require.NotZero(t, tag)
	for _, head := range []string{
		"GET /ws/alice?token=" + tok + " HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /ws?token=" + tok + "&since=0 HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /ws/alice HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + tok + "\r\n\r\n",
	} {
		req, _, perr := upgrade.Parse([]byte(head), 0)
		require.Nil(t, perr)
		allocs := testing.AllocsPerRun(100, func() {
			hd, uerr := e.hub.Upgrade(c, &req)
			if uerr != nil || hd == nil {
				t.Fatal("refused")
			}
			mu := e.hub.lock(u)
			mu.Lock()
			u.opens--
			mu.Unlock()
		})
		// ?since= makes a resume handler: one small allocation, as without tokens.
		want := 0.0
		if strings.Contains(head, "since=") {
			want = 1
		}
		assert.Equal(t, want, allocs, head)
		assert.Equal(t, tag, c.Tag(), "the same rooms, the same set")
	}
}

// Rooms sets are interned by their decoded contents: the same rooms
// spelled otherwise share a number; other rooms, or another order, get
// their own.
func TestRoomSetsIntern(t *testing.T) {
	k := newTokens(t)
	check := func(payload string) auth.Checked {
		tok := signHS256(t, k.secret, payload)
		c, e := k.v.Check([]byte(tok), time.Now(), nil)
		require.Nil(t, e, payload)
		return c
	}
	exp := strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)
	var r roomSets
	a := check(`{"sub":"a","exp":` + exp + `,"rooms":["news","ops"]}`)
	id := r.intern(a.Rooms)
	require.NotZero(t, id)
	assert.Equal(t, []string{"news", "ops"}, r.get(id))
	assert.Equal(t, id, r.intern(check(`{"sub":"b","exp":`+exp+`,"rooms":[ "n\u0065ws", "ops" ]}`).Rooms))
	assert.NotEqual(t, id, r.intern(check(`{"sub":"a","exp":`+exp+`,"rooms":["ops","news"]}`).Rooms))
	assert.NotEqual(t, id, r.intern(check(`{"sub":"a","exp":`+exp+`,"rooms":["news\u0000ops"]}`).Rooms))
	assert.Zero(t, r.intern(check(`{"sub":"a","exp":`+exp+`,"rooms":[]}`).Rooms))
	assert.Zero(t, r.intern(check(`{"sub":"a","exp":`+exp+`}`).Rooms))
}

// signHS256 signs any payload, as auth's tests do.
func signHS256(t *testing.T, secret []byte, payload string) string {
	t.Helper()
	enc := base64.RawURLEncoding
	input := enc.EncodeToString([]byte(`{"alg":"HS256"}`)) + "." + enc.EncodeToString([]byte(payload))
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(input))
	return input + "." + enc.EncodeToString(mac.Sum(nil))
}
