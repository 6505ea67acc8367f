package hub

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strconv"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/wsd-dev/wsd/auth"
	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/upgrade"
	"github.com/wsd-dev/wsd/wsconn"
)

// Upgrade routes upgrade requests to /ws/{user} (percent-encoded) and
// /ws?user=, with an optional ?since=SEQ; with tokens required, also /ws
// (the user is the token's); and /dashboard/ws (dashboard.go). The handler
// is the user entry itself, or for a resuming connection a small wrapper
// that remembers since until the hello is out. It allocates nothing for a
// known user (with a token too, when its rooms are a known set), and only
// the user entry and its name for a new one. Nothing of a refused request
// reaches the users.
func (h *Hub) Upgrade(c *wsconn.Conn, req *upgrade.Request) (wsconn.Handler, *upgrade.Error) {
	if string(req.Path) == DashboardSocketPath {
		return h.dashboardUpgrade(c, req)
	}
	name, ok := userPath(req)
	if !ok {
		return nil, &upgrade.Error{Status: 404, Msg: "no WebSocket endpoint at " + string(req.Path) + " (try /ws/{user})"}
	}
	// The token is checked in buf, on this loop's stack: a good one
	// allocates nothing (see checkToken and holdToken).
	var buf [auth.CheckBufSize]byte
	tok, authed, aerr := h.checkToken(req.Query, req.Header("Authorization"), buf[:])
	if aerr != nil {
		return nil, aerr
	}
	if name == nil && authed && string(req.Path) == "/ws" && !hasParam(req.Query, "user") {
		name = tok.Subject
	}
	if name == nil || !validName(unsafe.String(unsafe.SliceData(name), len(name))) {
		return nil, &upgrade.Error{Status: 400, Msg: "bad user name in " + string(req.Path) + ": 1-128 bytes of UTF-8 without '/' or control characters"}
	}
	if aerr := h.forUser(&tok, authed, name); aerr != nil {
		return nil, aerr
	}
	since, hasSince, err := sinceParam(req.Query)
	if err != nil {
		return nil, err
	}
	// The user must not be dropped before OnOpen adds the connection:
	// another loop may close its last connection meanwhile.
	u, mu := h.lockUserBytes(name)
	if max := h.opt.MaxConnsPerUser; max > 0 && u.online()+int(u.opens) >= max {
		mu.Unlock()
		h.dropIfEmpty(u)
		h.userCapRefusals.Add(1)
		return nil, &upgrade.Error{Status: 429, Msg: "too many connections for this user: at most " + strconv.Itoa(max)}
	}
	u.opens++
	mu.Unlock()
	if authed {
		h.holdToken(c, &tok)
	}
	if hasSince {
		return &resume{user: u, since: since}, nil
	}
	return u, nil
}

// UserOf returns the user a request connects as (/ws/{user}, /ws?user=),
// or "".
func UserOf(req *upgrade.Request) string {
	name, _ := userPath(req)
	return string(name)
}

// userPath reads the user from /ws/{user} or /ws?user=: nil when the name
// is not valid, ok false for other paths. The name is a view of the
// request unless it had to be unescaped.
func userPath(req *upgrade.Request) (name []byte, ok bool) {
	path := req.Path
	switch {
	case bytes.HasPrefix(path, []byte("/ws/")):
		name = path[len("/ws/"):]
		if bytes.IndexByte(name, '%') >= 0 {
			s, err := url.PathUnescape(string(name))
			if err != nil {
				return nil, true
			}
			name = []byte(s)
		}
	case string(path) == "/ws":
		name, _ = queryParam(req.Query, "user") // nil: the token's user, if any
	default:
		return nil, false
	}
	return name, true
}

// hasParam reports whether a raw query has key.
func hasParam(q []byte, key string) bool {
	_, found := queryParam(q, key)
	return found
}

// queryParam finds key in a raw query and returns its value, unescaped
// (a copy only when it had escapes).
func queryParam(q []byte, key string) ([]byte, bool) {
	for len(q) > 0 {
		var kv []byte
		kv, q, _ = bytes.Cut(q, []byte("&"))
		k, v, _ := bytes.Cut(kv, []byte("="))
		if string(k) != key {
			continue
		}
		if bytes.IndexByte(v, '%') >= 0 || bytes.IndexByte(v, '+') >= 0 {
			s, err := url.QueryUnescape(string(v))
			if err != nil {
				return nil, true
			}
			return []byte(s), true
		}
		return v, true
	}
	return nil, false
}

// sinceParam reads ?since=SEQ.
func sinceParam(q []byte) (uint64, bool, *upgrade.Error) {
	v, found := queryParam(q, "since")
	if !found {
		return 0, false, nil
	}
	var n uint64
	for _, c := range v {
		if c < '0' || c > '9' || n > (1<<64-1-9)/10 {
			return 0, false, &upgrade.Error{Status: 400, Msg: "since=" + strconv.Quote(string(v)) + " is not a sequence number"}
		}
		n = n*10 + uint64(c-'0')
	}
	if len(v) == 0 {
		return 0, false, &upgrade.Error{Status: 400, Msg: "since= is empty: give a sequence number"}
	}
	return n, true, nil
}

// ValidName reports whether s may name a user or a room: 1-128 bytes of
// UTF-8 without '/' or control characters.
func ValidName(s string) bool { return validName(s) }

func validName(s string) bool {
	if len(s) == 0 || len(s) > 128 || !utf8.ValidString(s) {
		return false
	}
	for i := range len(s) {
		if c := s[i]; c < 0x20 || c == 0x7F || c == '/' {
			return false
		}
	}
	return true
}

