package hub

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/wsd-dev/wsd/internal/wstest"
	"github.com/wsd-dev/wsd/wsconn"
)

type env struct {
	t    testing.TB
	hub  *Hub
	srv  *wsconn.Server
	addr string
}

func start(t testing.TB, hopt Options, mod func(*wsconn.Options)) *env {
	t.Helper()
	hopt.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	o := wsconn.Options{Addr: "127.0.0.1:0", Logger: hopt.Logger}
	if mod != nil {
		mod(&o)
	}
	s, err := wsconn.New(o)
	require.NoError(t, err)
	h := New(s, hopt)
	require.NoError(t, s.Start(h.Routes()))
	e := &env{t: t, hub: h, srv: s, addr: s.Addr().String()}
	t.Cleanup(e.stop)
	return e
}

func (e *env) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	e.srv.Shutdown(ctx)
}

func (e *env) dial(uri string) *wstest.Client {
	e.t.Helper()
	c, err := wstest.Dial(e.addr, uri, "")
	require.NoError(e.t, err, uri)
	e.t.Cleanup(func() { c.Close() })
	return c
}

// request makes an HTTP call and decodes the JSON answer.
func (e *env) request(method, path, body string, hdr ...string) (int, map[string]any) {
	e.t.Helper()
	req, err := http.NewRequest(method, "http://"+e.addr+path, strings.NewReader(body))
	require.NoError(e.t, err)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	require.NoError(e.t, json.Unmarshal(raw, &out), "%s %s answered %q", method, path, raw)
	return resp.StatusCode, out
}

// msg reads the next text message as JSON.
func msg(t testing.TB, c *wstest.Client) map[string]any {
	t.Helper()
	op, p, err := c.ReadMessage(3 * time.Second)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(p, &m), "op %v payload %q", op, p)
	return m
}

// text reads the next text message.
func text(t testing.TB, c *wstest.Client) string {
	t.Helper()
	_, p, err := c.ReadMessage(3 * time.Second)
	require.NoError(t, err)
	return string(p)
}

func eventually(t testing.TB, cond func() bool, msg string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf(msg, args...)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
