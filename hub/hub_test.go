package hub

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/internal/wstest"
	"github.com/wsd-dev/wsd/upgrade"
)

func TestRegistryAndPublishToUser(t *testing.T) {
	e := start(t, Options{}, nil)
	a1 := e.dial("/ws/alice")
	// The hello counts the user's connections when it is sent: read it
	// before the second one opens (they may open on different loops).
	h1 := msg(t, a1)
	assert.Equal(t, "hello", h1["type"])
	assert.Equal(t, float64(1), h1["online"])
	a2 := e.dial("/ws?user=alice")
	b := e.dial("/ws/" + "%E5%B0%8F%E6%98%8E") // 小明, percent-encoded as browsers send it
	assert.Equal(t, float64(2), msg(t, a2)["online"], "a user may have many connections")
	assert.Equal(t, "小明", msg(t, b)["user"])
	assert.Equal(t, 2, e.hub.User("alice").Online)
	assert.Equal(t, int64(2), e.hub.Counts().UsersOnline)

	st, out := e.request("POST", "/publish/alice", `{"order":42}`)
	require.Equal(t, http.StatusOK, st)
	assert.Equal(t, float64(1), out["seq"])
	assert.Equal(t, float64(2), out["delivered"])
	for _, c := range []*wstest.Client{a1, a2} {
		m := msg(t, c)
		assert.Equal(t, "message", m["type"])
		assert.Equal(t, float64(1), m["seq"])
		assert.Equal(t, float64(1), m["unread"])
		assert.Equal(t, map[string]any{"order": 42.0}, m["data"], "JSON bodies are embedded as JSON")
	}
	e.request("POST", "/publish/alice", "plain text")
	assert.Equal(t, "plain text", msg(t, a1)["data"], "other bodies become a JSON string")

	// Binary: the sequence number, then the body.
	e.request("POST", "/publish/alice?binary=1", "\x00\x01\xff")
	op, p, err := a1.ReadMessage(time.Second)
	require.NoError(t, err)
	assert.Equal(t, frame.OpBinary, op)
	assert.Equal(t, uint64(3), binary.BigEndian.Uint64(p[:8]))
	assert.Equal(t, []byte{0, 1, 0xff}, p[8:])

	// A closed connection leaves the registry at once.
	a2.Close()
	eventually(t, func() bool { return e.hub.User("alice").Online == 1 }, "closed connection still registered")
	a1.Close()
	eventually(t, func() bool { return e.hub.Counts().UsersOnline == 1 }, "online users not counted down")
}

// A client that was away gets exactly what it missed, in order, before
// live traffic; no duplicates.
func TestResumeSince(t *testing.T) {
	e := start(t, Options{History: 50}, nil)
	for i := range 5 {
		e.request("POST", "/publish/bob", "m"+string(rune('1'+i)))
	}
	c := e.dial("/ws/bob?since=2")
	hello := msg(t, c)
	assert.Equal(t, float64(5), hello["seq"])
	assert.Equal(t, float64(5), hello["unread"])
	go e.request("POST", "/publish/bob", "m6") // live, racing with the replay
	var seqs []float64
	for range 4 {
		seqs = append(seqs, msg(t, c)["seq"].(float64))
	}
	assert.Equal(t, []float64{3, 4, 5, 6}, seqs)
	_, _, err := c.ReadMessage(200 * time.Millisecond)
	assert.Error(t, err, "nothing more: no duplicate")
}

func TestGapIsReported(t *testing.T) {
	e := start(t, Options{History: 3}, nil)
	for range 10 {
		e.request("POST", "/publish/carol", "x")
	}
	c := e.dial("/ws/carol?since=2")
	msg(t, c) // hello
	gap := msg(t, c)
	assert.Equal(t, "gap", gap["type"])
	assert.Equal(t, float64(2), gap["since"])
	assert.Equal(t, float64(8), gap["first"], "the first seq still kept")
	for _, want := range []float64{8, 9, 10} {
		assert.Equal(t, want, msg(t, c)["seq"])
	}
	// Up to date: no gap.
	c2 := e.dial("/ws/carol?since=10")
	msg(t, c2)
	_, _, err := c2.ReadMessage(200 * time.Millisecond)
	assert.Error(t, err)
}

// The unread count survives reconnects and "read" clears it everywhere.
func TestUnreadCount(t *testing.T) {
	e := start(t, Options{}, nil)
	for range 3 {
		e.request("POST", "/publish/admin", `{"type":"order"}`)
	}
	a := e.dial("/ws/admin")
	assert.Equal(t, float64(3), msg(t, a)["unread"])
	a.Close()
	e.request("POST", "/publish/admin", `{"type":"order"}`)
	b := e.dial("/ws/admin?since=3")
	assert.Equal(t, float64(4), msg(t, b)["unread"], "kept across reconnects")
	assert.Equal(t, float64(4), msg(t, b)["seq"])
	c := e.dial("/ws/admin")
	msg(t, c)
	b.Write(wstest.Masked(true, frame.OpText, []byte(`{"type":"read"}`)))
	for _, x := range []*wstest.Client{b, c} {
		m := msg(t, x)
		assert.Equal(t, "unread", m["type"])
		assert.Equal(t, float64(0), m["unread"])
	}
	assert.Equal(t, int64(0), e.hub.User("admin").Unread)
}

