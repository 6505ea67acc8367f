package demo

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/wsd-dev/wsd/hub"
	"github.com/wsd-dev/wsd/wsconn"
)

// env is a running wsd: server, hub and demo.
type env struct {
	t    testing.TB
	hub  *hub.Hub
	srv  *wsconn.Server
	addr string
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// start runs wsd with the demo on addr ("127.0.0.1:0" for a fresh port),
// loading state when it is given.
func start(t testing.TB, addr string, state io.Reader) *env {
	t.Helper()
	s, err := wsconn.New(wsconn.Options{Addr: addr, Logger: quiet})
	require.NoError(t, err)
	h := hub.New(s, hub.Options{Logger: quiet})
	if state != nil {
		require.NoError(t, h.Load(state))
	}
	require.NoError(t, s.Start(New(h, s).Routes()))
	e := &env{t: t, hub: h, srv: s, addr: s.Addr().String()}
	t.Cleanup(e.stop)
	return e
}

func (e *env) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	e.srv.Shutdown(ctx)
}
