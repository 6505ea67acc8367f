package hub

import (
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/wsd-dev/wsd/auth"
	"github.com/wsd-dev/wsd/upgrade"
	"github.com/wsd-dev/wsd/wsconn"
)

// Signed connection tokens (package auth) guard the client endpoints when
// Options.Auth is set: /ws/{user}, /ws?user=, /ws (the user then comes
// from the token), /poll/{user}, and through Authenticate the demo's chat.
// A connection keeps of its token only what it needs, in its wsconn slot:
// the expiry (the loops' sweeps watch it) and the rooms it allows, as the
// number of an interned set (roomSets), shared by every connection with
// the same rooms.

// Authenticate checks the token of a request to a client endpoint. With
// no verifier configured it returns nil claims and no error: the
// endpoints are open. Failures are counted by reason. The hub's own
// endpoints use checkToken, which allocates nothing; this copies the
// claims out, for the demo's chat.
func (h *Hub) Authenticate(rawQuery, authorization []byte) (*auth.Claims, *upgrade.Error) {
	var buf [auth.CheckBufSize]byte
	t, on, err := h.checkToken(rawQuery, authorization, buf[:])
	if !on {
		return nil, err
	}
	return t.Claims(), nil
}

// checkToken checks the token of a request to a client endpoint
// (auth.Check) with buf as scratch, allocating nothing for a good token:
// the claims are views of buf, or of the request. on is false when the
// endpoints are open (no verifier) and when the token is refused (err).
func (h *Hub) checkToken(rawQuery, authorization, buf []byte) (t auth.Checked, on bool, err *upgrade.Error) {
	v := h.opt.Auth
	if v == nil {
		return t, false, nil
	}
	tok, aerr := auth.TokenBytes(rawQuery, authorization)
	if aerr == nil {
		if t, aerr = v.Check(tok, time.Now(), buf); aerr == nil {
			return t, true, nil
		}
	}
	return t, false, h.refuse(aerr.Status, aerr.Reason)
}

// refuse counts an authentication failure and makes its answer: 401s carry
// the Bearer challenge of RFC 6750 §3.
func (h *Hub) refuse(status int, reason string) *upgrade.Error {
	h.authFailures.add(reason)
	e := &upgrade.Error{Status: status, Msg: reason}
	switch {
	case reason == auth.ReasonNoToken:
		e.Header = `WWW-Authenticate: Bearer realm="wsd"`
	case status == http.StatusUnauthorized:
		e.Header = `WWW-Authenticate: Bearer realm="wsd", error="invalid_token", error_description="` + reason + `"`
	}
	return e
}

// forUser checks that a token (on: checked, not open) may connect as
// user.
func (h *Hub) forUser(t *auth.Checked, on bool, user []byte) *upgrade.Error {
	if on && !t.Allows(user) {
		return h.refuse(http.StatusForbidden, auth.ReasonOtherUser)
	}
	return nil
}

// failAuth answers an HTTP request (a poll) refused by Authenticate.
func failAuth(w http.ResponseWriter, e *upgrade.Error) {
	if name, value, ok := strings.Cut(e.Header, ": "); ok {
		w.Header().Set(name, value)
	}
	fail(w, e.Status, e.Msg)
}

// holdToken keeps what a connection needs of its token: the expiry and
// its rooms, without allocating when the rooms are a known set.
func (h *Hub) holdToken(c *wsconn.Conn, t *auth.Checked) {
	c.SetExpiry(t.Expiry())
	c.SetTag(h.roomSets.intern(t.Rooms))
}

// mayUseRoom reports whether c may join or say in room: always when the
// endpoints are open, else when its token lists the room.
func (h *Hub) mayUseRoom(c *wsconn.Conn, room string) bool {
	if h.opt.Auth == nil {
		return true
	}
	return slices.Contains(h.roomSets.get(c.Tag()), room)
}

// roomSets interns the rooms claims of tokens: a connection keeps the
// number of its set (its wsconn tag), 0 for none. Sets are never
// forgotten: there are as many as distinct rooms claims. A set is known
// by its auth.List key, which is the same for the same rooms in the same
// order however the token's JSON spelled them, and differs otherwise.
type roomSets struct {
	mu   sync.RWMutex
	ids  map[string]uint32
	sets [][]string // sets[id-1]
}

// intern returns the number of a set, allocating only for a new one.
func (r *roomSets) intern(rooms auth.List) uint32 {
	if rooms.Len() == 0 {
		return 0
	}
	key := rooms.Key()
	r.mu.RLock()
	id := r.ids[string(key)]
	r.mu.RUnlock()
	if id != 0 {
		return id
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if id = r.ids[string(key)]; id == 0 {
		if r.ids == nil {
			r.ids = map[string]uint32{}
		}
		r.sets = append(r.sets, rooms.Strings())
		id = uint32(len(r.sets))
		r.ids[string(key)] = id
	}
	return id
}

func (r *roomSets) get(id uint32) []string {
	if id == 0 {
		return nil
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.sets[id-1]
}

// failureCounts counts authentication failures by reason: the reasons are
// package auth's constants, so the map is filled once and only read.
type failureCounts struct {
	byReason map[string]*atomicCount
	other    atomicCount
}

func newFailureCounts() *failureCounts {
	f := &failureCounts{byReason: map[string]*atomicCount{}}
	for _, r := range auth.Reasons() {
		f.byReason[r] = new(atomicCount)
	}
	return f
}

func (f *failureCounts) add(reason string) {
	if c := f.byReason[reason]; c != nil {
		c.Add(1)
	} else {
		f.other.Add(1)
	}
}

// AuthFailures returns the authentication failures so far by reason.
func (h *Hub) AuthFailures() map[string]int64 {
	out := map[string]int64{}
	for r, c := range h.authFailures.byReason {
		if n := c.Load(); n > 0 {
			out[r] = n
		}
	}
	if n := h.authFailures.other.Load(); n > 0 {
		out["other"] = n
	}
	return out
}

// bytesOf is a view of s's bytes, for calls that only read them.
func bytesOf(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }
