package hub

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Handler returns the HTTP side of the hub: the publish API, stats,
// health and polling. Unknown routes get JSON 404s; Mux adds routes.
func (h *Hub) Handler() http.Handler { return jsonErrors(h.Mux()) }

// Mux returns the hub's routes on a new mux, for a caller (the demo) to
// add its own before wrapping it with JSONErrors.
func (h *Hub) Mux() *http.ServeMux {
	mux := http.NewServeMux()
	api := func(pattern string, fn http.HandlerFunc) { mux.Handle(pattern, h.authorized(fn)) }
	api("POST /publish/{user}", h.handlePublish)
	api("POST /publish", h.handlePublishBatch)
	api("POST /rooms/{room}/publish", h.handleRoomPublish)
	api("POST /broadcast", h.handleBroadcast)
	api("GET /stats", h.handleStats)
	api("GET /users/{user}", h.handleUser)
	mux.Handle("GET /metrics", h.authorized(h.metricsHandler().ServeHTTP))
	mux.HandleFunc("GET "+DashboardPath, h.handleDashboard) // its own auth: dashboard.go
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if h.cs != nil {
			h.handleHealthCluster(w)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "uptime_s": int(time.Since(h.start).Seconds())})
	})
	mux.HandleFunc("GET /poll/{user}", h.handlePoll)
	mux.HandleFunc("GET /wsd.js", handleClientJS)
	return mux
}

// JSONErrors wraps a mux so that unknown routes and wrong methods get JSON
// bodies like every other error.
func JSONErrors(mux *http.ServeMux) http.Handler { return jsonErrors(mux) }

// Fail answers with status and {"error":msg}.
func Fail(w http.ResponseWriter, status int, msg string) { fail(w, status, msg) }

// WriteJSON answers with status and v as JSON.
func WriteJSON(w http.ResponseWriter, status int, v any) { writeJSON(w, status, v) }

// apiError is every error's body.
type apiError struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, apiError{msg})
}

// jsonErrors answers unknown routes and wrong methods with JSON bodies,
// not the mux's plain text.
func jsonErrors(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern == "" {
			rec := &statusOnly{header: http.Header{}}
			mux.ServeHTTP(rec, r) // learn whether it is 404 or 405
			if rec.status == http.StatusMethodNotAllowed {
				w.Header().Set("Allow", rec.header.Get("Allow"))
				fail(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed on "+r.URL.Path)
				return
			}
			fail(w, http.StatusNotFound, "no route for "+r.Method+" "+r.URL.Path)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

type statusOnly struct {
	header http.Header
	status int
}

func (s *statusOnly) Header() http.Header         { return s.header }
func (s *statusOnly) Write(b []byte) (int, error) { return len(b), nil }
func (s *statusOnly) WriteHeader(code int)        { s.status = code }

// authorized guards the API: with a token, "Authorization: Bearer <token>";
// without one, loopback clients only.
func (h *Hub) authorized(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h.opt.APIToken != "" {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || !h.isAPIToken(got) {
				w.Header().Set("WWW-Authenticate", `Bearer realm="wsd"`)
				fail(w, http.StatusUnauthorized, "missing or wrong API token: send Authorization: Bearer <token>")
				return
			}
		} else if ap, err := netip.ParseAddrPort(r.RemoteAddr); err != nil || !ap.Addr().Unmap().IsLoopback() {
			fail(w, http.StatusForbidden, "the API answers loopback clients only when wsd runs without -api-token")
			return
		}
		next(w, r)
	})
}

// isAPIToken compares in constant time; false without a token set.
func (h *Hub) isAPIToken(got string) bool {
	return h.opt.APIToken != "" && subtle.ConstantTimeCompare([]byte(got), []byte(h.opt.APIToken)) == 1
}

// readBody reads a message body up to the limit: 413 beyond, 400 if empty.
func (h *Hub) readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.opt.MaxMessage))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		fail(w, http.StatusRequestEntityTooLarge, "message over "+strconv.FormatInt(h.opt.MaxMessage, 10)+" bytes")
		return nil, false
	case err != nil:
		fail(w, http.StatusBadRequest, "reading the body: "+err.Error())
		return nil, false
	case len(body) == 0:
		fail(w, http.StatusBadRequest, "empty body: the body is the message")
		return nil, false
	}
	return body, true
}

