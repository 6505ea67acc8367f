package hub

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/upgrade"
	"github.com/wsd-dev/wsd/wsconn"
)

const (
	kindUser uint8 = iota // /ws/{user}: JSON envelopes, history, control messages
	kindChat              // /ws/chat/{nick}: the seed's chat room, plain text lines
)

// ChatRoom is the room /ws/chat/{nick} connections share.
const ChatRoom = "chat"

// member is one hub connection; it is the connection's wsconn.Handler.
type member struct {
	h        *Hub
	c        *wsconn.Conn
	u        *user
	name     string // user id or nickname
	rooms    []*room
	since    uint64 // ?since= at connect
	slot     int32  // index in its loop's list
	kind     uint8
	hasSince bool
}

// Upgrade routes upgrade requests: /ws/{user} and /ws?user=, /ws/chat/{nick},
// /echo. Use it as wsconn.Options.Upgrade.
func (h *Hub) Upgrade(req *upgrade.Request) (wsconn.Handler, *upgrade.Error) {
	path := string(req.Path)
	if path == "/echo" {
		return Echo{}, nil
	}
	q, err := url.ParseQuery(string(req.Query))
	if err != nil {
		return nil, &upgrade.Error{Status: 400, Msg: "malformed query: " + err.Error()}
	}
	kind, name, ok := endpoint(path, q)
	if !ok {
		return nil, &upgrade.Error{Status: 404, Msg: "no WebSocket endpoint at " + path + " (try /ws/{user}, /ws/chat/{nick}, /echo)"}
	}
	if !validName(name) {
		return nil, &upgrade.Error{Status: 400, Msg: "bad user name in " + path + ": 1-128 bytes of UTF-8 without '/' or control characters"}
	}
	m := &member{h: h, kind: kind, name: name}
	if s := q.Get("since"); s != "" {
		if m.since, err = strconv.ParseUint(s, 10, 64); err != nil {
			return nil, &upgrade.Error{Status: 400, Msg: "since=" + s + " is not a sequence number"}
		}
		m.hasSince = true
	}
	return m, nil
}

// endpoint reads the kind of hub connection and its user from the path:
// /ws/chat/{nick}, /ws/{user} (percent-decoded), /ws?user=.
// A name that does not unescape comes back empty (a 400 for the caller).
func endpoint(path string, q url.Values) (kind uint8, name string, ok bool) {
	switch {
	case strings.HasPrefix(path, "/ws/chat/"):
		name, _ = url.PathUnescape(path[len("/ws/chat/"):])
		return kindChat, name, true
	case strings.HasPrefix(path, "/ws/"):
		name, _ = url.PathUnescape(path[len("/ws/"):])
		return kindUser, name, true
	case path == "/ws":
		return kindUser, q.Get("user"), true
	}
	return 0, "", false
}

// UserOf returns the user a request connects as (/ws/{user}, /ws?user=,
// /ws/chat/{nick}), or "".
func UserOf(req *upgrade.Request) string {
	q, _ := url.ParseQuery(string(req.Query))
	_, name, _ := endpoint(string(req.Path), q)
	return name
}

func validName(s string) bool {
	if s == "" || len(s) > 128 || !utf8.Valid([]byte(s)) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7F || r == '/' {
			return false
		}
	}
	return true
}

// OnOpen registers the connection: on its loop's list, under its user
// (replaying what it missed) or in the chat room.
func (m *member) OnOpen(c *wsconn.Conn) {
	h := m.h
	m.c = c
	h.loops[c.Loop()].add(m)
	h.online.Add(1)
	switch m.kind {
	case kindUser:
		h.attachUser(m)
	case kindChat:
		r := h.join(m, ChatRoom)
		h.sendRoom(r, wsconn.Prepare(frame.OpText, []byte("System> "+m.name+" has joined.")))
	}
}

// attachUser adds the connection to its user and sends the hello and the
// missed messages before any live one: Publish holds the same lock.
func (h *Hub) attachUser(m *member) {
	u := h.lockUser(m.name)
	defer u.mu.Unlock()
	m.u = u
	u.conns = append(u.conns, m)
	if len(u.conns) == 1 {
		h.onlineUsers.Add(1)
	}
	hello := make([]byte, 0, 128)
	hello = append(hello, `{"type":"hello","user":`...)
	hello = append(hello, quoteJSON(u.name)...)
	hello = append(hello, `,"seq":`...)
	hello = strconv.AppendUint(hello, u.seq, 10)
	hello = append(hello, `,"first":`...)
	hello = strconv.AppendUint(hello, u.firstSeq(), 10)
	hello = append(hello, `,"unread":`...)
	hello = strconv.AppendInt(hello, u.unread, 10)
	hello = append(hello, `,"online":`...)
	hello = strconv.AppendInt(hello, int64(len(u.conns)), 10)
	hello = append(hello, '}')
	m.c.Send(frame.OpText, hello)
	if !m.hasSince {
		return
	}
	if first := u.firstSeq(); m.since+1 < first {
		gap := []byte(`{"type":"gap","since":` + strconv.FormatUint(m.since, 10) + `,"first":` + strconv.FormatUint(first, 10) + `}`)
		m.c.Send(frame.OpText, gap)
	}
	for _, e := range u.since(m.since) {
		m.c.SendPrepared(u.frameFor(e))
	}
}

