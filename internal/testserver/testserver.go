// Package testserver runs wsd's server, hub and demo in this process on a
// kernel-chosen loopback port, without logs: for tests and demonstrations.
package testserver

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/wsd-dev/wsd/demo"
	"github.com/wsd-dev/wsd/hub"
	"github.com/wsd-dev/wsd/wsconn"
)

// Server is a running wsd.
type Server struct {
	Hub  *hub.Hub
	Srv  *wsconn.Server
	Addr string // host:port
}

// Start runs a server with the hub and the demo; mod may change its
// options.
func Start(mod func(*wsconn.Options)) (*Server, error) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	o := wsconn.Options{Addr: "127.0.0.1:0", Logger: logger}
	if mod != nil {
		mod(&o)
	}
	s, err := wsconn.New(o)
	if err != nil {
		return nil, err
	}
	h := hub.New(s, hub.Options{Logger: logger})
	if err := s.Start(demo.New(h, s).Routes()); err != nil {
		return nil, err
	}
	return &Server{Hub: h, Srv: s, Addr: s.Addr().String()}, nil
}

// Stop shuts the server down, waiting at most 3 seconds.
func (s *Server) Stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	s.Srv.Shutdown(ctx)
}
