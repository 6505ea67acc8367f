package wsconn

// permessage-deflate with real clients against the server in both modes
// (DeflateOn: no context kept; DeflateTakeover, W=10: wsd's -deflate
// takeover default): headless Chromium with its default offer, Node's ws
// with each of its perMessageDeflate choices, Python's websockets with its
// default, gorilla (EnableCompression) and gws (PermessageDeflate, with and
// without context takeover). Each echoes text and binary of sizes under
// and over the minimum size (64) and over ws's threshold (1024); the
// server's Observer parses both directions of the wire and counts the
// messages that went compressed (RSV1), and the client reports the answer
// it accepted.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/lxzan/gws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/internal/browser"
	"github.com/wsd-dev/wsd/upgrade"
)

// peerSizes are the message sizes each peer echoes, as text and binary:
// under and at the minimum size (64), under and at ws's threshold (1024),
// and large.
var peerSizes = []int{0, 10, 63, 64, 100, 1000, 1023, 1024, 5000, 65536, 300000}

// peerRepeat is sent twice after the sizes: 200 random hex digits, then
// text. The server compresses it (the text pays) and, with context
// takeover, a peer's second copy refers to its first, 600 bytes back: a
// server that kept less of the peer's messages than the window it agreed
// could not inflate it, and the server's own second copy is a few bytes.
var peerRepeat = string(hexOf(200, 11)) + string(textOf(400))

// peerMessages is how many messages each peer sends: each size as text
// and binary, and the repeat twice.
var peerMessages = 2*len(peerSizes) + 2

// countFrom is how many messages of sizes (each sent as text and binary)
// are at least min bytes.
func countFrom(sizes []int, min int) int {
	n := 0
	for _, s := range sizes {
		if s >= min {
			n += 2
		}
	}
	return n
}

// wireCount parses one direction of a connection's bytes, the HTTP head
// first, and counts its data messages and those sent compressed (RSV1 on
// the first frame, RFC 7692 §6).
type wireCount struct {
	rd         frame.Reader
	head       []byte
	pending    []byte
	msgs, comp int
	sizes      []int64 // each data message's first frame's payload length
	err        error
}

func newWireCount(role frame.Role) wireCount {
	return wireCount{rd: frame.Reader{Role: role, Rsv: frame.Rsv1}}
}

func (w *wireCount) feed(b []byte) {
	if w.err != nil {
		return
	}
	b = append([]byte(nil), b...) // the reader unmasks in place: not the connection's bytes
	if w.head == nil {
		w.pending = append(w.pending, b...)
		i := bytes.Index(w.pending, []byte("\r\n\r\n"))
		if i < 0 {
			return
		}
		w.head, b, w.pending = w.pending[:i+4], w.pending[i+4:], nil
	}
	for len(b) > 0 {
		c, n, err := w.rd.Next(b)
		b = b[n:]
		if err == frame.ErrNeedMore {
			return
		}
		if err != nil {
			w.err = err
			return
		}
		if c.First && (c.Header.OpCode == frame.OpText || c.Header.OpCode == frame.OpBinary) {
			w.msgs++
			w.sizes = append(w.sizes, c.Header.Length)
			if c.Header.Rsv&frame.Rsv1 != 0 {
				w.comp++
			}
		}
	}
}

// headerValue is a header of an HTTP head, its lines joined with ", ".
func headerValue(head []byte, name string) string {
	var vals []string
	for _, line := range strings.Split(string(head), "\r\n")[1:] {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.EqualFold(strings.TrimSpace(k), name) {
			vals = append(vals, strings.TrimSpace(v))
		}
	}
	return strings.Join(vals, ", ")
}

// peerWire is an Observer counting both directions of one connection.
type peerWire struct {
	mu      sync.Mutex
	in, out wireCount // from the client; from the server
	ended   bool
}

func (p *peerWire) Received(b []byte) { p.mu.Lock(); p.in.feed(b); p.mu.Unlock() }
func (p *peerWire) Sent(b []byte)     { p.mu.Lock(); p.out.feed(b); p.mu.Unlock() }
func (p *peerWire) End(string)        { p.mu.Lock(); p.ended = true; p.mu.Unlock() }

// wireReport is what one connection showed on the wire, once it ended.
type wireReport struct {
	offer, answer     string
	msgsIn, compIn    int // from the client: messages, compressed
	msgsOut, compOut  int // from the server
	sizesIn, sizesOut []int64
	errIn, errOut     error
}

// repeats are the wire sizes of the first and second peerRepeat.
func repeats(sizes []int64) (first, second int64) {
	n := 2 * len(peerSizes)
	if len(sizes) < n+2 {
		return -1, -1
	}
	return sizes[n], sizes[n+1]
}

// assertContext checks what the repeated message shows of each side's
// context takeover: the second copy costs little with it (when the window
// reaches 600 bytes back: 2^10 and more), the same as the first without
// it (the server; a client's compressor may differ between messages).
func (r wireReport) assertContext(t *testing.T, answer, who string) {
	t.Helper()
	a := parseAgreed(answer)
	first, second := repeats(r.sizesOut)
	switch {
	case !a.srvCtx:
		assert.Equal(t, first, second, "%s: the server's second copy, without context", who)
	case a.srvBits >= 10:
		assert.Less(t, second, first/4, "%s: the server's second copy, with its context", who)
	}
	first, second = repeats(r.sizesIn)
	if a.cliCtx && a.cliBits >= 10 {
		assert.Less(t, second, first/4, "%s: the client's second copy, with its context", who)
	}
}

func (p *peerWire) report() (wireReport, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return wireReport{
		offer: headerValue(p.in.head, "Sec-WebSocket-Extensions"), answer: headerValue(p.out.head, "Sec-WebSocket-Extensions"),
		msgsIn: p.in.msgs, compIn: p.in.comp, msgsOut: p.out.msgs, compOut: p.out.comp, errIn: p.in.err, errOut: p.out.err,
		sizesIn: append([]int64(nil), p.in.sizes...), sizesOut: append([]int64(nil), p.out.sizes...),
	}, p.ended
}

// peerConns are the observed connections of a server, in upgrade order.
type peerConns struct {
	mu   sync.Mutex
	list []*peerWire
}

// ended waits for the i-th connection to end and reports its wire.
func (pc *peerConns) ended(t *testing.T, i int) wireReport {
	t.Helper()
	var r wireReport
	eventually(t, 10*time.Second, func() bool {
		pc.mu.Lock()
		defer pc.mu.Unlock()
		if i >= len(pc.list) {
			return false
		}
		var done bool
		r, done = pc.list[i].report()
		return done
	}, "connection %d did not end", i)
	require.NoError(t, r.errIn, "the client's frames")
	require.NoError(t, r.errOut, "the server's frames")
	return r
}

func (pc *peerConns) count() int {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	return len(pc.list)
}

// deflatePeerServer runs /echo (and page at /, if any) with a deflate
// policy, observing every connection.
func deflatePeerServer(t *testing.T, p upgrade.DeflatePolicy, page string) (*Server, *peerConns) {
	t.Helper()
	pc := &peerConns{}
	routes := echoRoutes(nil)
	if page != "" {
		routes.HTTP = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Write([]byte(page))
		})
	}
	s := startWith(t, func(o *Options) {
		o.Deflate = p
		o.MaxMessage = 1 << 20
		o.Observe = func(*upgrade.Request, netip.AddrPort, netip.AddrPort) Observer {
			w := &peerWire{in: newWireCount(frame.RoleServer), out: newWireCount(frame.RoleClient)}
			pc.mu.Lock()
			pc.list = append(pc.list, w)
			pc.mu.Unlock()
			return w
		}
	}, routes)
	return s, pc
}

var deflateModes = []struct {
	name   string
	policy upgrade.DeflatePolicy
}{
	{"on", upgrade.DeflatePolicy{Mode: upgrade.DeflateOn}},
	{"takeover", upgrade.DeflatePolicy{Mode: upgrade.DeflateTakeover}},
}