func quoteJSON(s string) []byte {
	q, _ := json.Marshal(s)
	return q
}

// OnMessage handles what a client sends: chat lines, or control messages.
func (m *member) OnMessage(c *wsconn.Conn, op frame.Opcode, p []byte) {
	if m.kind == kindChat {
		if op == frame.OpText {
			line := make([]byte, 0, len(m.name)+2+len(p))
			line = append(append(append(line, m.name...), "> "...), p...)
			for _, r := range m.rooms {
				m.h.sendRoom(r, wsconn.Prepare(frame.OpText, line))
			}
		}
		return
	}
	var msg struct {
		Type string          `json:"type"`
		Room string          `json:"room"`
		Data json.RawMessage `json:"data"`
	}
	if op != frame.OpText || json.Unmarshal(p, &msg) != nil {
		m.reply("error", "send JSON control messages: join, leave, read, say")
		return
	}
	switch msg.Type {
	case "join":
		if !validName(msg.Room) {
			m.reply("error", "join: bad room name")
			return
		}
		m.h.join(m, msg.Room)
		m.replyRoom("joined", msg.Room)
	case "leave":
		for _, r := range m.rooms {
			if r.name == msg.Room {
				m.h.leave(m, r)
				m.replyRoom("left", msg.Room)
				return
			}
		}
		m.reply("error", "leave: not in room "+msg.Room)
	case "read":
		m.h.markRead(m.u)
	case "say":
		for _, r := range m.rooms {
			if r.name == msg.Room {
				b := make([]byte, 0, 64+len(msg.Data))
				b = append(b, `{"type":"room","room":`...)
				b = append(b, quoteJSON(r.name)...)
				b = append(b, `,"from":`...)
				b = append(b, quoteJSON(m.name)...)
				b = append(b, `,"data":`...)
				b = appendData(b, bytes.TrimSpace(msg.Data))
				b = append(b, '}')
				m.h.sendRoom(r, wsconn.Prepare(frame.OpText, b))
				return
			}
		}
		m.reply("error", "say: join room "+msg.Room+" first")
	default:
		m.reply("error", "unknown message type "+strconv.Quote(msg.Type))
	}
}

func (m *member) reply(typ, text string) {
	m.c.Send(frame.OpText, []byte(`{"type":"`+typ+`","message":`+string(quoteJSON(text))+`}`))
}

func (m *member) replyRoom(typ, room string) {
	m.c.Send(frame.OpText, []byte(`{"type":"`+typ+`","room":`+string(quoteJSON(room))+`}`))
}

// markRead sets the user's unread count to 0 and tells all its connections.
func (h *Hub) markRead(u *user) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.unread = 0
	p := wsconn.Prepare(frame.OpText, []byte(`{"type":"unread","unread":0,"seq":`+strconv.FormatUint(u.seq, 10)+`}`))
	for _, c := range u.conns {
		c.c.SendPrepared(p)
	}
}

// OnClose unregisters the connection at once.
func (m *member) OnClose(c *wsconn.Conn, code frame.CloseCode, reason string) {
	h := m.h
	h.loops[c.Loop()].remove(m)
	h.online.Add(-1)
	for len(m.rooms) > 0 {
		r := m.rooms[0]
		h.leave(m, r)
		if m.kind == kindChat {
			h.sendRoom(r, wsconn.Prepare(frame.OpText, []byte("System> "+m.name+" has disconnected.")))
		}
	}
	if u := m.u; u != nil {
		u.mu.Lock()
		for i, x := range u.conns {
			if x == m {
				u.conns = append(u.conns[:i], u.conns[i+1:]...)
				break
			}
		}
		empty := len(u.conns) == 0
		u.mu.Unlock()
		if empty {
			h.onlineUsers.Add(-1)
			h.dropIfEmpty(u)
		}
	}
}

// Echo is the /echo handler: every message goes back as it came.
type Echo struct{}

func (Echo) OnOpen(*wsconn.Conn) {}

func (Echo) OnMessage(c *wsconn.Conn, op frame.Opcode, p []byte) { c.Send(op, p) }

func (Echo) OnClose(*wsconn.Conn, frame.CloseCode, string) {}
