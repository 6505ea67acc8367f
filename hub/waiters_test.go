package hub

// waiters returns the number of long polls waiting for the user's next
// message (0 for an unknown user).
func (h *Hub) waiters(name string) int {
	u := h.lookup(name, false)
	if u == nil {
		return 0
	}
	mu := h.lock(u)
	mu.Lock()
	defer mu.Unlock()
	if u.more == nil {
		return 0
	}
	return u.more.waiters
}