// nodeDeflateJob is one perMessageDeflate setting of ws's client and the
// answer of each mode to its offer.
type nodeDeflateJob struct {
	name         string
	options      map[string]any
	on, takeover string
}

func nodeDeflateJobs() []nodeDeflateJob {
	const pmd = "permessage-deflate"
	jobs := []nodeDeflateJob{
		{"default", map[string]any{}, onAnswer, takeoverAnswer},
		{"serverNoContextTakeover", map[string]any{"serverNoContextTakeover": true}, onAnswer, pmd + "; server_no_context_takeover; client_max_window_bits=10"},
		{"serverNoContextTakeover false", map[string]any{"serverNoContextTakeover": false}, onAnswer, takeoverAnswer},
		{"clientNoContextTakeover", map[string]any{"clientNoContextTakeover": true}, onAnswer, pmd + "; client_no_context_takeover; server_max_window_bits=10"},
		// ws told clientNoContextTakeover: false refuses any answer with
		// client_no_context_takeover ("Unexpected parameter"), which a
		// server may always send (RFC 7692 §7.1.1.2) and DeflateOn always
		// does; its offer is the default one, so the server cannot tell.
		// The connection fails on ws's side: a limitation of DeflateOn
		// with such clients, shown here.
		{"clientNoContextTakeover false", map[string]any{"clientNoContextTakeover": false}, onAnswer, takeoverAnswer},
		{"both no context takeover", map[string]any{"serverNoContextTakeover": true, "clientNoContextTakeover": true}, onAnswer, pmd + "; server_no_context_takeover; client_no_context_takeover"},
		{"clientMaxWindowBits false", map[string]any{"clientMaxWindowBits": false}, onAnswer, pmd + "; client_no_context_takeover; server_max_window_bits=10"},
		{"every parameter", map[string]any{"serverNoContextTakeover": true, "clientNoContextTakeover": true, "serverMaxWindowBits": 9, "clientMaxWindowBits": 9},
			onAnswer + "; server_max_window_bits=9", pmd + "; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9"},
	}
	for _, bits := range []int{8, 9, 10, 11, 12, 15} {
		jobs = append(jobs,
			nodeDeflateJob{fmt.Sprintf("serverMaxWindowBits %d", bits), map[string]any{"serverMaxWindowBits": bits},
				onAnswer + fmt.Sprintf("; server_max_window_bits=%d", bits), pmd + fmt.Sprintf("; server_max_window_bits=%d; client_max_window_bits=10", min(bits, 10))},
			nodeDeflateJob{fmt.Sprintf("clientMaxWindowBits %d", bits), map[string]any{"clientMaxWindowBits": bits},
				onAnswer, pmd + fmt.Sprintf("; server_max_window_bits=10; client_max_window_bits=%d", min(bits, 10))})
	}
	return jobs
}

// nodeResult is what test/node/deflate_client.js reports for one job.
type nodeResult struct {
	Answer     string          `json:"answer"`
	Extensions string          `json:"extensions"`
	Params     map[string]any  `json:"params"`
	Echoes     map[string]bool `json:"echoes"`
	CloseCode  int             `json:"close_code"`
	Error      string          `json:"error"`
}

func assertEchoes(t *testing.T, echoes map[string]bool, sizes []int, who string) {
	t.Helper()
	assert.True(t, echoes["repeat_1"], "%s: echo of the repeat", who)
	assert.True(t, echoes["repeat_2"], "%s: echo of the repeat again", who)
	for _, n := range sizes {
		for _, kind := range []string{"text", "binary"} {
			k := kind + "_" + strconv.Itoa(n)
			assert.True(t, echoes[k], "%s: echo %s", who, k)
		}
	}
}

