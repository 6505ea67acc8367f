package wsconn

import (
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/upgrade"
)

// echoHandler sends every message back and records closes.
type echoHandler struct {
	rec *closeRecorder
}

func (echoHandler) OnOpen(*Conn) {}

func (echoHandler) OnMessage(c *Conn, op frame.Opcode, p []byte) { c.Send(op, p) }

func (h echoHandler) OnClose(c *Conn, code frame.CloseCode, reason string) {
	if h.rec != nil {
		h.rec.add(code, reason)
	}
}

type closeRecorder struct {
	mu    sync.Mutex
	codes []frame.CloseCode
}

func (r *closeRecorder) add(code frame.CloseCode, _ string) {
	r.mu.Lock()
	r.codes = append(r.codes, code)
	r.mu.Unlock()
}

func (r *closeRecorder) list() []frame.CloseCode {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]frame.CloseCode(nil), r.codes...)
}

// echoRoutes serves /echo, recording closes in rec.
func echoRoutes(rec *closeRecorder) Routes {
	return Routes{Upgrade: func(_ *Conn, req *upgrade.Request) (Handler, *upgrade.Error) {
		if string(req.Path) == "/echo" {
			return echoHandler{rec}, nil
		}
		return nil, &upgrade.Error{Status: 404, Msg: "no endpoint " + string(req.Path)}
	}}
}

// startEcho runs a server with /echo on a kernel-chosen loopback port.
func startEcho(t testing.TB, mod func(*Options)) (*Server, *closeRecorder) {
	t.Helper()
	rec := &closeRecorder{}
	return startWith(t, mod, echoRoutes(rec)), rec
}

// startWith runs a server serving r on a kernel-chosen loopback port.
func startWith(t testing.TB, mod func(*Options), r Routes) *Server {
	t.Helper()
	o := Options{Addr: "127.0.0.1:0", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if mod != nil {
		mod(&o)
	}
	s, err := New(o)
	require.NoError(t, err)
	require.NoError(t, s.Start(r))
	t.Cleanup(func() {
		ctx, cancel := contextTimeout(5 * time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return s
}

// eventually polls cond until it holds or the timeout passes.
func eventually(t testing.TB, timeout time.Duration, cond func() bool, msg string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf(msg, args...)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// serverConn returns the server's one connection.
func serverConn(t testing.TB, s *Server) *Conn {
	t.Helper()
	var conn *Conn
	eventually(t, time.Second, func() bool {
		for i := range s.table.Size() {
			if x := s.table.Load(i); x != nil {
				conn = x
				return true
			}
		}
		return false
	}, "no connection")
	return conn
}
