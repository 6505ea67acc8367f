// Command gobwas is the "A Million WebSockets" design: gobwas/ws for the
// protocol and mailru/easygo's netpoll (epoll) so that idle connections
// hold no goroutine; a worker pool reads and echoes at /echo. netpoll
// registers conn.File(), a dup: two fds per connection.
package main

import (
	"flag"
	"log"
	"net"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/mailru/easygo/netpoll"
)

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
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	up := ws.Upgrader{OnRequest: func(uri []byte) error {
		if string(uri) != "/echo" {
			return ws.RejectConnectionError(ws.RejectionStatus(404))
		}
		return nil
	}}
	for {
		conn, err := ln.Accept()
		if err != nil {
			log.Print(err)
			continue
		}
		go func() {
			if _, err := up.Upgrade(conn); err != nil {
				conn.Close()
				return
			}
			desc, err := netpoll.HandleRead(conn)
			if err != nil {
				conn.Close()
				return
			}
			poller.Start(desc, func(ev netpoll.Event) {
				if ev&(netpoll.EventReadHup|netpoll.EventHup) != 0 {
					poller.Stop(desc)
					conn.Close()
					return
				}
				tasks <- func() {
					msg, op, err := wsutil.ReadClientData(conn)
					if err == nil {
						err = wsutil.WriteServerMessage(conn, op, msg)
					}
					if err != nil {
						poller.Stop(desc)
						conn.Close()
					}
				}
			})
		}()
	}
}
