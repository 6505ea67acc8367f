package wsconn

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"
)

// httpBridge is a net.Listener fed with connections whose first request
// was not an upgrade, so that net/http serves them (the API, the demo
// pages, polling) on the same port.
type httpBridge struct {
	ch     chan net.Conn
	done   chan struct{}
	once   sync.Once
	addr   net.Addr
	server *http.Server
}

func newHTTPBridge(h http.Handler, addr netip.AddrPort) *httpBridge {
	return &httpBridge{
		ch:   make(chan net.Conn, 1024),
		done: make(chan struct{}),
		addr: net.TCPAddrFromAddrPort(addr),
		server: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       90 * time.Second,
		},
	}
}

func (b *httpBridge) serve() { b.server.Serve(b) }

// hand gives a connection to net/http without blocking the loop.
func (b *httpBridge) hand(c net.Conn) {
	select {
	case b.ch <- c:
	default:
		go func() {
			select {
			case b.ch <- c:
			case <-b.done:
				c.Close()
			}
		}()
	}
}

func (b *httpBridge) Accept() (net.Conn, error) {
	select {
	case c := <-b.ch:
		return c, nil
	case <-b.done:
		return nil, net.ErrClosed
	}
}

func (b *httpBridge) Close() error {
	b.once.Do(func() { close(b.done) })
	return nil
}

func (b *httpBridge) Addr() net.Addr { return b.addr }

func (b *httpBridge) shutdown(ctx context.Context) {
	b.Close()
	b.server.Shutdown(ctx)
}

// prefixConn replays the bytes the loop read before the hand-off.
type prefixConn struct {
	net.Conn
	pre []byte
}

func (p *prefixConn) Read(b []byte) (int, error) {
	if len(p.pre) > 0 {
		n := copy(b, p.pre)
		p.pre = p.pre[n:]
		return n, nil
	}
	return p.Conn.Read(b)
}
