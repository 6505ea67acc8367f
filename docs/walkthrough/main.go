// Command walkthrough writes docs/protocol.md: one real session against
// wsd's echo endpoint, traced as wsd -trace and wsdump trace it, step by
// step, for people learning the protocol (make docs-protocol).
package main

import (
	"bytes"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/wsd-dev/wsd/deflate"
	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/internal/testkit"
	"github.com/wsd-dev/wsd/internal/testserver"
	"github.com/wsd-dev/wsd/internal/wstest"
	"github.com/wsd-dev/wsd/trace"
	"github.com/wsd-dev/wsd/upgrade"
	"github.com/wsd-dev/wsd/wsconn"
)

// step is one stage of the walk-through: what the reader should look at,
// what the client does, and how many frames the server answers with
// (read before the dump is taken, so that it is complete).
type step struct {
	title, text string
	do          func(c *wstest.Client) error
	replies     int
	dial        string // open a new connection with this extra header first ("" keeps the current one)
}

// The compressed steps' client: context takeover with the 2^10 window the
// server answers (wsd -deflate takeover), as a browser would compress.
var (
	comp, _   = deflate.NewCompressor(deflate.DefaultLevel)
	sentWin   []byte
	chatLine  = []byte(`{"type":"message","room":"lobby","body":"the same words compress well; the same words compress well"}`)
	compress1 = func(b []byte) []byte {
		z := comp.CompressWindow(nil, b, sentWin, 10)
		sentWin = deflate.AppendWindow(sentWin, b, 10)
		return z
	}
)

var steps = []step{
	{"1. The opening handshake", `The client opens a TCP connection and sends an HTTP/1.1 GET with
"Upgrade: websocket" and a random 16-byte key in base64 (RFC 6455 §4.1). The server proves it
speaks WebSocket by hashing the key with the protocol's fixed GUID and answering 101 (§4.2.2).
The dump recomputes the accept key step by step and checks the server's answer.`, nil, 0, ""},
	{"2. A masked text frame", `The client sends "Hello". Byte 0 holds FIN and the opcode (0x1, text);
byte 1 holds MASK=1 and the 7-bit length. Every client frame is masked with a fresh 4-byte key
(§5.3): the bytes on the wire are the payload XORed with the key. The server's echo is not masked
(§5.1), so its bytes are the text itself.`, func(c *wstest.Client) error { return c.Send(true, frame.OpText, []byte("Hello")) }, 1, ""},
	{"3. The three length encodings", `Lengths up to 125 fit in byte 1. For 126-65535 bytes, byte 1 holds 126
and two more bytes carry the length; beyond that byte 1 holds 127 and eight bytes follow (§5.2).
Here: 200 bytes of text, then 70,000 bytes of binary.`, func(c *wstest.Client) error {
		if err := c.Send(true, frame.OpText, bytes.Repeat([]byte("abcdefghij"), 20)); err != nil {
			return err
		}
		return c.Send(true, frame.OpBinary, bytes.Repeat([]byte{0xAB}, 70000))
	}, 2, ""},
	{"4. A fragmented message, with a ping in the middle", `A message may be split into frames: the first
carries the opcode and FIN=0, continuations carry opcode 0, the last has FIN=1 (§5.4). Control
frames may come between fragments. wsdump names each fragment's place and shows the reassembled
message after the last one; the server echoes the whole message as one frame.`, func(c *wstest.Client) error {
		for _, f := range [][]byte{
			wstest.Masked(false, frame.OpText, []byte("Hel")),
			wstest.Masked(true, frame.OpPing, []byte("in between")),
			wstest.Masked(false, frame.OpContinuation, []byte("lo ")),
			wstest.Masked(true, frame.OpContinuation, []byte("world")),
		} {
			if _, err := c.Write(f); err != nil {
				return err
			}
		}
		return nil
	}, 2, ""},
	{"5. Ping and pong", `A ping may carry up to 125 bytes; the other side answers with a pong carrying
the same bytes (§5.5.2, §5.5.3). Servers use pings to find dead connections.`,
		func(c *wstest.Client) error { return c.Send(true, frame.OpPing, []byte("are you there?")) }, 1, ""},
	{"6. The closing handshake", `Either side sends a Close frame with a 2-byte status code and an
optional UTF-8 reason (§5.5.1); the other answers with a Close of its own, and the server closes the
TCP connection first (§7.1.1). The codes and their meanings are listed in §7.4.`, func(c *wstest.Client) error {
		if _, err := c.Write(wstest.CloseFrame(frame.CloseNormal, "bye")); err != nil {
			return err
		}
		if err := c.ExpectEOF(2 * time.Second); err != nil {
			return err
		}
		return c.Close()
	}, 0, ""},
	{"7. Compression: negotiating permessage-deflate", `A new connection offers the permessage-deflate
extension (RFC 7692) in Sec-WebSocket-Extensions, as browsers do: "client_max_window_bits" without
a value lets the server choose the client's window. wsd (here with -deflate takeover; the default
-deflate on adds both *_no_context_takeover instead) answers with the parameters it applies. The dump
lists each offer, the four parameters as offered and as answered, what the server added, and what
each direction keeps between messages (§7.1.1: context takeover; §7.1.2: the window).`,
		nil, 0, "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits"},
	{"8. Compressed messages, with context takeover", `RSV1 on a message's first frame says its payload
is DEFLATE data (§6); the sender strips the trailing 00 00 ff ff of the flush (§7.2.1), the receiver
puts it back to inflate (§7.2.2). The client sends the same chat line twice: the second time its
compressor refers back into the first (context takeover), so it is a few bytes. The dump inflates each
message itself, keeping each direction's last 2^10 bytes, and shows the compressed bytes beside the
inflated ones with their ratio. The server's echoes come back compressed the same way.`, func(c *wstest.Client) error {
		for range 2 {
			if _, err := c.Write(wstest.MaskedRsv(true, frame.Rsv1, frame.OpText, compress1(chatLine))); err != nil {
				return err
			}
			if _, err := c.ReadFrame(5 * time.Second); err != nil { // in order: the echo, then the next
				return err
			}
		}
		return nil
	}, 0, ""},
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: walkthrough FILE.md")
		os.Exit(2)
	}
	var b bytes.Buffer
	if err := walkthrough(&b); err != nil {
		fmt.Fprintln(os.Stderr, "walkthrough:", err)
		os.Exit(1)
	}
	if err := os.WriteFile(os.Args[1], b.Bytes(), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "walkthrough:", err)
		os.Exit(1)
	}
}

