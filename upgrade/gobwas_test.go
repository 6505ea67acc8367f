package upgrade

import (
	"bytes"
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A gobwas/ws Dialer's request parses and validates with ours, and our 101
// satisfies the Dialer, over a loopback socket.
func TestGobwasDialerAgainstOurResponse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	type result struct {
		req Request
		err error
	}
	done := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- result{err: err}
			return
		}
		defer c.Close()
		buf := make([]byte, 0, 4096)
		for {
			n, err := c.Read(buf[len(buf):cap(buf)])
			buf = buf[:len(buf)+n]
			req, _, perr := Parse(buf, 0)
			if perr == ErrIncomplete && err == nil {
				continue
			}
			if perr == nil {
				perr = req.Validate()
			}
			var werr error
			if perr == nil {
				_, werr = c.Write(AppendResponse(nil, req.Key, req.SelectProtocol([]string{"chat"})))
			} else {
				werr = perr
			}
			done <- result{req, werr}
			io.Copy(io.Discard, c)
			return
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	d := ws.Dialer{Protocols: []string{"chat", "other"}}
	conn, _, hs, err := d.Dial(ctx, "ws://"+ln.Addr().String()+"/path?q=1")
	require.NoError(t, err)
	defer conn.Close()
	assert.Equal(t, "chat", hs.Protocol)
	res := <-done
	require.NoError(t, res.err)
	assert.Equal(t, "/path", string(res.req.Path))
	assert.Equal(t, "q=1", string(res.req.Query))
}

// Our client request satisfies gobwas/ws's Upgrader, and its 101 passes our
// check.
func TestOurRequestAgainstGobwasUpgrader(t *testing.T) {
	key := NewKey()
	req := AppendRequest(nil, ClientRequest{Host: "127.0.0.1", URI: "/x", Key: key[:]})
	rw := &struct {
		io.Reader
		io.Writer
	}{bytes.NewReader(req), new(bytes.Buffer)}
	_, err := ws.Upgrader{}.Upgrade(rw)
	require.NoError(t, err)
	out := rw.Writer.(*bytes.Buffer).Bytes()
	resp, n, err := ParseResponse(out, 0)
	require.NoError(t, err)
	assert.Equal(t, len(out), n)
	assert.NoError(t, resp.Check(key[:]))
}
