package wsconn

// A conformance suite in the style of the Autobahn TestSuite (categories
// 1-7, 9 and 10): raw bytes against /echo, each case with the outcome
// RFC 6455 requires. Every case runs twice: frames written whole, and
// written one byte at a time.

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/internal/wstest"
)

type want struct {
	op      frame.Opcode
	payload []byte
}

type confCase struct {
	id    string
	send  [][]byte
	want  []want          // frames the server must send back, in order
	close frame.CloseCode // the server must close with this code; 0: it must stay open
}

func m(fin bool, op frame.Opcode, p []byte) []byte { return wstest.Masked(fin, op, p) }
func txt(s string) []byte                          { return []byte(s) }

const confMax = 1 << 20 // the suite's server takes messages up to 1 MiB

func conformanceCases() []confCase {
	var cs []confCase
	add := func(id string, c confCase) {
		c.id = id
		cs = append(cs, c)
	}
	// 1: framing — text and binary of every length boundary.
	for _, n := range []int{0, 1, 125, 126, 127, 128, 65535, 65536, 65537} {
		p := bytes.Repeat([]byte("*"), n)
		add(fmt.Sprintf("1.1 text %d bytes", n), confCase{send: [][]byte{m(true, frame.OpText, p)}, want: []want{{frame.OpText, p}}})
		b := bytes.Repeat([]byte{0xFE}, n)
		add(fmt.Sprintf("1.2 binary %d bytes", n), confCase{send: [][]byte{m(true, frame.OpBinary, b)}, want: []want{{frame.OpBinary, b}}})
	}
	// 2: ping/pong.
	add("2.1 empty ping", confCase{send: [][]byte{m(true, frame.OpPing, nil)}, want: []want{{frame.OpPong, []byte{}}}})
	add("2.2 ping text payload", confCase{send: [][]byte{m(true, frame.OpPing, txt("Hello, world!"))}, want: []want{{frame.OpPong, txt("Hello, world!")}}})
	add("2.3 ping binary payload", confCase{send: [][]byte{m(true, frame.OpPing, []byte{0, 0xFF, 0xFE, 0xFD})}, want: []want{{frame.OpPong, []byte{0, 0xFF, 0xFE, 0xFD}}}})
	add("2.4 ping 125 bytes", confCase{send: [][]byte{m(true, frame.OpPing, bytes.Repeat([]byte{0xFE}, 125))}, want: []want{{frame.OpPong, bytes.Repeat([]byte{0xFE}, 125)}}})
	add("2.5 ping 126 bytes", confCase{send: [][]byte{m(true, frame.OpPing, bytes.Repeat([]byte{0xFE}, 126))}, close: 1002})
	add("2.6 unsolicited pong ignored", confCase{send: [][]byte{m(true, frame.OpPong, txt("unsolicited")), m(true, frame.OpText, txt("after"))}, want: []want{{frame.OpText, txt("after")}}})
	add("2.7 unsolicited pong then ping", confCase{send: [][]byte{m(true, frame.OpPong, nil), m(true, frame.OpPing, txt("p"))}, want: []want{{frame.OpPong, txt("p")}}})
	var tenPings [][]byte
	var tenPongs []want
	for i := range 10 {
		p := txt(fmt.Sprintf("payload-%d", i))
		tenPings = append(tenPings, m(true, frame.OpPing, p))
		tenPongs = append(tenPongs, want{frame.OpPong, p})
	}
	add("2.8 ten pings", confCase{send: tenPings, want: tenPongs})
	add("2.9 fragmented ping", confCase{send: [][]byte{m(false, frame.OpPing, txt("a")), m(true, frame.OpContinuation, txt("b"))}, close: 1002})
	// 3: reserved bits.
	for rsv := uint8(1); rsv <= 7; rsv++ {
		add(fmt.Sprintf("3.%d RSV=%03b on text", rsv, rsv), confCase{send: [][]byte{wstest.MaskedRsv(true, rsv, frame.OpText, txt("Hello"))}, close: 1002})
	}
	add("3.8 RSV on ping", confCase{send: [][]byte{wstest.MaskedRsv(true, 4, frame.OpPing, txt("p"))}, close: 1002})
	add("3.9 RSV after a good frame", confCase{send: [][]byte{m(true, frame.OpText, txt("ok")), wstest.MaskedRsv(true, 2, frame.OpText, txt("bad"))}, want: []want{{frame.OpText, txt("ok")}}, close: 1002})
	// 4: opcodes.
	for _, op := range []frame.Opcode{3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF} {
		add(fmt.Sprintf("4 reserved opcode 0x%X", uint8(op)), confCase{send: [][]byte{m(true, op, nil)}, close: 1002})
		add(fmt.Sprintf("4 reserved opcode 0x%X after a good frame", uint8(op)), confCase{send: [][]byte{m(true, frame.OpText, txt("ok")), m(true, op, txt("x"))}, want: []want{{frame.OpText, txt("ok")}}, close: 1002})
	}
	// 5: fragmentation.
	add("5.1 text in two fragments", confCase{send: [][]byte{m(false, frame.OpText, txt("frag")), m(true, frame.OpContinuation, txt("ment"))}, want: []want{{frame.OpText, txt("fragment")}}})
	add("5.2 binary in many fragments", confCase{send: [][]byte{m(false, frame.OpBinary, []byte{1}), m(false, frame.OpContinuation, []byte{2}), m(false, frame.OpContinuation, nil), m(true, frame.OpContinuation, []byte{3})}, want: []want{{frame.OpBinary, []byte{1, 2, 3}}}})
	add("5.3 ping between fragments", confCase{send: [][]byte{m(false, frame.OpText, txt("a")), m(true, frame.OpPing, txt("p")), m(true, frame.OpContinuation, txt("b"))}, want: []want{{frame.OpPong, txt("p")}, {frame.OpText, txt("ab")}}})
	add("5.4 pong between fragments", confCase{send: [][]byte{m(false, frame.OpText, txt("a")), m(true, frame.OpPong, nil), m(true, frame.OpContinuation, txt("b"))}, want: []want{{frame.OpText, txt("ab")}}})
	add("5.5 continuation first", confCase{send: [][]byte{m(true, frame.OpContinuation, txt("x"))}, close: 1002})
	add("5.6 continuation without FIN first", confCase{send: [][]byte{m(false, frame.OpContinuation, txt("x"))}, close: 1002})
	add("5.7 text inside fragmented text", confCase{send: [][]byte{m(false, frame.OpText, txt("a")), m(true, frame.OpText, txt("b"))}, close: 1002})
	add("5.8 binary inside fragmented text", confCase{send: [][]byte{m(false, frame.OpText, txt("a")), m(false, frame.OpBinary, txt("b"))}, close: 1002})
	add("5.9 continuation after a whole message", confCase{send: [][]byte{m(true, frame.OpText, txt("a")), m(true, frame.OpContinuation, txt("b"))}, want: []want{{frame.OpText, txt("a")}}, close: 1002})
	add("5.10 empty fragments", confCase{send: [][]byte{m(false, frame.OpText, nil), m(false, frame.OpContinuation, nil), m(true, frame.OpContinuation, nil)}, want: []want{{frame.OpText, []byte{}}}})
	add("5.11 close between fragments", confCase{send: [][]byte{m(false, frame.OpText, txt("a")), wstest.CloseFrame(1000, "")}, want: []want{{frame.OpClose, []byte{0x03, 0xE8}}}, close: 1000})
	// 6: UTF-8.
	for i, s := range []string{"", "Hello-µ@ßöäüàá-UTF-8!!", "κόσμε", "发送数据", "😀🚀", "\u0080", "\u07ff", "\u0800", "\uffff", "\U00010000", "\U0010ffff", "\xef\xbf\xbd", "\xed\x9f\xbf", "\xee\x80\x80"} {
		add(fmt.Sprintf("6.1.%d valid %q", i, s), confCase{send: [][]byte{m(true, frame.OpText, txt(s))}, want: []want{{frame.OpText, txt(s)}}})
	}
	for i, s := range []string{"\xff", "\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80", "\xed\xbf\xbf", "\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\x80", "\xbf", "κόσμε\xed\xa0\x80edited", "\xce\xba\xe1\xbd", "ab\xe2\x82"} {
		add(fmt.Sprintf("6.2.%d invalid %q", i, s), confCase{send: [][]byte{m(true, frame.OpText, txt(s))}, close: 1007})
	}
	add("6.3 valid split inside a character", confCase{send: [][]byte{m(false, frame.OpText, txt("\xf0\x9f")), m(true, frame.OpContinuation, txt("\x98\x80"))}, want: []want{{frame.OpText, txt("😀")}}})
	add("6.4 fail fast in the first fragment", confCase{send: [][]byte{m(false, frame.OpText, txt("κόσμε\xed\xa0\x80"))}, close: 1007})
	add("6.5 invalid in the last fragment", confCase{send: [][]byte{m(false, frame.OpText, txt("ok")), m(true, frame.OpContinuation, txt("\xc0"))}, close: 1007})
	add("6.6 message ends inside a character", confCase{send: [][]byte{m(false, frame.OpText, txt("a\xe2")), m(true, frame.OpContinuation, txt("\x82"))}, close: 1007})
	add("6.7 binary is not UTF-8 checked", confCase{send: [][]byte{m(true, frame.OpBinary, []byte{0xff, 0xc0})}, want: []want{{frame.OpBinary, []byte{0xff, 0xc0}}}})
	// 7: close handling.
	add("7.1 close without payload", confCase{send: [][]byte{m(true, frame.OpClose, nil)}, want: []want{{frame.OpClose, []byte{}}}, close: frame.CloseNoStatus})
	add("7.2 close then data ignored", confCase{send: [][]byte{wstest.CloseFrame(1000, ""), m(true, frame.OpText, txt("late"))}, want: []want{{frame.OpClose, []byte{0x03, 0xE8}}}, close: 1000})
	add("7.3 close with 1-byte payload", confCase{send: [][]byte{m(true, frame.OpClose, []byte{0x03})}, close: 1002})
	add("7.4 close reason 123 bytes", confCase{send: [][]byte{wstest.CloseFrame(1000, strings.Repeat("r", 123))}, want: []want{{frame.OpClose, []byte{0x03, 0xE8}}}, close: 1000})
	add("7.5 close reason not UTF-8", confCase{send: [][]byte{m(true, frame.OpClose, []byte{0x03, 0xE8, 0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5, 0xed, 0xa0, 0x80})}, close: 1007})
	for _, code := range []frame.CloseCode{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999} {
		add(fmt.Sprintf("7.7 valid close code %d echoed", code), confCase{send: [][]byte{wstest.CloseFrame(code, "bye")}, want: []want{{frame.OpClose, []byte{byte(code >> 8), byte(code)}}}, close: code})
	}
	for _, code := range []uint16{0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535} {
		add(fmt.Sprintf("7.9 invalid close code %d", code), confCase{send: [][]byte{m(true, frame.OpClose, []byte{byte(code >> 8), byte(code)})}, close: 1002})
	}
	// 9: limits.
	big := bytes.Repeat([]byte("x"), confMax)
	add("9.1 text of the size limit", confCase{send: [][]byte{m(true, frame.OpText, big)}, want: []want{{frame.OpText, big}}})
	add("9.2 binary over the size limit", confCase{send: [][]byte{m(true, frame.OpBinary, append(big, 'y'))}, close: 1009})
	var frags [][]byte
	for i := range 64 {
		frags = append(frags, m(i == 63, map[bool]frame.Opcode{true: frame.OpBinary, false: frame.OpContinuation}[i == 0], big[:confMax/64]))
	}
	add("9.3 message of the limit in 64 fragments", confCase{send: frags, want: []want{{frame.OpBinary, big}}})
	add("9.4 fragments passing the limit", confCase{send: append(append([][]byte(nil), frags[:63]...), m(true, frame.OpContinuation, big[:confMax/64+1])), close: 1009})
	// 10: misc — masking rules.
	add("10.1 unmasked text", confCase{send: [][]byte{wstest.Unmasked(true, frame.OpText, txt("Hello"))}, close: 1002})
	add("10.2 unmasked ping", confCase{send: [][]byte{wstest.Unmasked(true, frame.OpPing, nil)}, close: 1002})
	add("10.3 unmasked after good frames", confCase{send: [][]byte{m(true, frame.OpText, txt("a")), wstest.Unmasked(true, frame.OpBinary, txt("b"))}, want: []want{{frame.OpText, txt("a")}}, close: 1002})
	return cs
}