func TestRooms(t *testing.T) {
	e := start(t, Options{}, nil)
	u := e.dial("/ws/u1")
	msg(t, u)
	u.Send(true, frame.OpText, []byte(`{"type":"join","room":"news"}`))
	assert.Equal(t, map[string]any{"type": "joined", "room": "news"}, msg(t, u))
	st, out := e.request("POST", "/rooms/news/publish", "breaking")
	assert.Equal(t, 200, st)
	assert.Equal(t, float64(1), out["delivered"])
	assert.Equal(t, map[string]any{"type": "room", "room": "news", "data": "breaking"}, msg(t, u), "room messages come wrapped")
	e.request("POST", "/rooms/news/publish?binary=1", "\x00\x01")
	assert.Equal(t, map[string]any{"type": "room", "room": "news", "binary": "AAE="}, msg(t, u))
	u.Send(true, frame.OpText, []byte(`{"type":"say","room":"news","data":{"n":1}}`))
	assert.Equal(t, map[string]any{"type": "room", "room": "news", "from": "u1", "data": map[string]any{"n": 1.0}}, msg(t, u))
	u.Send(true, frame.OpText, []byte(`{"type":"say","room":"other","data":1}`))
	assert.Equal(t, "error", msg(t, u)["type"], "say needs a join")
	u.Send(true, frame.OpText, []byte(`{"type":"leave","room":"news"}`))
	assert.Equal(t, "left", msg(t, u)["type"])
	_, out = e.request("POST", "/rooms/news/publish", "again")
	assert.Equal(t, float64(0), out["delivered"])
	assert.Equal(t, 0, e.hub.Counts().Rooms, "the empty room is gone")
	u.Send(true, frame.OpText, []byte(`not json`))
	assert.Equal(t, "error", msg(t, u)["type"])

	// A closing connection leaves its rooms.
	u.Send(true, frame.OpText, []byte(`{"type":"join","room":"news"}`))
	msg(t, u)
	assert.Equal(t, 1, e.hub.Counts().Rooms)
	u.Close()
	eventually(t, func() bool { return e.hub.Counts().Rooms == 0 }, "a closed connection's room is still there")
}

// A broadcast reaches every user connection, wrapped so that a body that
// looks like a protocol message cannot pass for one.
func TestBroadcastWrapped(t *testing.T) {
	e := start(t, Options{}, nil)
	var cs []*wstest.Client
	for i := range 20 {
		c := e.dial(fmt.Sprintf("/ws/b%d", i))
		msg(t, c)
		cs = append(cs, c)
	}
	st, out := e.request("POST", "/broadcast", `{"type":"hello","seq":99}`)
	assert.Equal(t, http.StatusAccepted, st)
	assert.Equal(t, float64(20), out["recipients"])
	for _, c := range cs {
		assert.Equal(t, map[string]any{"type": "broadcast", "data": map[string]any{"type": "hello", "seq": 99.0}}, msg(t, c))
	}
	e.request("POST", "/broadcast?binary=1", "\x00\x01")
	assert.Equal(t, map[string]any{"type": "broadcast", "binary": "AAE="}, msg(t, cs[0]))
	eventually(t, func() bool { return e.hub.Counts().Delivered >= 40 }, "delivered not counted")
}

func TestAPIErrorsAndAuth(t *testing.T) {
	e := start(t, Options{MaxMessage: 100}, nil)
	for _, tc := range []struct {
		method, path, body string
		status             int
	}{
		{"GET", "/nowhere", "", 404},
		{"GET", "/publish/x", "", 405},
		{"POST", "/publish/x", "", 400},
		{"POST", "/publish/x", strings.Repeat("a", 101), 413},
		{"POST", "/broadcast", "\xff\xfe", 400},
		{"GET", "/poll/x?since=abc", "", 400},
		{"GET", "/poll/x?wait=forever", "", 400},
	} {
		st, out := e.request(tc.method, tc.path, tc.body)
		assert.Equal(t, tc.status, st, "%s %s", tc.method, tc.path)
		assert.NotEmpty(t, out["error"], "%s %s: a JSON error body", tc.method, tc.path)
	}
	st, _ := e.request("GET", "/healthz", "")
	assert.Equal(t, 200, st)

	// With a token the API needs it.
	e2 := start(t, Options{APIToken: "s3cret"}, nil)
	st, out := e2.request("POST", "/publish/x", "hi")
	assert.Equal(t, http.StatusUnauthorized, st)
	assert.Contains(t, out["error"], "token")
	st, _ = e2.request("POST", "/publish/x", "hi", "Authorization", "Bearer wrong")
	assert.Equal(t, http.StatusUnauthorized, st)
	st, _ = e2.request("POST", "/publish/x", "hi", "Authorization", "Bearer s3cret")
	assert.Equal(t, http.StatusOK, st)
	st, _ = e2.request("GET", "/stats", "", "Authorization", "Bearer s3cret")
	assert.Equal(t, http.StatusOK, st)

	// Without a token, only loopback clients.
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("POST", "/publish/x", strings.NewReader("hi"))
	req.RemoteAddr = "192.0.2.7:4000"
	e.hub.Handler().ServeHTTP(rec, req)
	assert.Equal(t, http.StatusForbidden, rec.Code)
	assert.Contains(t, rec.Body.String(), "loopback")
}