// walkthrough runs a session against wsd's echo endpoint, traced by the
// server, and writes the trace, step by step, as markdown.
func walkthrough(w io.Writer) error {
	var dump testkit.SyncBuffer
	tr := trace.New(&dump, trace.Options{MaxShow: 48})
	srv, err := testserver.Start(func(o *wsconn.Options) {
		o.Deflate = upgrade.DeflatePolicy{Mode: upgrade.DeflateTakeover, WindowBits: 10}
		o.Observe = func(_ *upgrade.Request, remote, local netip.AddrPort) wsconn.Observer {
			return tr.Conn(remote.String(), local.String())
		}
	})
	if err != nil {
		return err
	}
	defer srv.Stop()

	fmt.Fprintf(w, `# The WebSocket protocol, one real session at a time

This walk-through is generated by `+"`make docs-protocol`"+` (`+"`go run ./docs/walkthrough docs/protocol.md`"+`):
a client talks to wsd's echo endpoint, wsd traces the connection as `+"`wsd -trace`"+` does (the same
dump `+"`wsdump`"+` prints as a proxy), and each section below is what it printed for that step.
Masking keys and times change on every run; the structure is the code's own. Run it live with
`+"`wsd -trace`"+`, or `+"`wsdump -listen 127.0.0.1:9000 -upstream 127.0.0.1:8080`"+` and any client on port 9000.

The accept key example of RFC 6455 §1.3, for reference: key %q gives %q.

`, "dGhlIHNhbXBsZSBub25jZQ==", accept("dGhlIHNhbXBsZSBub25jZQ=="))
	var c *wstest.Client
	seen := 0
	for i, s := range steps {
		if i == 0 || s.dial != "" {
			if c, err = wstest.Dial(srv.Addr, "/echo", s.dial); err != nil {
				return err
			}
		}
		if s.do != nil {
			if err := s.do(c); err != nil {
				return fmt.Errorf("%s: %w", s.title, err)
			}
		}
		// The server traces what it reads before it answers and what it
		// writes before the client can read it: once the replies are in,
		// the dump of the step is complete.
		for range s.replies {
			if _, err := c.ReadFrame(5 * time.Second); err != nil {
				return fmt.Errorf("%s: reading the reply: %w", s.title, err)
			}
		}
		out := dump.String()
		fmt.Fprintf(w, "## %s\n\n%s\n\n```\n%s```\n\n", s.title, strings.TrimSpace(s.text), out[seen:])
		seen = len(out)
	}
	return nil
}

func accept(key string) string {
	a := upgrade.Accept([]byte(key))
	return string(a[:])
}