func TestConformance(t *testing.T) {
	s, _ := startEcho(t, func(o *Options) { o.MaxMessage = confMax })
	addr := s.Addr().String()
	for _, tc := range conformanceCases() {
		for _, chunk := range []int{0, 1} {
			if chunk == 1 && len(bytes.Join(tc.send, nil)) > 70000 {
				continue // byte at a time is for the small cases
			}
			name := tc.id
			if chunk == 1 {
				name += " (byte at a time)"
			}
			t.Run(name, func(t *testing.T) { runConformance(t, addr, tc, chunk) })
		}
	}
}

func runConformance(t *testing.T, addr string, tc confCase, chunk int) {
	c, err := wstest.Dial(addr, "/echo", "")
	require.NoError(t, err)
	defer c.Close()
	go sendFrames(c, tc.send, chunk)
	for i, w := range tc.want {
		f, err := c.ReadFrame(10 * time.Second)
		require.NoError(t, err, "frame %d", i)
		require.Equal(t, w.op, f.Header.OpCode, "frame %d opcode", i)
		require.True(t, f.Header.Fin, "frame %d: the server sends whole messages", i)
		require.Equal(t, len(w.payload), len(f.Payload), "frame %d length", i)
		require.True(t, bytes.Equal(w.payload, f.Payload), "frame %d payload", i)
	}
	expectEnd(t, c, tc.close, len(tc.want) > 0 && tc.want[len(tc.want)-1].op == frame.OpClose)
}

