package demo

import (
	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/wsconn"
)

// Echo is the /echo handler: every message goes back as it came, text or
// binary — for tests, teaching and conformance runs.
type Echo struct{}

func (Echo) OnOpen(*wsconn.Conn) {}

func (Echo) OnMessage(c *wsconn.Conn, op frame.Opcode, p []byte) { c.Send(op, p) }

func (Echo) OnClose(*wsconn.Conn, frame.CloseCode, string) {}