// Node's ws with each perMessageDeflate choice: the answer is the one
// wanted and ws accepts it; every echo comes back; ws compresses what
// reaches its threshold (1024) and the server what reaches 64.
func TestDeflateNodeWSClient(t *testing.T) {
	jobs := nodeDeflateJobs()
	for _, mode := range deflateModes {
		t.Run(mode.name, func(t *testing.T) {
			s, pc := deflatePeerServer(t, mode.policy, "")
			var opts []map[string]any
			for _, j := range jobs {
				opts = append(opts, j.options)
			}
			in, err := json.Marshal(map[string]any{"url": "ws://" + s.Addr().String() + "/echo", "sizes": peerSizes, "repeat": peerRepeat, "jobs": opts})
			require.NoError(t, err)
			var res []nodeResult
			runPeerJSON(t, &res, in, "node", filepath.Join(repoRoot(t), "test/node/deflate_client.js"))
			require.Len(t, res, len(jobs))
			require.Equal(t, len(jobs), pc.count(), "one connection per job")
			for i, j := range jobs {
				r := res[i]
				want := j.on
				if mode.policy.Mode == upgrade.DeflateTakeover {
					want = j.takeover
				}
				who := mode.name + " " + j.name
				if j.name == "clientNoContextTakeover false" && mode.policy.Mode == upgrade.DeflateOn {
					assert.Equal(t, "Error: Invalid Sec-WebSocket-Extensions header", r.Error, who)
					assert.Equal(t, 1006, r.CloseCode, who)
					w := pc.ended(t, i)
					assert.Equal(t, want, w.answer, who)
					assert.Zero(t, w.msgsIn, who)
					continue
				}
				assert.Empty(t, r.Error, who)
				assert.Equal(t, want, r.Answer, "%s: the answer", who)
				assert.Equal(t, "permessage-deflate", r.Extensions, who)
				assert.NotNil(t, r.Params, "%s: ws agreed to parameters", who)
				assertEchoes(t, r.Echoes, peerSizes, who)
				assert.Equal(t, 1000, r.CloseCode, who)
				w := pc.ended(t, i)
				assert.Equal(t, want, w.answer, "%s: the answer on the wire", who)
				assert.Equal(t, peerMessages, w.msgsIn, who)
				if parseAgreed(want).cliCtx {
					assert.Equal(t, peerMessages, w.compIn, "%s: ws with context takeover compresses every message", who)
				} else {
					assert.Equal(t, countFrom(peerSizes, 1024), w.compIn, "%s: ws without context takeover compresses from its threshold, 1024 (not the repeat, 600)", who)
				}
				assert.Equal(t, peerMessages, w.msgsOut, who)
				assert.Equal(t, countFrom(peerSizes, DefaultDeflateMinSize)+2, w.compOut, "%s: the server compresses from 64 bytes", who)
				w.assertContext(t, want, who)
			}
		})
	}
}

// runPeerJSON runs a peer script with in on stdin and decodes the JSON it
// prints into out.
func runPeerJSON(t *testing.T, out any, in []byte, name string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	require.NoError(t, err, "%s: %s\n%s", name, b, stderr.String())
	require.NoError(t, json.Unmarshal(b, out), "output %q", b)
}

// Python's websockets with its default deflate (context takeover both
// ways, client_max_window_bits offered): it compresses every message.
func TestDeflatePythonWebsocketsClient(t *testing.T) {
	for _, mode := range deflateModes {
		t.Run(mode.name, func(t *testing.T) {
			s, pc := deflatePeerServer(t, mode.policy, "")
			args := []string{filepath.Join(repoRoot(t), "test/python/deflate_client.py"), "ws://" + s.Addr().String() + "/echo", peerRepeat}
			for _, n := range peerSizes {
				args = append(args, strconv.Itoa(n))
			}
			var r struct {
				Answer string `json:"answer"`
				Params []struct {
					Name       string `json:"name"`
					RemoteNoCT bool   `json:"remote_no_context_takeover"`
					LocalNoCT  bool   `json:"local_no_context_takeover"`
					RemoteBits int    `json:"remote_max_window_bits"`
					LocalBits  int    `json:"local_max_window_bits"`
				} `json:"params"`
				Echoes    map[string]bool `json:"echoes"`
				CloseCode int             `json:"close_code"`
			}
			runPeerJSON(t, &r, nil, "/usr/bin/python3", args...)
			w := pc.ended(t, 0)
			assert.Equal(t, "permessage-deflate; client_max_window_bits", w.offer, "websockets' default offer")
			want, bits, noCT := onAnswer, 15, true
			if mode.policy.Mode == upgrade.DeflateTakeover {
				want, bits, noCT = takeoverAnswer, 10, false
			}
			assert.Equal(t, want, r.Answer)
			assert.Equal(t, want, w.answer)
			require.Len(t, r.Params, 1)
			p := r.Params[0]
			assert.Equal(t, "permessage-deflate", p.Name)
			assert.Equal(t, noCT, p.RemoteNoCT, "server_no_context_takeover as websockets applies it")
			assert.Equal(t, noCT, p.LocalNoCT, "client_no_context_takeover as websockets applies it")
			assert.Equal(t, bits, p.RemoteBits, "the server's window")
			assert.Equal(t, bits, p.LocalBits, "the client's window")
			assertEchoes(t, r.Echoes, peerSizes, "websockets")
			assert.Equal(t, 1000, r.CloseCode)
			assert.Equal(t, peerMessages, w.msgsIn)
			assert.Equal(t, peerMessages, w.compIn, "websockets compresses every message")
			assert.Equal(t, countFrom(peerSizes, DefaultDeflateMinSize)+2, w.compOut)
			w.assertContext(t, want, "websockets")
		})
	}
}

