package hub

import (
	"slices"

	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/wsconn"
)

// room is a named set of user connections that joined it. Rooms are for
// active users only: a connection in no room costs nothing here.
type room struct {
	name    string
	members []*wsconn.Conn // under Hub.roomMu
}

// join adds c to a room, creating it.
func (h *Hub) join(c *wsconn.Conn, name string) {
	h.roomMu.Lock()
	defer h.roomMu.Unlock()
	for _, r := range h.joined[c] {
		if r.name == name {
			return
		}
	}
	r := h.rooms[name]
	if r == nil {
		r = &room{name: name}
		h.rooms[name] = r
	}
	r.members = append(r.members, c)
	h.joined[c] = append(h.joined[c], r)
}

// leave takes c out of a room, and the room away when it is empty; it
// reports whether c was in it.
func (h *Hub) leave(c *wsconn.Conn, name string) bool {
	h.roomMu.Lock()
	defer h.roomMu.Unlock()
	rs := h.joined[c]
	for i, r := range rs {
		if r.name == name {
			h.leaveLocked(c, r)
			if rs = slices.Delete(rs, i, i+1); len(rs) == 0 {
				delete(h.joined, c)
			} else {
				h.joined[c] = rs
			}
			return true
		}
	}
	return false
}

// leaveAll takes a closing connection out of every room.
func (h *Hub) leaveAll(c *wsconn.Conn) {
	h.roomMu.Lock()
	defer h.roomMu.Unlock()
	for _, r := range h.joined[c] {
		h.leaveLocked(c, r)
	}
	delete(h.joined, c)
}

func (h *Hub) leaveLocked(c *wsconn.Conn, r *room) {
	if i := slices.Index(r.members, c); i >= 0 {
		r.members = slices.Delete(r.members, i, i+1)
	}
	if len(r.members) == 0 {
		delete(h.rooms, r.name)
	}
}

// roomOf returns the room called name if c is in it.
func (h *Hub) roomOf(c *wsconn.Conn, name string) *room {
	h.roomMu.Lock()
	defer h.roomMu.Unlock()
	for _, r := range h.joined[c] {
		if r.name == name {
			return r
		}
	}
	return nil
}

// SendRoom sends body to every member of a room, wrapped as
// {"type":"room","room":…} and encoded once; it returns how many members
// it reached.
func (h *Hub) SendRoom(name string, body []byte, binary bool) int {
	if h.cs != nil {
		n, _ := h.sendRoomCluster(name, body, binary)
		return n
	}
	h.roomMu.Lock()
	r := h.rooms[name]
	h.roomMu.Unlock()
	if r == nil {
		return 0
	}
	m := RoomMessage{Room: name, Body: body, Binary: binary}
	return h.sendRoom(r, wsconn.Prepare(frame.OpText, m.AppendJSON(make([]byte, 0, 48+len(body)*4/3))))
}

func (h *Hub) sendRoom(r *room, p *wsconn.Prepared) int {
	n := 0
	h.roomMu.Lock()
	for _, c := range r.members {
		if c.SendPrepared(p) == nil {
			n++
		}
	}
	h.roomMu.Unlock()
	h.roomSends.Add(1)
	h.delivered.Add(int64(n))
	return n
}
