package demo

import (
	"net/url"
	"sync"

	"github.com/wsd-dev/wsd/auth"
	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/hub"
	"github.com/wsd-dev/wsd/upgrade"
	"github.com/wsd-dev/wsd/wsconn"
)

// ChatPrefix is the chat room's path: /ws/chat/{nick}.
const ChatPrefix = "/ws/chat/"

// chat is the seed's chat room: plain text lines, "nick> text", and
// "System> nick has joined." / "… has disconnected." — one wsconn.Group,
// so every line is encoded once for all.
type chat struct {
	h     *hub.Hub
	room  *wsconn.Group
	mu    sync.Mutex
	nicks map[string]bool
}

// ChatRoom is the chat's room, as a token's rooms claim names it.
const ChatRoom = "chat"

func newChat(h *hub.Hub, srv *wsconn.Server) *chat {
	ch := &chat{h: h, room: srv.NewGroup(), nicks: map[string]bool{}}
	if h.Clustered() {
		// Lines travel once to every node, each writes them to its own
		// chatters. (Nicknames are held per node.)
		h.OnRelay(chatChannel, func(m hub.Relayed) { ch.room.Send(wsconn.Prepare(frame.OpText, m.Body)) })
	}
	return ch
}

// chatChannel is the chat's relay channel in a cluster.
const chatChannel = "chat"

// chatter is one connection in the room.
type chatter struct {
	c      *chat
	nick   string
	reject string // why the connection is closed at once (a bad or taken nickname)
}

// upgrade takes /ws/chat/{nick}. A bad or taken nickname is refused after
// the handshake, with a Close 1008 whose reason says why: a browser cannot
// read the body of a refused handshake, but it can read a close reason.
// With tokens required, the nickname must be the token's user and the
// token must list the room "chat" (refused at the handshake: 401, 403).
func (ch *chat) upgrade(c *wsconn.Conn, req *upgrade.Request) (wsconn.Handler, *upgrade.Error) {
	nick, err := url.PathUnescape(string(req.Path[len(ChatPrefix):]))
	claims, aerr := ch.h.Authenticate(req.Query, req.Header("Authorization"))
	if aerr != nil {
		return nil, aerr
	}
	if claims != nil {
		if !claims.Allows(nick) {
			return nil, &upgrade.Error{Status: 403, Msg: auth.ReasonOtherUser}
		}
		if !claims.MayUseRoom(ChatRoom) {
			return nil, &upgrade.Error{Status: 403, Msg: "room " + ChatRoom + " is not in your token"}
		}
		c.SetExpiry(claims.Expires)
	}
	switch {
	case err != nil || !hub.ValidName(nick):
		return &chatter{c: ch, reject: "bad nickname: 1-128 characters, no '/'"}, nil
	case !ch.claim(nick):
		return &chatter{c: ch, reject: "nickname " + nick + " is taken"}, nil
	}
	return &chatter{c: ch, nick: nick}, nil
}

// claim reserves a nickname; two people cannot hold one at once.
func (ch *chat) claim(nick string) bool {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if ch.nicks[nick] {
		return false
	}
	ch.nicks[nick] = true
	return true
}

func (ch *chat) say(line string) {
	if ch.h.Clustered() {
		ch.h.Relay(hub.Relayed{Channel: chatChannel, Body: []byte(line)})
		return
	}
	ch.room.Send(wsconn.Prepare(frame.OpText, []byte(line)))
}

func (p *chatter) OnOpen(c *wsconn.Conn) {
	if p.reject != "" {
		c.Close(frame.ClosePolicyViolation, p.reject)
		return
	}
	p.c.room.Add(c)
	p.c.say("System> " + p.nick + " has joined.")
}

func (p *chatter) OnMessage(c *wsconn.Conn, op frame.Opcode, msg []byte) {
	if op == frame.OpText && p.reject == "" {
		p.c.say(p.nick + "> " + string(msg))
	}
}

func (p *chatter) OnClose(*wsconn.Conn, frame.CloseCode, string) {
	if p.reject != "" {
		return
	}
	p.c.mu.Lock()
	delete(p.c.nicks, p.nick)
	p.c.mu.Unlock()
	p.c.say("System> " + p.nick + " has disconnected.")
}

// OnExpire implements wsconn.Expirer: the chatter's token expired.
func (p *chatter) OnExpire(c *wsconn.Conn) { c.Close(hub.CloseTokenExpired, "token expired") }
