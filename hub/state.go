package hub

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// The hub's state, saved on graceful shutdown and loaded at start, so that
// a restart keeps every user's sequence numbers, unread count and history:
// clients resume with ?since= across it.
type savedState struct {
	Version int         `json:"version"`
	Users   []savedUser `json:"users"`
}

type savedUser struct {
	User     string     `json:"user"`
	Seq      uint64     `json:"seq"`
	Unread   int64      `json:"unread"`
	Messages []savedMsg `json:"messages"`
}

type savedMsg struct {
	Seq    uint64    `json:"seq"`
	Time   time.Time `json:"time"`
	Body   []byte    `json:"body"`
	Binary bool      `json:"binary,omitempty"`
}

// Save writes the users' sequence numbers, unread counts and histories.
func (h *Hub) Save(w io.Writer) error {
	st := savedState{Version: 1}
	h.mu.RLock()
	h.users.each(func(u *user) {
		mu := h.lock(u)
		mu.Lock()
		su := savedUser{User: u.name, Seq: u.seq, Unread: int64(u.unread)}
		u.since(0, func(e *entry) {
			su.Messages = append(su.Messages, savedMsg{Seq: e.seq, Time: time.Unix(0, e.at).UTC(), Body: e.body, Binary: e.binary})
		})
		mu.Unlock()
		if su.Seq > 0 || su.Unread > 0 {
			st.Users = append(st.Users, su)
		}
	})
	h.mu.RUnlock()
	sort.Slice(st.Users, func(i, j int) bool { return st.Users[i].User < st.Users[j].User })
	return json.NewEncoder(w).Encode(st)
}

// Load restores what Save wrote. Call it before the server starts.
func (h *Hub) Load(r io.Reader) error {
	var st savedState
	if err := json.NewDecoder(r).Decode(&st); err != nil {
		return fmt.Errorf("hub state: %w", err)
	}
	if st.Version != 1 {
		return fmt.Errorf("hub state: version %d, want 1", st.Version)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, su := range st.Users {
		if !validName(su.User) || su.Unread < 0 || su.Unread > 1<<32-1 {
			return fmt.Errorf("hub state: bad user entry %q", su.User)
		}
		if old := h.users.get(su.User); old != nil {
			h.users.del(old)
		}
		u := &user{name: su.User, seq: su.Seq, unread: uint32(su.Unread)}
		for _, m := range su.Messages {
			u.keep(entry{seq: m.Seq, at: m.Time.UnixNano(), body: m.Body, binary: m.Binary}, h.opt.History)
		}
		h.users.put(u)
	}
	return nil
}

// SaveFile writes the state to path atomically (a temporary file renamed).
func (h *Hub) SaveFile(path string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".wsd-state-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := h.Save(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// LoadFile loads the state from path; a missing file is a fresh start.
func (h *Hub) LoadFile(path string) error {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	return h.Load(f)
}
