package hub

import (
	_ "embed"
	"net/http"
)

// clientJS is wsd.js, the browser client of the user connections: resume
// with the last seq, reconnect with jittered backoff to any node of a
// list, long polling when WebSocket fails (web/wsd.js says how).
//
//go:embed web/wsd.js
var clientJS []byte

// handleClientJS serves GET /wsd.js.
func handleClientJS(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.Write(clientJS)
}
