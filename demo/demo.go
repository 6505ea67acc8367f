// Package demo is wsd's demonstration on top of the hub, grown from the
// seed tutorial's scenarios: an echo endpoint and page, a chat room with
// nicknames, and a shop whose orders pop up on an admin page. The hub
// itself is the notification backend only; this package adds routes to it.
package demo

import (
	"net/http"
	"strings"

	"github.com/wsd-dev/wsd/hub"
	"github.com/wsd-dev/wsd/upgrade"
	"github.com/wsd-dev/wsd/wsconn"
)

// Demo holds the chat room and the shop's order numbers.
type Demo struct {
	h    *hub.Hub
	chat *chat
	shop *shop
}

// New makes the demo on a hub and its server (not yet started).
func New(h *hub.Hub, srv *wsconn.Server) *Demo {
	return &Demo{h: h, chat: newChat(h, srv), shop: newShop(h)}
}

// Routes are the hub's routes with the demo's added: /echo and
// /ws/chat/{nick} upgrades, the pages, POST /shop/orders.
func (d *Demo) Routes() wsconn.Routes {
	mux := d.h.Mux()
	addPages(mux)
	mux.HandleFunc("POST /shop/orders", d.shop.handleOrder)
	return wsconn.Routes{Upgrade: d.upgrade, HTTP: hub.JSONErrors(mux)}
}

func (d *Demo) upgrade(c *wsconn.Conn, req *upgrade.Request) (wsconn.Handler, *upgrade.Error) {
	path := string(req.Path)
	switch {
	case path == "/echo":
		return Echo{}, nil
	case strings.HasPrefix(path, ChatPrefix):
		return d.chat.upgrade(c, req)
	}
	return d.h.Upgrade(c, req)
}

// Handler returns the demo's HTTP side (the hub's API, the pages, the
// shop), for tests that serve it alone.
func (d *Demo) Handler() http.Handler { return d.Routes().HTTP }