// sendFrames writes the frames whole (chunk 0) or one byte at a time.
func sendFrames(c *wstest.Client, frames [][]byte, chunk int) {
	for _, f := range frames {
		if chunk == 0 {
			c.Write(f)
			continue
		}
		for i := range f {
			if _, err := c.Write(f[i : i+1]); err != nil {
				return
			}
		}
	}
}

// expectEnd checks how a case ends and returns the server's close reason:
// with code, the server's Close (unless closeRead: it was the last frame
// wanted) and then the TCP close; with 0, a clean close handshake.
func expectEnd(t *testing.T, c *wstest.Client, code frame.CloseCode, closeRead bool) string {
	t.Helper()
	if code != 0 {
		var reason string
		if !closeRead {
			f, err := c.ReadFrame(10 * time.Second)
			require.NoError(t, err, "expected a close frame with %d", code)
			require.Equal(t, frame.OpClose, f.Header.OpCode, "expected close %d, got %v %q", code, f.Header.OpCode, f.Payload)
			var got frame.CloseCode
			got, reason = f.Close()
			assert.Equal(t, code, got, "close code; reason %q", reason)
			if code >= 1002 && code <= 1009 {
				assert.NotEmpty(t, reason, "a failure says why")
			}
		}
		// The server closes the TCP connection (after our reply, if any).
		c.Write(wstest.CloseFrame(code, ""))
		require.NoError(t, c.ExpectEOF(10*time.Second))
		return reason
	}
	// Still open: a clean close handshake ends it.
	c.Write(wstest.CloseFrame(1000, "done"))
	f, err := c.ReadFrame(10 * time.Second)
	require.NoError(t, err)
	require.Equal(t, frame.OpClose, f.Header.OpCode)
	got, _ := f.Close()
	assert.Equal(t, frame.CloseCode(1000), got)
	require.NoError(t, c.ExpectEOF(10*time.Second))
	return ""
}
