package wsconn_test

import (
	"context"
	"fmt"
	"time"

	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/upgrade"
	"github.com/wsd-dev/wsd/wsconn"
)

// shout is a server handler: it answers every text message in capitals.
type shout struct{}

func (shout) OnOpen(*wsconn.Conn) {}

func (shout) OnMessage(c *wsconn.Conn, op frame.Opcode, p []byte) {
	out := make([]byte, len(p))
	for i, b := range p {
		if 'a' <= b && b <= 'z' {
			b -= 'a' - 'A'
		}
		out[i] = b
	}
	c.Send(op, out)
}

func (shout) OnClose(*wsconn.Conn, frame.CloseCode, string) {}

// A server: New binds the port and makes the loops, Start serves the
// routes. Handlers run on the loops and must not block.
func ExampleNew() {
	srv, err := wsconn.New(wsconn.Options{Addr: "127.0.0.1:0"})
	if err != nil {
		fmt.Println(err)
		return
	}
	err = srv.Start(wsconn.Routes{Upgrade: func(_ *wsconn.Conn, req *upgrade.Request) (wsconn.Handler, *upgrade.Error) {
		if string(req.Path) != "/shout" {
			return nil, &upgrade.Error{Status: 404, Msg: "no endpoint " + string(req.Path)}
		}
		return shout{}, nil
	}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Shutdown(context.Background())

	fmt.Println(ask(srv, "/shout", "hello"))
	// Output: HELLO
}

// listener is a client handler: it asks for one path, sends one message
// on open and hands over the first answer.
type listener struct {
	path, say string
	got       chan string
}

func (l listener) OnConnect(*wsconn.Conn) upgrade.ClientRequest {
	return upgrade.ClientRequest{Host: "example", URI: l.path}
}

func (l listener) OnDialError(_ *wsconn.Conn, err error) { l.got <- err.Error() }

func (l listener) OnOpen(c *wsconn.Conn) { c.Send(frame.OpText, []byte(l.say)) }

func (l listener) OnMessage(c *wsconn.Conn, _ frame.Opcode, p []byte) {
	l.got <- string(p) // copied: p is valid during the call only
	c.Close(frame.CloseNormal, "thanks")
}

func (listener) OnClose(*wsconn.Conn, frame.CloseCode, string) {}

// ask dials the server with a Client, the same connection core in the
// client role, and returns the first answer.
func ask(srv *wsconn.Server, path, say string) string {
	cl, err := wsconn.NewClient(wsconn.Options{Loops: 1})
	if err != nil {
		return err.Error()
	}
	defer cl.Close(time.Second)
	l := listener{path: path, say: say, got: make(chan string, 1)}
	if _, err := cl.Dial(wsconn.Target{Addr: srv.Addr(), Handler: l}); err != nil {
		return err.Error()
	}
	return <-l.got
}

// A client: Dial returns at once; the handler hears the opening (or why
// it failed), the messages and the close, on the client's loops.
func ExampleClient_Dial() {
	srv, _ := wsconn.New(wsconn.Options{Addr: "127.0.0.1:0"})
	srv.Start(wsconn.Routes{Upgrade: func(*wsconn.Conn, *upgrade.Request) (wsconn.Handler, *upgrade.Error) { return shout{}, nil }})
	defer srv.Shutdown(context.Background())

	fmt.Println(ask(srv, "/", "who is there?"))
	// Output: WHO IS THERE?
}