// readMessage reads a message body and its kind: ?binary=1, else text,
// which must be UTF-8 (RFC 6455 §8.1). On failure it has answered.
func (h *Hub) readMessage(w http.ResponseWriter, r *http.Request) (body []byte, binary, ok bool) {
	body, ok = h.readBody(w, r)
	if !ok {
		return nil, false, false
	}
	if b := r.URL.Query().Get("binary"); b == "1" || b == "true" {
		return body, true, true
	}
	if !utf8.Valid(body) {
		fail(w, http.StatusBadRequest, "text message is not UTF-8: send ?binary=1 for binary data")
		return nil, false, false
	}
	return body, false, true
}

// pathName reads a user or room name from the path; on failure it has
// answered 400.
func pathName(w http.ResponseWriter, r *http.Request, key string) (string, bool) {
	name := r.PathValue(key)
	if !validName(name) {
		fail(w, http.StatusBadRequest, "bad "+key+" name "+strconv.Quote(name))
		return "", false
	}
	return name, true
}

func (h *Hub) handlePublish(w http.ResponseWriter, r *http.Request) {
	name, ok := pathName(w, r, "user")
	if !ok {
		return
	}
	body, binary, ok := h.readMessage(w, r)
	if !ok {
		return
	}
	if h.cs != nil {
		h.handlePublishCluster(w, r, name, body, binary)
		return
	}
	seq, n := h.Publish(name, body, binary)
	writeJSON(w, http.StatusOK, map[string]any{"user": name, "seq": seq, "delivered": n})
}

// handlePublishBatch publishes many text messages in one request:
// [{"user":"u1","message":"…"}, …] — a backend notifying a list of users.
func (h *Hub) handlePublishBatch(w http.ResponseWriter, r *http.Request) {
	body, ok := h.readBody(w, r)
	if !ok {
		return
	}
	var batch []struct {
		User    string `json:"user"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(body, &batch); err != nil {
		fail(w, http.StatusBadRequest, `send a JSON array of {"user":…,"message":…}: `+err.Error())
		return
	}
	for i, m := range batch {
		if !validName(m.User) || m.Message == "" {
			fail(w, http.StatusBadRequest, "entry "+strconv.Itoa(i)+": bad user name or empty message")
			return
		}
	}
	delivered := 0
	for i, m := range batch {
		_, n, err := h.PublishErr(r.Context(), m.User, []byte(m.Message), false)
		if err != nil {
			fail(w, http.StatusServiceUnavailable, "entry "+strconv.Itoa(i)+" not stored (those before it are): "+err.Error())
			return
		}
		delivered += n
	}
	writeJSON(w, http.StatusOK, map[string]any{"published": len(batch), "delivered": delivered})
}

func (h *Hub) handleRoomPublish(w http.ResponseWriter, r *http.Request) {
	name, ok := pathName(w, r, "room")
	if !ok {
		return
	}
	body, binary, ok := h.readMessage(w, r)
	if !ok {
		return
	}
	if h.cs != nil {
		n, err := h.sendRoomCluster(name, body, binary)
		if err != nil {
			fail(w, http.StatusServiceUnavailable, "room send not relayed: "+err.Error())
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"room": name, "delivered": n})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"room": name, "delivered": h.SendRoom(name, body, binary)})
}

func (h *Hub) handleBroadcast(w http.ResponseWriter, r *http.Request) {
	body, binary, ok := h.readMessage(w, r)
	if !ok {
		return
	}
	// Accepted: the loops write it after this answer.
	n, err := h.BroadcastErr(body, binary)
	if err != nil {
		fail(w, http.StatusServiceUnavailable, "broadcast not relayed: "+err.Error())
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"recipients": n})
}

func (h *Hub) handleUser(w http.ResponseWriter, r *http.Request) {
	if h.cs != nil {
		h.handleUserCluster(w, r)
		return
	}
	writeJSON(w, http.StatusOK, h.User(r.PathValue("user")))
}

func (h *Hub) handleStats(w http.ResponseWriter, r *http.Request) {
	type stats struct {
		Counts
		Server any `json:"server"`
	}
	if h.cs != nil {
		h.handleStatsCluster(w, r)
		return
	}
	writeJSON(w, http.StatusOK, stats{h.Counts(), h.srv.Stats()})
}