// resume is the handler of a connection that asked for ?since=: the user's
// handler, with the replay on open.
type resume struct {
	*user
	since uint64
}

func (r *resume) OnOpen(c *wsconn.Conn) { r.user.open(hubOf(c), c, r.since, true) }

// OnOpen registers the connection under its user and sends the hello.
func (u *user) OnOpen(c *wsconn.Conn) { u.open(hubOf(c), c, 0, false) }

// open adds the connection to its user and sends the hello and the missed
// messages before any live one: Publish holds the same lock.
func (u *user) open(h *Hub, c *wsconn.Conn, since uint64, replay bool) {
	h.online.Add(1)
	if h.cs != nil {
		h.clusterOpen(u, c, since, replay)
		return
	}
	h.everyone.Add(c)
	mu := h.lock(u)
	mu.Lock()
	defer mu.Unlock()
	u.opens--
	u.addConn(c)
	if u.online() == 1 {
		h.onlineUsers.Add(1)
	}
	var buf [256]byte
	hello := Hello{User: u.name, Seq: u.seq, First: u.firstSeq(), Unread: int64(u.unread), Online: u.online()}
	c.Send(frame.OpText, hello.AppendJSON(buf[:0]))
	if !replay {
		return
	}
	if first := u.firstSeq(); since+1 < first && since < u.seq {
		c.Send(frame.OpText, Gap{Since: since, First: first}.AppendJSON(buf[:0]))
	}
	u.since(since, func(e *entry) { c.SendPrepared(u.frameFor(e)) })
}

// OnMessage handles what a client sends: JSON control messages.
func (u *user) OnMessage(c *wsconn.Conn, op frame.Opcode, p []byte) {
	h := hubOf(c)
	var m ClientMessage
	if op != frame.OpText || json.Unmarshal(p, &m) != nil {
		reply(c, Error{Message: "send JSON control messages: join, leave, read, say"})
		return
	}
	switch m.Type {
	case "join":
		if !validName(m.Room) {
			reply(c, Error{Message: "join: bad room name"})
			return
		}
		if !h.mayUseRoom(c, m.Room) {
			reply(c, Error{Message: "join: room " + m.Room + " is not in your token"})
			return
		}
		h.join(c, m.Room)
		reply(c, RoomEvent{Type: "joined", Room: m.Room})
	case "leave":
		if !h.leave(c, m.Room) {
			reply(c, Error{Message: "leave: not in room " + m.Room})
			return
		}
		reply(c, RoomEvent{Type: "left", Room: m.Room})
	case "read":
		h.markRead(u, c)
	case "refresh":
		h.refresh(u, c, m.Token)
	case "say":
		if !h.mayUseRoom(c, m.Room) {
			reply(c, Error{Message: "say: room " + m.Room + " is not in your token"})
			return
		}
		r := h.roomOf(c, m.Room)
		if r == nil {
			reply(c, Error{Message: "say: join room " + m.Room + " first"})
			return
		}
		if h.cs != nil {
			if err := h.Relay(Relayed{Channel: "room", Room: r.name, From: u.name, Body: bytes.TrimSpace(m.Data)}); err != nil {
				reply(c, Error{Message: "say: " + err.Error()})
			}
			return
		}
		msg := RoomMessage{Room: r.name, From: u.name, Body: bytes.TrimSpace(m.Data)}
		h.sendRoom(r, wsconn.Prepare(frame.OpText, msg.AppendJSON(nil)))
	default:
		reply(c, Error{Message: "unknown message type " + strconv.Quote(m.Type)})
	}
}

// OnClose unregisters the connection at once (the group drops it by
// itself).
func (u *user) OnClose(c *wsconn.Conn, code frame.CloseCode, reason string) {
	h := hubOf(c)
	h.online.Add(-1)
	h.leaveAll(c)
	mu := h.lock(u)
	mu.Lock()
	gone := u.removeConn(c) && u.online() == 0
	mu.Unlock()
	if gone {
		h.onlineUsers.Add(-1)
	}
	if gone || h.cs != nil {
		h.dropIfEmpty(u)
	}
}

// OnExpire implements wsconn.Expirer: the token a connection was opened
// (or last refreshed) with has expired.
func (u *user) OnExpire(c *wsconn.Conn) {
	reply(c, Expired{})
	c.Close(CloseTokenExpired, "token expired")
}

// CloseTokenExpired is the close code of a connection whose token expired
// without a refresh.
const CloseTokenExpired = 4001

// refresh replaces a connection's token with a later one for the same user
// ({"type":"refresh","token":T}); a bad one changes nothing.
func (h *Hub) refresh(u *user, c *wsconn.Conn, token string) {
	if h.opt.Auth == nil {
		reply(c, Error{Message: "refresh: this server takes no tokens"})
		return
	}
	var buf [auth.CheckBufSize]byte
	next, aerr := h.opt.Auth.CheckRefresh(u.name, c.Expiry(), bytesOf(token), time.Now(), buf[:])
	if aerr != nil {
		h.authFailures.add(aerr.Reason)
		reply(c, Error{Message: "refresh: " + aerr.Reason})
		return
	}
	h.holdToken(c, &next)
	reply(c, Refreshed{Exp: next.Expires})
}

// envelope is any of the hub's messages.
type envelope interface{ AppendJSON([]byte) []byte }

func reply(c *wsconn.Conn, m envelope) {
	var buf [256]byte
	c.Send(frame.OpText, m.AppendJSON(buf[:0]))
}
