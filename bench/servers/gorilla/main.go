// Command gorilla is the common baseline: gorilla/websocket behind
// net/http, one goroutine per connection. /echo echoes; /ws/{user}
// registers for POST /broadcast and POST /publish/{user}, which write a
// PreparedMessage (encoded once) to each connection in turn. -deflate
// turns on permessage-deflate (a PreparedMessage is then compressed once).
package main

import (
	"flag"
	"log"
	"net/http"
	"sync"

	"github.com/gorilla/websocket"
	"github.com/wsd-dev/wsd/bench/internal/peerhub"
)

type conn struct {
	ws *websocket.Conn
	mu sync.Mutex // gorilla allows one writer at a time
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8081", "listen address")
	deflate := flag.Bool("deflate", false, "permessage-deflate (EnableCompression: gorilla supports no context takeover only; writes compressed at level 1)")
	certFile, keyFile := peerhub.TLSFlags()
	flag.Parse()
	up := websocket.Upgrader{ReadBufferSize: 4096, WriteBufferSize: 4096, CheckOrigin: func(*http.Request) bool { return true },
		EnableCompression: *deflate}
	hub := peerhub.New[*conn]()
	mux := http.NewServeMux()
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		c.SetReadLimit(16 << 20)
		for {
			mt, p, err := c.ReadMessage()
			if err != nil {
				return
			}
			if err := c.WriteMessage(mt, p); err != nil {
				return
			}
		}
	})
	mux.HandleFunc("/ws/", func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		c := &conn{ws: ws}
		hub.Add(c, peerhub.UserOf(r.URL.Path))
		defer func() { hub.Remove(c); ws.Close() }()
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				return
			}
		}
	})
	hub.Routes(mux, func(cs []*conn, body []byte) int {
		pm, err := websocket.NewPreparedMessage(websocket.TextMessage, body)
		if err != nil {
			return 0
		}
		n := 0
		for _, c := range cs {
			c.mu.Lock()
			if c.ws.WritePreparedMessage(pm) == nil {
				n++
			}
			c.mu.Unlock()
		}
		return n
	})
	log.Fatal(peerhub.Serve(*addr, *certFile, *keyFile, mux))
}