// echoPeer sends each size as text and binary, then the repeat twice,
// through send and checks what recv gives back.
func echoPeer(t *testing.T, who string, send func(binary bool, p []byte) error, recv func() (binary bool, p []byte, err error)) {
	t.Helper()
	for _, n := range peerSizes {
		for _, binary := range []bool{false, true} {
			p := textOf(n)
			if binary {
				p = binOf(n)
			}
			require.NoError(t, send(binary, p), "%s: send %d", who, n)
			gotBinary, got, err := recv()
			require.NoError(t, err, "%s: echo of %d", who, n)
			assert.Equal(t, binary, gotBinary, "%s: %d", who, n)
			assert.True(t, bytes.Equal(p, got), "%s: echo of %d bytes", who, n)
		}
	}
	for i := range 2 {
		require.NoError(t, send(false, []byte(peerRepeat)), "%s: send the repeat", who)
		gotBinary, got, err := recv()
		require.NoError(t, err, "%s: echo of the repeat %d", who, i)
		assert.False(t, gotBinary)
		assert.Equal(t, peerRepeat, string(got), "%s: echo of the repeat %d", who, i)
	}
}

// gorilla with EnableCompression offers no context takeover either way;
// both modes grant it, and gorilla compresses every message.
func TestDeflateGorillaClient(t *testing.T) {
	for _, mode := range deflateModes {
		t.Run(mode.name, func(t *testing.T) {
			s, pc := deflatePeerServer(t, mode.policy, "")
			d := websocket.Dialer{HandshakeTimeout: 5 * time.Second, EnableCompression: true}
			c, resp, err := d.Dial("ws://"+s.Addr().String()+"/echo", nil)
			require.NoError(t, err)
			defer c.Close()
			c.SetReadLimit(1 << 20)
			assert.Equal(t, onAnswer, resp.Header.Get("Sec-WebSocket-Extensions"))
			echoPeer(t, "gorilla", func(binary bool, p []byte) error {
				mt := websocket.TextMessage
				if binary {
					mt = websocket.BinaryMessage
				}
				return c.WriteMessage(mt, p)
			}, func() (bool, []byte, error) {
				mt, p, err := c.ReadMessage()
				return mt == websocket.BinaryMessage, p, err
			})
			require.NoError(t, c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(1000, "done")))
			_, _, err = c.ReadMessage()
			var ce *websocket.CloseError
			require.True(t, errors.As(err, &ce), "the server's close: %v", err)
			assert.Equal(t, 1000, ce.Code)
			w := pc.ended(t, 0)
			assert.Equal(t, "permessage-deflate; server_no_context_takeover; client_no_context_takeover", w.offer)
			assert.Equal(t, onAnswer, w.answer)
			assert.Equal(t, peerMessages, w.compIn, "gorilla compresses every message")
			assert.Equal(t, countFrom(peerSizes, DefaultDeflateMinSize)+2, w.compOut)
			w.assertContext(t, onAnswer, "gorilla")
		})
	}
}

