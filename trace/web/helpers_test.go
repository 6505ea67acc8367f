package web

import (
	"bufio"
	"context"
	"io"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/internal/browser"
	"github.com/wsd-dev/wsd/internal/testserver"
	"github.com/wsd-dev/wsd/trace"
	"github.com/wsd-dev/wsd/upgrade"
	"github.com/wsd-dev/wsd/wsconn"
)

// pageWait bounds every wait on the page.
const pageWait = 10 * time.Second

// startWeb runs the page's server on a free loopback port.
func startWeb(t *testing.T, opt Options) *Server {
	t.Helper()
	opt.Addr = "127.0.0.1:0"
	if opt.Source == "" {
		opt.Source = "test"
	}
	s, err := Start(opt)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return s
}

// tracedWSD runs wsd's server and hub in this process with every
// connection traced for the page, as wsd -trace-web does.
func tracedWSD(t *testing.T, web *Server, deflate upgrade.DeflateMode) string {
	t.Helper()
	tr := trace.New(nil, trace.Options{Tap: web})
	srv, err := testserver.Start(func(o *wsconn.Options) {
		o.Deflate = upgrade.DeflatePolicy{Mode: deflate}
		o.DeflateMinSize = 1 << 20 // the echoes go plain: the client's own compressed frame is the one to look at
		o.Observe = func(_ *upgrade.Request, remote, local netip.AddrPort) wsconn.Observer {
			return tr.Conn(remote.String(), local.String())
		}
	})
	require.NoError(t, err)
	t.Cleanup(srv.Stop)
	return srv.Addr
}

// openPage loads the page and waits for its socket.
func openPage(t *testing.T, web *Server) context.Context {
	t.Helper()
	tab := browser.New(t)
	require.NoError(t, browser.Navigate(tab, web.URL()))
	require.NoError(t, browser.WaitTrue(tab, `document.getElementById('status').textContent === 'live'`, `document.getElementById('status').textContent`, pageWait))
	require.Eventually(t, func() bool { return web.Viewers() == 1 }, pageWait, 5*time.Millisecond)
	return tab
}

// maskedWith encodes a client frame with the given key; the masking is
// done here, byte by byte, not by package frame.
func maskedWith(fin bool, rsv uint8, op frame.Opcode, key [4]byte, payload []byte) []byte {
	h := frame.Header{Fin: fin, Rsv: rsv, OpCode: op, Length: int64(len(payload)), Masked: true, Mask: key}
	b := frame.AppendHeader(nil, h)
	for i, c := range payload {
		b = append(b, c^key[i%4])
	}
	return b
}

// js quotes s for a JS expression.
func js(s string) string { return strconv.Quote(s) }

// chromedpScrollClick clicks an element with a real mouse event once it
// is scrolled into view (cards sit in lanes that scroll on their own).
func chromedpScrollClick(tab context.Context, sel string) error {
	if _, err := browser.Eval[bool](tab, `(document.querySelector(`+js(sel)+`).scrollIntoView({block: 'center', inline: 'center'}), true)`); err != nil {
		return err
	}
	return browser.Click(tab, sel)
}

func bufioReader(r io.Reader) *bufio.Reader { return bufio.NewReader(r) }
