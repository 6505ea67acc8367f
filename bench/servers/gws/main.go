// Command gws is lxzan/gws behind net/http: a goroutine per connection
// with pooled buffers, echoing at /echo.
package main

import (
	"flag"
	"log"
	"net/http"

	"github.com/lxzan/gws"
)

type handler struct{ gws.BuiltinEventHandler }

func (handler) OnPing(c *gws.Conn, p []byte) { c.WritePong(p) }

func (handler) OnMessage(c *gws.Conn, m *gws.Message) {
	defer m.Close()
	c.WriteMessage(m.Opcode, m.Bytes())
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8083", "listen address")
	flag.Parse()
	up := gws.NewUpgrader(handler{}, &gws.ServerOption{CheckUtf8Enabled: true, ReadMaxPayloadSize: 16 << 20})
	http.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r)
		if err != nil {
			return
		}
		go c.ReadLoop()
	})
	log.Fatal(http.ListenAndServe(*addr, nil))
}
