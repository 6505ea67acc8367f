// Command nbio is lesismal/nbio: its own epoll engine and HTTP parser,
// non-blocking. /echo echoes; /ws/{user} registers for POST /broadcast
// and POST /publish/{user}, which write the message to each connection.
package main

import (
	"flag"
	"log"
	"net/http"
	"os"
	"os/signal"

	"github.com/lesismal/llib/std/crypto/tls"
	"github.com/lesismal/nbio/nbhttp"
	"github.com/lesismal/nbio/nbhttp/websocket"
	"github.com/wsd-dev/wsd/bench/internal/peerhub"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8084", "listen address")
	certFile, keyFile := peerhub.TLSFlags()
	flag.Parse()
	echoUp := websocket.NewUpgrader()
	echoUp.CheckOrigin = func(*http.Request) bool { return true }
	echoUp.OnMessage(func(c *websocket.Conn, mt websocket.MessageType, data []byte) {
		c.WriteMessage(mt, data)
	})
	hub := peerhub.New[*websocket.Conn]()
	hubUp := websocket.NewUpgrader()
	hubUp.CheckOrigin = func(*http.Request) bool { return true }
	hubUp.OnClose(func(c *websocket.Conn, err error) { hub.Remove(c) })
	mux := http.NewServeMux()
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		echoUp.Upgrade(w, r, nil)
	})
	mux.HandleFunc("/ws/", func(w http.ResponseWriter, r *http.Request) {
		c, err := hubUp.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		hub.Add(c, peerhub.UserOf(r.URL.Path))
	})
	hub.Routes(mux, func(cs []*websocket.Conn, body []byte) int {
		n := 0
		for _, c := range cs {
			if c.WriteMessage(websocket.TextMessage, body) == nil {
				n++
			}
		}
		return n
	})
	conf := nbhttp.Config{
		Network:                 "tcp",
		Addrs:                   []string{*addr},
		MaxLoad:                 1 << 20,
		ReleaseWebsocketPayload: true,
		Handler:                 mux,
	}
	if *certFile != "" { // nbio's own non-blocking TLS (llib's fork of crypto/tls), on its loops
		cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
		if err != nil {
			log.Fatal(err)
		}
		conf.Addrs, conf.AddrsTLS = nil, []string{*addr}
		conf.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	}
	engine := nbhttp.NewEngine(conf)
	if err := engine.Start(); err != nil {
		log.Fatal(err)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt)
	<-sig
	engine.Stop()
}