func TestPolling(t *testing.T) {
	e := start(t, Options{}, nil)
	_, out := e.request("GET", "/poll/dora?since=0", "")
	assert.Empty(t, out["messages"], "short poll answers at once")
	e.request("POST", "/publish/dora", `{"n":1}`)
	e.request("POST", "/publish/dora", "two")
	_, out = e.request("GET", "/poll/dora?since=0", "")
	msgs := out["messages"].([]any)
	require.Len(t, msgs, 2)
	assert.Equal(t, map[string]any{"n": 1.0}, msgs[0].(map[string]any)["data"])
	assert.Equal(t, "two", msgs[1].(map[string]any)["data"])
	assert.Equal(t, float64(2), out["seq"])

	// Long poll: answers when a message arrives. The publish waits until
	// the poll is waiting, so that it is the publish that wakes it.
	done := make(chan map[string]any)
	go func() {
		_, out := e.request("GET", "/poll/dora?since=2&wait=10s", "")
		done <- out
	}()
	eventually(t, func() bool { return e.hub.waiters("dora") == 1 }, "the long poll is not waiting")
	assert.Equal(t, int64(1), e.hub.Counts().PollsWaiting, "/stats polls_waiting")
	start := time.Now()
	e.request("POST", "/publish/dora", "three")
	out = <-done
	assert.Less(t, time.Since(start), time.Second)
	assert.Zero(t, e.hub.waiters("dora"), "the woken poll stopped waiting")
	assert.Zero(t, e.hub.Counts().PollsWaiting, "/stats polls_waiting after the poll")
	msgs = out["messages"].([]any)
	require.Len(t, msgs, 1)
	assert.Equal(t, float64(3), msgs[0].(map[string]any)["seq"])
	// And times out with nothing.
	t0 := time.Now()
	_, out = e.request("GET", "/poll/dora?since=3&wait=300ms", "")
	assert.Empty(t, out["messages"])
	assert.GreaterOrEqual(t, time.Since(t0), 300*time.Millisecond)
}

func TestStateSurvivesRestart(t *testing.T) {
	e := start(t, Options{}, nil)
	e.request("POST", "/publish/admin", `{"type":"order","id":1}`)
	e.request("POST", "/publish/admin", `{"type":"order","id":2}`)
	var buf bytes.Buffer
	require.NoError(t, e.hub.Save(&buf))
	e2 := start(t, Options{}, nil)
	require.NoError(t, e2.hub.Load(&buf))
	c := e2.dial("/ws/admin?since=1")
	hello := msg(t, c)
	assert.Equal(t, float64(2), hello["seq"])
	assert.Equal(t, float64(2), hello["unread"])
	m := msg(t, c)
	assert.Equal(t, float64(2), m["seq"])
	assert.Equal(t, map[string]any{"type": "order", "id": 2.0}, m["data"])
	_, out := e2.request("POST", "/publish/admin", "x")
	assert.Equal(t, float64(3), out["seq"], "sequence numbers continue")
}

func TestPublishBatch(t *testing.T) {
	e := start(t, Options{}, nil)
	a := e.dial("/ws/a")
	msg(t, a)
	st, out := e.request("POST", "/publish", `[{"user":"a","message":"one"},{"user":"b","message":"two"},{"user":"a","message":"three"}]`)
	require.Equal(t, 200, st)
	assert.Equal(t, float64(3), out["published"])
	assert.Equal(t, float64(2), out["delivered"])
	assert.Equal(t, "one", msg(t, a)["data"])
	assert.Equal(t, "three", msg(t, a)["data"])
	assert.Equal(t, uint64(1), e.hub.User("b").Seq)
	st, _ = e.request("POST", "/publish", `{"not":"an array"}`)
	assert.Equal(t, 400, st)
	st, _ = e.request("POST", "/publish", `[{"user":"","message":"x"}]`)
	assert.Equal(t, 400, st)
}

// Between Upgrade and OnOpen (a connection's handshake on one loop) the
// user must stay: another loop closing the user's last connection, or a
// poll ending, would otherwise drop the entry the new connection is about
// to join, and messages to the user would go to a new entry it never sees.
func TestUserStaysBetweenUpgradeAndOpen(t *testing.T) {
	e := start(t, Options{}, nil)
	req, _, perr := upgrade.Parse([]byte("GET /ws/racer HTTP/1.1\r\nHost: x\r\n\r\n"), 0)
	require.Nil(t, perr)
	hd, uerr := e.hub.Upgrade(nil, &req) // no tokens: the connection is not touched
	require.Nil(t, uerr)
	u := hd.(*user)
	e.hub.dropIfEmpty(u) // what a closing connection of the same user does
	assert.Same(t, u, e.hub.lookup("racer", false), "the user was dropped while a connection was opening")
}