// gwsEvents collects a gws client's messages.
type gwsEvents struct {
	gws.BuiltinEventHandler
	msgs   chan gwsMsg
	closed chan error
}

type gwsMsg struct {
	binary bool
	p      []byte
}

func (h *gwsEvents) OnMessage(c *gws.Conn, m *gws.Message) {
	h.msgs <- gwsMsg{m.Opcode == gws.OpcodeBinary, append([]byte(nil), m.Bytes()...)}
	m.Close()
}

func (h *gwsEvents) OnClose(c *gws.Conn, err error) { h.closed <- err }

// gws with PermessageDeflate, without and with context takeover (and with
// its window bits): it applies the answer and compresses, without context
// takeover from its threshold (512), with it every message.
func TestDeflateGwsClient(t *testing.T) {
	const pmd = "permessage-deflate"
	for _, tc := range []struct {
		name         string
		pd           gws.PermessageDeflate
		offer        string
		on, takeover string
		compFrom     int // gws compresses messages from this size on
	}{
		{"no context takeover", gws.PermessageDeflate{Enabled: true}, pmd + "; server_no_context_takeover; client_no_context_takeover", onAnswer, onAnswer, 512},
		{"context takeover", gws.PermessageDeflate{Enabled: true, ServerContextTakeover: true, ClientContextTakeover: true},
			pmd + "; client_max_window_bits", onAnswer, takeoverAnswer, 0},
		{"context takeover, windows of 2^12", gws.PermessageDeflate{Enabled: true, ServerContextTakeover: true, ClientContextTakeover: true, ServerMaxWindowBits: 12, ClientMaxWindowBits: 12},
			pmd + "; server_max_window_bits=12; client_max_window_bits=12", onAnswer + "; server_max_window_bits=12", takeoverAnswer, 0},
	} {
		for _, mode := range deflateModes {
			t.Run(tc.name+" "+mode.name, func(t *testing.T) {
				s, pc := deflatePeerServer(t, mode.policy, "")
				h := &gwsEvents{msgs: make(chan gwsMsg, 4), closed: make(chan error, 1)}
				c, resp, err := gws.NewClient(h, &gws.ClientOption{Addr: "ws://" + s.Addr().String() + "/echo", PermessageDeflate: tc.pd, ReadMaxPayloadSize: 1 << 20})
				require.NoError(t, err)
				go c.ReadLoop()
				want := tc.on
				compFrom := 512 // the server asked for no client context: gws's threshold applies
				if mode.policy.Mode == upgrade.DeflateTakeover {
					want, compFrom = tc.takeover, tc.compFrom
				}
				assert.Equal(t, want, resp.Header.Get("Sec-WebSocket-Extensions"))
				echoPeer(t, "gws", func(binary bool, p []byte) error {
					op := gws.OpcodeText
					if binary {
						op = gws.OpcodeBinary
					}
					return c.WriteMessage(op, p)
				}, func() (bool, []byte, error) {
					select {
					case m := <-h.msgs:
						return m.binary, m.p, nil
					case err := <-h.closed:
						return false, nil, fmt.Errorf("closed: %w", err)
					case <-time.After(10 * time.Second):
						return false, nil, errors.New("no echo within 10 s")
					}
				})
				require.NoError(t, c.WriteClose(1000, []byte("done")))
				select {
				case <-h.closed:
				case <-time.After(10 * time.Second):
					t.Fatal("gws: no close")
				}
				w := pc.ended(t, 0)
				assert.Equal(t, tc.offer, w.offer)
				assert.Equal(t, want, w.answer)
				assert.Equal(t, peerMessages, w.msgsIn)
				assert.Equal(t, countFrom(peerSizes, compFrom)+2, w.compIn, "gws compresses from %d bytes (the repeat is 600)", compFrom)
				assert.Equal(t, countFrom(peerSizes, DefaultDeflateMinSize)+2, w.compOut)
				w.assertContext(t, want, "gws")
			})
		}
	}
}

