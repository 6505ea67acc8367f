package hub

import (
	"net/http"
	"strconv"
	"time"

	"github.com/wsd-dev/wsd/auth"
)

// handlePoll answers GET /poll/{user}?since=SEQ at once (short poll) or,
// with &wait=25s, when a message arrives or the wait ends (long poll),
// with the same envelopes a WebSocket client gets:
//
//	{"user":…,"seq":LAST,"first":F,"unread":N,"gap":bool,"messages":[{"type":"message",…},…]}
func (h *Hub) handlePoll(w http.ResponseWriter, r *http.Request) {
	name, ok := pathName(w, r, "user")
	if !ok {
		return
	}
	var buf [auth.CheckBufSize]byte
	tok, authed, aerr := h.checkToken(bytesOf(r.URL.RawQuery), bytesOf(r.Header.Get("Authorization")), buf[:])
	if aerr == nil {
		aerr = h.forUser(&tok, authed, bytesOf(name))
	}
	if aerr != nil {
		failAuth(w, aerr)
		return
	}
	q := r.URL.Query()
	var since uint64
	if s := q.Get("since"); s != "" {
		var err error
		if since, err = strconv.ParseUint(s, 10, 64); err != nil {
			fail(w, http.StatusBadRequest, "since="+s+" is not a sequence number")
			return
		}
	}
	var wait time.Duration
	if s := q.Get("wait"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			if n, err2 := strconv.Atoi(s); err2 == nil {
				d, err = time.Duration(n)*time.Second, nil
			}
		}
		if err != nil || d < 0 {
			fail(w, http.StatusBadRequest, "wait="+s+" is not a duration (25s, 1m)")
			return
		}
		wait = min(d, h.opt.MaxPollWait)
	}
	if h.cs != nil {
		h.handlePollCluster(w, r, name, since, wait)
		return
	}
	u, mu := h.lockUser(name)
	u.wait(r.Context(), mu, &h.pollsWaiting, since, wait)
	first := u.firstSeq()
	b := make([]byte, 0, 256)
	b = append(b, `{"user":`...)
	b = appendString(b, name)
	b = appendUint(b, `,"seq":`, u.seq)
	b = appendUint(b, `,"first":`, first)
	b = appendInt(b, `,"unread":`, int64(u.unread))
	b = strconv.AppendBool(append(b, `,"gap":`...), since+1 < first && since < u.seq)
	b = append(b, `,"messages":[`...)
	n := 0
	u.since(since, func(e *entry) {
		if n > 0 {
			b = append(b, ',')
		}
		b = u.message(e).AppendJSON(b)
		n++
	})
	b = append(b, "]}\n"...)
	mu.Unlock()
	h.dropIfEmpty(u)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Write(b)
}
