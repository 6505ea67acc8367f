package demo

import (
	"encoding/json"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/wsd-dev/wsd/hub"
)

// AdminUser is the user the shop's orders are published to.
const AdminUser = "admin"

// shop is the seed's shop: each order is published to the admin user, whose
// page pops it up.
type shop struct {
	h      *hub.Hub
	orders atomic.Int64
}

// newShop numbers orders on from the admin's last message: orders are the
// only messages the demo sends it, so numbers continue across a restart
// with -state.
func newShop(h *hub.Hub) *shop {
	s := &shop{h: h}
	s.orders.Store(int64(h.User(AdminUser).Seq))
	return s
}

// handleOrder is the checkout: POST /shop/orders {"item":"…","qty":N}.
func (s *shop) handleOrder(w http.ResponseWriter, r *http.Request) {
	var o struct {
		Item string `json:"item"`
		Qty  int    `json:"qty"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&o); err != nil || o.Item == "" || o.Qty <= 0 || o.Qty > 1000 {
		hub.Fail(w, http.StatusBadRequest, `send {"item":"name","qty":1..1000}`)
		return
	}
	id := s.orders.Add(1)
	body, _ := json.Marshal(map[string]any{"type": "order", "id": id, "item": o.Item, "qty": o.Qty, "time": time.Now().UTC()})
	seq, n := s.h.Publish(AdminUser, body, false)
	hub.WriteJSON(w, http.StatusCreated, map[string]any{"id": id, "seq": seq, "delivered": n})
}
