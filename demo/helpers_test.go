package demo

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/hub"
	"github.com/wsd-dev/wsd/upgrade"
	"github.com/wsd-dev/wsd/wsconn"
)

// env is a running wsd: server, hub and demo.
type env struct {
	t    testing.TB
	hub  *hub.Hub
	srv  *wsconn.Server
	addr string
	// compressed counts the messages the server sent compressed (RSV1),
	// over all connections.
	compressed atomic.Int64
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// start runs wsd with the demo on addr ("127.0.0.1:0" for a fresh port),
// loading state when it is given. permessage-deflate is on, as wsd's
// -deflate is by default.
func start(t testing.TB, addr string, state io.Reader) *env {
	t.Helper()
	e := &env{t: t}
	s, err := wsconn.New(wsconn.Options{Addr: addr, Logger: quiet,
		Deflate: upgrade.DeflatePolicy{Mode: upgrade.DeflateOn},
		Observe: func(*upgrade.Request, netip.AddrPort, netip.AddrPort) wsconn.Observer {
			return &sentCounter{n: &e.compressed, rd: frame.Reader{Role: frame.RoleClient, Rsv: frame.Rsv1}}
		}})
	require.NoError(t, err)
	h := hub.New(s, hub.Options{Logger: quiet})
	if state != nil {
		require.NoError(t, h.Load(state))
	}
	require.NoError(t, s.Start(New(h, s).Routes()))
	e.hub, e.srv, e.addr = h, s, s.Addr().String()
	t.Cleanup(e.stop)
	return e
}

// sentCounter is an Observer that parses what the server sends a
// connection (after the 101) and counts the messages sent compressed.
type sentCounter struct {
	mu   sync.Mutex
	head bool
	rd   frame.Reader
	n    *atomic.Int64
}

func (*sentCounter) Received([]byte) {}
func (*sentCounter) End(string)      {}
func (o *sentCounter) Sent(b []byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.head {
		o.head = bytes.HasPrefix(b, []byte("HTTP/1.1 101")) // the first thing sent is the 101
		return
	}
	b = append([]byte(nil), b...)
	for len(b) > 0 {
		c, n, err := o.rd.Next(b)
		b = b[n:]
		if err != nil {
			return
		}
		if c.First && c.Header.Rsv&frame.Rsv1 != 0 {
			o.n.Add(1)
		}
	}
}

func (e *env) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	e.srv.Shutdown(ctx)
}
