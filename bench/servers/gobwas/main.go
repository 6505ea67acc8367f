// Command gobwas is the "A Million WebSockets" design: gobwas/ws for the
// protocol and mailru/easygo's netpoll (epoll) so that idle connections
// hold no goroutine; a worker pool reads. The upgrade runs in net/http
// (ws.UpgradeHTTP hijacks the connection), which also serves POST
// /broadcast and /publish/{user}: the frame is compiled once and written
// to each connection. netpoll registers conn.File(), a dup: two fds per
// connection.
package main

import (
	"flag"
	"log"
	"net"
	"net/http"
	"sync"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/mailru/easygo/netpoll"
	"github.com/wsd-dev/wsd/bench/internal/peerhub"
)

type conn struct {
	net.Conn
	mu sync.Mutex // one writer at a time
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8082", "listen address")
	workers := flag.Int("workers", 128, "goroutines that read and echo")
	flag.Parse()
	poller, err := netpoll.New(nil)
	if err != nil {
		log.Fatal(err)
	}
	tasks := make(chan func(), 4096)
	for range *workers {
		go func() {
			for t := range tasks {
				t()
			}
		}()
	}
	hub := peerhub.New[*conn]()
	// serve registers an upgraded connection with netpoll; echo says whether
	// messages go back (the /echo endpoint) or are only read (hub clients).
	serve := func(c *conn, echo bool) {
		// One-shot: one message is read per event and the descriptor is
		// resumed after it, so that a large message arriving in many
		// segments is read by one worker, not by several at once.
		desc, err := netpoll.HandleReadOnce(c.Conn)
		if err != nil {
			c.Close()
			return
		}
		closeConn := func() {
			poller.Stop(desc)
			hub.Remove(c)
			c.Close()
		}
		poller.Start(desc, func(ev netpoll.Event) {
			if ev&(netpoll.EventReadHup|netpoll.EventHup) != 0 {
				closeConn()
				return
			}
			tasks <- func() {
				msg, op, err := wsutil.ReadClientData(c)
				if err == nil && echo {
					c.mu.Lock()
					err = wsutil.WriteServerMessage(c, op, msg)
					c.mu.Unlock()
				}
				if err != nil {
					closeConn()
					return
				}
				poller.Resume(desc)
			}
		})
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		nc, _, _, err := ws.UpgradeHTTP(r, w)
		if err != nil {
			return
		}
		serve(&conn{Conn: nc}, true)
	})
	mux.HandleFunc("/ws/", func(w http.ResponseWriter, r *http.Request) {
		nc, _, _, err := ws.UpgradeHTTP(r, w)
		if err != nil {
			return
		}
		c := &conn{Conn: nc}
		hub.Add(c, peerhub.UserOf(r.URL.Path))
		serve(c, false)
	})
	hub.Routes(mux, func(cs []*conn, body []byte) int {
		frame, err := ws.CompileFrame(ws.NewTextFrame(body))
		if err != nil {
			return 0
		}
		n := 0
		for _, c := range cs {
			c.mu.Lock()
			if _, err := c.Write(frame); err == nil {
				n++
			}
			c.mu.Unlock()
		}
		return n
	})
	log.Fatal(http.ListenAndServe(*addr, mux))
}