// The page echoes each size as text and binary with Chromium's default
// offer and leaves window.result with ws.extensions.
const deflateBrowserPage = `<!doctype html><meta charset="utf-8"><title>wsd deflate test</title><script>
const sizes = SIZES;
function textOf(n) {
  const enc = new TextEncoder();
  const pattern = enc.encode('{"msg":"wsd 数据","n":42} ');
  let b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = pattern[i % pattern.length];
  const dec = new TextDecoder('utf-8', { fatal: true });
  let k = n;
  for (;;) { try { dec.decode(b.subarray(0, k)); break; } catch (e) { k--; } }
  b.fill(46, k);
  return dec.decode(b);
}
function binOf(n) { const b = new Uint8Array(n); for (let i = 0; i < n; i++) b[i] = ((i % 23) * 11) & 255; return b; }
(async () => {
  const res = { echoes: {} };
  const ws = new WebSocket('ws://' + location.host + '/echo');
  ws.binaryType = 'arraybuffer';
  const inbox = [];
  let waiting = null;
  ws.onmessage = (e) => { if (waiting) { const w = waiting; waiting = null; w(e.data); } else inbox.push(e.data); };
  const next = () => inbox.length ? Promise.resolve(inbox.shift()) : new Promise((r) => { waiting = r; });
  ws.onclose = (e) => { res.code = e.code; window.result = res; };
  ws.onerror = () => { res.error = true; };
  await new Promise((r) => { ws.onopen = r; });
  res.extensions = ws.extensions;
  for (const n of sizes) {
    const t = textOf(n);
    ws.send(t);
    res.echoes['text_' + n] = (await next()) === t;
    const b = binOf(n);
    ws.send(b);
    const got = new Uint8Array(await next());
    res.echoes['binary_' + n] = got.length === n && got.every((v, i) => v === b[i]);
  }
  for (const k of ['repeat_1', 'repeat_2']) {
    ws.send(REPEAT);
    res.echoes[k] = (await next()) === REPEAT;
  }
  ws.close(1000, 'done');
})();
</script>`

// Headless Chromium with its default offer (permessage-deflate;
// client_max_window_bits): ws.extensions shows the answer, every echo comes
// back, and Chromium compresses every message it sends.
func TestDeflateChromium(t *testing.T) {
	sizes, _ := json.Marshal(peerSizes)
	repeat, _ := json.Marshal(peerRepeat)
	page := strings.NewReplacer("SIZES", string(sizes), "REPEAT", string(repeat)).Replace(deflateBrowserPage)
	ctx := browser.New(t)
	for _, mode := range deflateModes {
		t.Run(mode.name, func(t *testing.T) {
			s, pc := deflatePeerServer(t, mode.policy, page)
			tab := browser.NewTab(t, ctx)
			require.NoError(t, browser.Navigate(tab, "http://"+s.Addr().String()+"/"))
			var res struct {
				Extensions string          `json:"extensions"`
				Echoes     map[string]bool `json:"echoes"`
				Code       int             `json:"code"`
				Error      bool            `json:"error"`
			}
			require.NoError(t, browser.WaitJSON(tab, "window.result", &res, 60*time.Second))
			want := onAnswer
			if mode.policy.Mode == upgrade.DeflateTakeover {
				want = takeoverAnswer
			}
			assert.False(t, res.Error)
			assert.Equal(t, want, res.Extensions, "ws.extensions")
			assertEchoes(t, res.Echoes, peerSizes, "chromium")
			assert.Equal(t, 1000, res.Code)
			require.Equal(t, 1, pc.count(), "one WebSocket")
			w := pc.ended(t, 0)
			assert.Equal(t, "permessage-deflate; client_max_window_bits", w.offer, "Chromium's default offer")
			assert.Equal(t, want, w.answer)
			assert.Equal(t, peerMessages, w.msgsIn)
			assert.Equal(t, peerMessages, w.compIn, "Chromium compresses every message")
			assert.Equal(t, countFrom(peerSizes, DefaultDeflateMinSize)+2, w.compOut)
			w.assertContext(t, want, "chromium")
		})
	}
}
