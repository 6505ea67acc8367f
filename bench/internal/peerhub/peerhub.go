// Package peerhub gives the peer bench servers the same notification
// endpoints as wsd's hub, written the way their users would write them: a
// registry of connections by user under a lock, POST /broadcast writing the
// body to every connection, POST /publish/{user} to one user's. It exists
// so that the broadcast benchmark measures every server on the same job.
package peerhub

import (
	"flag"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// Hub registers connections of type C by user.
type Hub[C comparable] struct {
	mu    sync.RWMutex
	conns map[C]string
	users map[string][]C
}

// New makes an empty registry.
func New[C comparable]() *Hub[C] {
	return &Hub[C]{conns: map[C]string{}, users: map[string][]C{}}
}

// UserOf returns the user id in a /ws/{user} path ("" for others).
func UserOf(path string) string {
	u, _ := strings.CutPrefix(path, "/ws/")
	return u
}

// Add registers c under user.
func (h *Hub[C]) Add(c C, user string) {
	h.mu.Lock()
	h.conns[c] = user
	h.users[user] = append(h.users[user], c)
	h.mu.Unlock()
}

// Remove forgets c.
func (h *Hub[C]) Remove(c C) {
	h.mu.Lock()
	defer h.mu.Unlock()
	user, ok := h.conns[c]
	if !ok {
		return
	}
	delete(h.conns, c)
	list := h.users[user]
	for i, x := range list {
		if x == c {
			list = append(list[:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(h.users, user)
	} else {
		h.users[user] = list
	}
}

// All returns every connection now.
func (h *Hub[C]) All() []C {
	h.mu.RLock()
	defer h.mu.RUnlock()
	out := make([]C, 0, len(h.conns))
	for c := range h.conns {
		out = append(out, c)
	}
	return out
}

// User returns a user's connections.
func (h *Hub[C]) User(user string) []C {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return append([]C(nil), h.users[user]...)
}

// Routes adds POST /broadcast and POST /publish/{user}; send writes the
// body to the given connections and returns how many took it.
func (h *Hub[C]) Routes(mux *http.ServeMux, send func(conns []C, body []byte) int) {
	mux.HandleFunc("POST /broadcast", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		n := send(h.All(), body)
		w.Write([]byte(`{"recipients":` + strconv.Itoa(n) + "}\n"))
	})
	mux.HandleFunc("POST /publish/{user}", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		n := send(h.User(r.PathValue("user")), body)
		w.Write([]byte(`{"delivered":` + strconv.Itoa(n) + "}\n"))
	})
}

// Serve runs net/http on addr with handler, over TLS when certFile and
// keyFile are given (net/http's TLS: crypto/tls, a goroutine per
// connection, as these servers' users would run them).
func Serve(addr, certFile, keyFile string, handler http.Handler) error {
	if certFile != "" {
		return http.ListenAndServeTLS(addr, certFile, keyFile, handler)
	}
	return http.ListenAndServe(addr, handler)
}

// TLSFlags are the -tls-cert and -tls-key flags of a peer server.
func TLSFlags() (certFile, keyFile *string) {
	return flag.String("tls-cert", "", "PEM certificate: serve TLS (wss://)"), flag.String("tls-key", "", "PEM key of -tls-cert")
}
