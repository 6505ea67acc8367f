// Command gws is lxzan/gws behind net/http: a goroutine per connection
// with pooled buffers. /echo echoes; /ws/{user} registers for POST
// /broadcast and POST /publish/{user}, which use gws's Broadcaster (the
// frame encoded once, written through each connection's queue). -deflate
// turns on permessage-deflate (the Broadcaster then compresses once).
package main

import (
	"flag"
	"log"
	"net/http"

	"github.com/lxzan/gws"
	"github.com/wsd-dev/wsd/bench/internal/peerhub"
)

type echoHandler struct{ gws.BuiltinEventHandler }

func (echoHandler) OnPing(c *gws.Conn, p []byte) { c.WritePong(p) }

func (echoHandler) OnMessage(c *gws.Conn, m *gws.Message) {
	defer m.Close()
	c.WriteMessage(m.Opcode, m.Bytes())
}

type hubHandler struct {
	gws.BuiltinEventHandler
	hub *peerhub.Hub[*gws.Conn]
}

func (h hubHandler) OnPing(c *gws.Conn, p []byte)          { c.WritePong(p) }
func (h hubHandler) OnMessage(c *gws.Conn, m *gws.Message) { m.Close() }
func (h hubHandler) OnClose(c *gws.Conn, err error)        { h.hub.Remove(c) }

func main() {
	addr := flag.String("addr", "127.0.0.1:8083", "listen address")
	deflate := flag.Bool("deflate", false, "permessage-deflate with context takeover both ways, as gws's README configures it (windows of 2^12, the default with takeover; level 1)")
	certFile, keyFile := peerhub.TLSFlags()
	flag.Parse()
	opt := &gws.ServerOption{CheckUtf8Enabled: true, ReadMaxPayloadSize: 16 << 20}
	if *deflate {
		opt.PermessageDeflate = gws.PermessageDeflate{Enabled: true, ServerContextTakeover: true, ClientContextTakeover: true}
	}
	echoUp := gws.NewUpgrader(echoHandler{}, opt)
	hub := peerhub.New[*gws.Conn]()
	hubUp := gws.NewUpgrader(hubHandler{hub: hub}, opt)
	mux := http.NewServeMux()
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		c, err := echoUp.Upgrade(w, r)
		if err != nil {
			return
		}
		go c.ReadLoop()
	})
	mux.HandleFunc("/ws/", func(w http.ResponseWriter, r *http.Request) {
		c, err := hubUp.Upgrade(w, r)
		if err != nil {
			return
		}
		hub.Add(c, peerhub.UserOf(r.URL.Path))
		go c.ReadLoop()
	})
	hub.Routes(mux, func(cs []*gws.Conn, body []byte) int {
		b := gws.NewBroadcaster(gws.OpcodeText, body)
		defer b.Close()
		n := 0
		for _, c := range cs {
			if b.Broadcast(c) == nil {
				n++
			}
		}
		return n
	})
	log.Fatal(peerhub.Serve(*addr, *certFile, *keyFile, mux))
}
