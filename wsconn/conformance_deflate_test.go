package wsconn

// The conformance suite's permessage-deflate cases (RFC 7692), in the
// style of the Autobahn TestSuite's categories 12 and 13: raw bytes against
// /echo on servers with each deflate policy, each case with the outcome the
// RFC requires, every case written whole and one byte at a time (the
// harness of conformance_test.go).
//
// The client side of every case is independent of package deflate: it
// compresses with the standard library (wstest.Deflate, DeflateDict) and
// inflates what the server sends with the standard library too, keeping
// exactly the window the answer agreed (wstest.InflateDict): a server
// reference further back than its agreed window fails the case.

import (
	"bytes"
	"compress/flate"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/internal/wstest"
	"github.com/wsd-dev/wsd/upgrade"
)

// zwant says how a wanted frame must come: compressed (RSV1), plain, or
// either.
type zwant uint8

const (
	zAny zwant = iota
	zPlain
	zComp
)

type dwant struct {
	op      frame.Opcode
	payload []byte // as inflated
	z       zwant
}

// recvd is a frame the server sent in a case.
type recvd struct {
	op      frame.Opcode
	comp    bool
	wire    []byte // the payload as sent (compressed when comp)
	payload []byte // inflated
}

type dconfCase struct {
	id     string
	srv    string // the server it runs against (deflateConfServers)
	offer  string // extension header lines, CRLF-separated ("" none)
	answer string // the Sec-WebSocket-Extensions answer wanted ("" none)
	send   [][]byte
	want   []dwant
	close  frame.CloseCode
	reason string                        // the close reason must contain it
	check  func(t *testing.T, r []recvd) // more checks on what came back
}

const (
	extHeader   = "Sec-WebSocket-Extensions: "
	chromeOffer = extHeader + "permessage-deflate; client_max_window_bits"
	onAnswer    = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
	// DeflateTakeover's answer (W=10) to Chromium's offer.
	takeoverAnswer = "permessage-deflate; server_max_window_bits=10; client_max_window_bits=10"
	// The small servers' limits: a 1 KB bomb passes the size limit, and
	// the memory budget is exactly what inflating up to the limit may
	// take: never more than the limit at once (deflate.Decompressor
	// counts a large message before it makes its buffer) and the
	// smallest class (4 KiB) for a compressed payload assembled from
	// pieces. Less than that and the close reason is "no memory left"
	// instead of the size limit.
	smallMax    = 64 << 10
	smallBudget = smallMax + 4<<10
)

// deflateConfServers are the servers of the suite by name.
func deflateConfServers() map[string]func(*Options) {
	policy := func(m upgrade.DeflateMode, bits uint8) func(*Options) {
		return func(o *Options) {
			o.MaxMessage = confMax
			o.Deflate = upgrade.DeflatePolicy{Mode: m, WindowBits: bits}
		}
	}
	small := func(m upgrade.DeflateMode) func(*Options) {
		return func(o *Options) {
			o.Deflate = upgrade.DeflatePolicy{Mode: m}
			o.MaxMessage, o.MaxMessageMemory = smallMax, smallBudget
		}
	}
	return map[string]func(*Options){
		"on":         policy(upgrade.DeflateOn, 0),
		"takeover":   policy(upgrade.DeflateTakeover, 0), // W = 10, wsd's default
		"takeover8":  policy(upgrade.DeflateTakeover, 8),
		"takeover15": policy(upgrade.DeflateTakeover, 15),
		"off":        policy(upgrade.DeflateOff, 0),
		"min1000": func(o *Options) {
			policy(upgrade.DeflateOn, 0)(o)
			o.DeflateMinSize = 1000
		},
		"small":         small(upgrade.DeflateOn),
		"smallTakeover": small(upgrade.DeflateTakeover),
	}
}

// agreed is a permessage-deflate answer as the suite's client reads it,
// with its own parser (not package upgrade's).
type agreed struct {
	on               bool
	srvCtx, cliCtx   bool // context takeover per direction
	srvBits, cliBits int  // LZ77 windows (15 when not named)
}

func parseAgreed(answer string) agreed {
	a := agreed{srvCtx: true, cliCtx: true, srvBits: 15, cliBits: 15}
	parts := strings.Split(answer, ";")
	if strings.TrimSpace(parts[0]) != "permessage-deflate" {
		return agreed{}
	}
	a.on = true
	for _, p := range parts[1:] {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		n, _ := strconv.Atoi(strings.Trim(v, `"`))
		switch k {
		case "server_no_context_takeover":
			a.srvCtx = false
		case "client_no_context_takeover":
			a.cliCtx = false
		case "server_max_window_bits":
			a.srvBits = n
		case "client_max_window_bits":
			a.cliBits = n
		}
	}
	return a
}

// zsender compresses a case's client messages as the answer allows: with
// context takeover, primed with exactly the last 2^client_max_window_bits
// bytes it sent compressed (plain messages never enter the window,
// RFC 7692 §6.1).
type zsender struct {
	a   agreed
	win []byte
}

func newZsender(answer string) *zsender { return &zsender{a: parseAgreed(answer)} }

func (z *zsender) deflate(p []byte) []byte {
	if !z.a.cliCtx {
		return wstest.Deflate(p)
	}
	out := wstest.DeflateDict(p, z.win)
	z.win = lastBytes(append(z.win, p...), 1<<z.a.cliBits)
	return out
}

// msg is a whole compressed message.
func (z *zsender) msg(op frame.Opcode, p []byte) []byte {
	return wstest.MaskedRsv(true, frame.Rsv1, op, z.deflate(p))
}

// frags is a compressed message cut into fragments at the given offsets
// of its compressed bytes: RSV1 on the first frame only (§6.1).
func (z *zsender) frags(op frame.Opcode, p []byte, cuts ...int) [][]byte {
	return fragments(op, z.deflate(p), cuts...)
}

func fragments(op frame.Opcode, zb []byte, cuts ...int) [][]byte {
	var out [][]byte
	prev := 0
	for i, cut := range append(cuts, len(zb)) {
		cut = min(cut, len(zb))
		rsv, fop := frame.Rsv1, op
		if i > 0 {
			rsv, fop = 0, frame.OpContinuation
		}
		out = append(out, wstest.MaskedRsv(i == len(cuts), rsv, fop, zb[prev:cut]))
		prev = cut
	}
	return out
}

func lastBytes(b []byte, n int) []byte {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return append([]byte(nil), b...)
}

// zreceiver inflates what the server sends as the answer agreed: with
// server context takeover the dictionary is exactly the last
// 2^server_max_window_bits bytes of the compressed messages before, so a
// reference past the agreed window fails.
type zreceiver struct {
	a   agreed
	win []byte
}

func (z *zreceiver) inflate(p []byte) ([]byte, error) {
	var dict []byte
	if z.a.srvCtx {
		dict = z.win
	}
	out, err := wstest.InflateDict(p, dict)
	if err == nil && z.a.srvCtx {
		z.win = lastBytes(append(z.win, out...), 1<<z.a.srvBits)
	}
	return out, err
}

// textOf is n bytes of compressible UTF-8 text.
func textOf(n int) []byte {
	const pattern = `{"msg":"wsd 数据","n":42} `
	b := []byte(strings.Repeat(pattern, n/len(pattern)+1))[:n]
	for !utf8.Valid(b) {
		b = b[:len(b)-1] // a character cut at the end
	}
	for len(b) < n {
		b = append(b, '.')
	}
	return b
}

// binOf is n bytes of compressible binary.
func binOf(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i%23) * 11
	}
	return b
}

// hexOf is n random hex digits from seed: compressible by Huffman coding
// alone (4 bits a byte), with no repeats for LZ77 to find.
func hexOf(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = "0123456789abcdef"[r.IntN(16)]
	}
	return b
}

// noise is n incompressible bytes.
func noise(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, ^seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// deflateFinal compresses b as one stream ended by a block with BFINAL
// set (RFC 7692 §7.2.3.4 allows it), with nothing removed.
func deflateFinal(b []byte) []byte {
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestSpeed)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

// zFor is how the server sends back a compressible message of n bytes:
// compressed from the minimum size (64) on.
func zFor(n int) zwant {
	if n < DefaultDeflateMinSize {
		return zPlain
	}
	return zComp
}

func deflateConformanceCases(t *testing.T) []dconfCase {
	var cs []dconfCase
	add := func(id string, c dconfCase) {
		c.id = id
		cs = append(cs, c)
	}
	answers := map[string]string{"on": onAnswer, "takeover": takeoverAnswer}
	modes := []string{"on", "takeover"}

	// 12: compressed echo, text and binary of every length boundary, and
	// the minimum size (64): smaller messages come back plain.
	for _, srv := range modes {
		for _, n := range []int{0, 1, 63, 64, 125, 126, 65535, 65536, confMax} {
			for _, op := range []frame.Opcode{frame.OpText, frame.OpBinary} {
				p := textOf(n)
				if op == frame.OpBinary {
					p = binOf(n)
				}
				add(fmt.Sprintf("12.1 %s compressed %v %d bytes", srv, op, n), dconfCase{srv: srv, offer: chromeOffer, answer: answers[srv],
					send: [][]byte{newZsender(answers[srv]).msg(op, p)}, want: []dwant{{op, p, zFor(n)}}})
			}
		}
		for _, n := range []int{0, 63, 64, 4096} {
			p := textOf(n)
			add(fmt.Sprintf("12.2 %s plain text %d bytes comes back as the size says", srv, n), dconfCase{srv: srv, offer: chromeOffer, answer: answers[srv],
				send: [][]byte{m(true, frame.OpText, p)}, want: []dwant{{frame.OpText, p, zFor(n)}}})
		}
		p := noise(300, 1)
		add("12.3 "+srv+" incompressible binary goes plain", dconfCase{srv: srv, offer: chromeOffer, answer: answers[srv],
			send: [][]byte{newZsender(answers[srv]).msg(frame.OpBinary, p)}, want: []dwant{{frame.OpBinary, p, zPlain}}})
	}
	for _, n := range []int{999, 1000} {
		z := zPlain
		if n == 1000 {
			z = zComp
		}
		add(fmt.Sprintf("12.4 -deflate-min-size 1000: %d bytes", n), dconfCase{srv: "min1000", offer: chromeOffer, answer: onAnswer,
			send: [][]byte{newZsender(onAnswer).msg(frame.OpText, textOf(n))}, want: []dwant{{frame.OpText, textOf(n), z}}})
	}
	// RFC 7692 §7.2.3's examples, "Hello" each way it may be encoded.
	hello := []byte("Hello")
	for _, ex := range []struct {
		name string
		z    []byte
	}{
		{"7.2.3.1 one block", []byte{0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}},
		{"7.2.3.3 a stored block", []byte{0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00}},
		{"7.2.3.4 a block with BFINAL", []byte{0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00}},
		{"7.2.3.4 a BFINAL stream with its tail", deflateFinal(hello)},
		{"7.2.3.5 two blocks", []byte{0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00}},
	} {
		for _, srv := range modes {
			add("12.5 RFC "+ex.name+" "+srv, dconfCase{srv: srv, offer: chromeOffer, answer: answers[srv],
				send: [][]byte{wstest.MaskedRsv(true, frame.Rsv1, frame.OpText, ex.z)}, want: []dwant{{frame.OpText, hello, zPlain}}})
		}
	}
	add("12.5 RFC 7692 7.2.3.1 fragmented", dconfCase{srv: "on", offer: chromeOffer, answer: onAnswer,
		send: fragments(frame.OpText, []byte{0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}, 3), want: []dwant{{frame.OpText, hello, zPlain}}})
	add("12.5 RFC 7692 7.2.3.2 the second Hello shares the window", dconfCase{srv: "takeover", offer: chromeOffer, answer: takeoverAnswer,
		send: [][]byte{wstest.MaskedRsv(true, frame.Rsv1, frame.OpText, []byte{0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}),
			wstest.MaskedRsv(true, frame.Rsv1, frame.OpText, []byte{0xf2, 0x00, 0x11, 0x00, 0x00})},
		want: []dwant{{frame.OpText, hello, zPlain}, {frame.OpText, hello, zPlain}}})
	for i, z := range [][]byte{{0x00}, {0x02, 0x00}, wstest.Deflate(nil)} {
		add(fmt.Sprintf("12.6 empty compressed message %d (%x)", i, z), dconfCase{srv: "on", offer: chromeOffer, answer: onAnswer,
			send: [][]byte{wstest.MaskedRsv(true, frame.Rsv1, frame.OpBinary, z)}, want: []dwant{{frame.OpBinary, []byte{}, zPlain}}})
	}

	// 13: negotiation, every parameter and combination, several offers in
	// one header and across headers, bad offers before good ones; each
	// answer then used both ways.
	cs = append(cs, deflateOfferCases()...)

	// 14: fragmented compressed messages (RSV1 on the first frame only)
	// and control frames between their fragments.
	for _, srv := range modes {
		a := answers[srv]
		zs := func() *zsender { return newZsender(a) }
		c := func(id string, send [][]byte, want []dwant, code frame.CloseCode) {
			add("14 "+srv+" "+id, dconfCase{srv: srv, offer: chromeOffer, answer: a, send: send, want: want, close: code})
		}
		t1k := textOf(1000)
		c("text in two fragments", zs().frags(frame.OpText, t1k, 20), []dwant{{frame.OpText, t1k, zComp}}, 0)
		z := wstest.Deflate(t1k)
		var every7 []int
		for i := 7; i < len(z); i += 7 {
			every7 = append(every7, i)
		}
		c("text in fragments of 7 bytes", fragments(frame.OpText, z, every7...), []dwant{{frame.OpText, t1k, zComp}}, 0)
		c("empty first fragment", fragments(frame.OpText, z, 0), []dwant{{frame.OpText, t1k, zComp}}, 0)
		c("empty last fragment", fragments(frame.OpText, z, 10, len(z)), []dwant{{frame.OpText, t1k, zComp}}, 0)
		b := binOf(5000)
		c("binary in three fragments", zs().frags(frame.OpBinary, b, 5, 9), []dwant{{frame.OpBinary, b, zComp}}, 0)
		f := fragments(frame.OpText, z, 10, 20)
		c("ping between fragments", [][]byte{f[0], m(true, frame.OpPing, txt("p1")), f[1], m(true, frame.OpPing, txt("p2")), f[2]},
			[]dwant{{frame.OpPong, txt("p1"), zPlain}, {frame.OpPong, txt("p2"), zPlain}, {frame.OpText, t1k, zComp}}, 0)
		c("pong between fragments", [][]byte{f[0], m(true, frame.OpPong, nil), f[1], f[2]}, []dwant{{frame.OpText, t1k, zComp}}, 0)
		c("close between fragments", [][]byte{f[0], wstest.CloseFrame(1000, "")}, []dwant{{frame.OpClose, []byte{0x03, 0xE8}, zPlain}}, 1000)
		s := zs()
		c("fragmented, whole, plain, fragmented", append(append(s.frags(frame.OpText, t1k, 30), s.msg(frame.OpBinary, b), m(true, frame.OpText, txt("plain"))), s.frags(frame.OpText, t1k, 3)...),
			[]dwant{{frame.OpText, t1k, zComp}, {frame.OpBinary, b, zComp}, {frame.OpText, txt("plain"), zPlain}, {frame.OpText, t1k, zComp}}, 0)
		p := m(false, frame.OpText, t1k[:500])
		c("plain fragments come back compressed", [][]byte{p, m(true, frame.OpContinuation, t1k[500:])}, []dwant{{frame.OpText, t1k, zComp}}, 0)
		big := textOf(65536)
		zb := wstest.Deflate(big)
		var cuts []int
		for i := 1; i < 16; i++ {
			cuts = append(cuts, i*len(zb)/16)
		}
		c("64 KiB in 16 fragments", fragments(frame.OpBinary, zb, cuts...), []dwant{{frame.OpBinary, big, zComp}}, 0)
	}

	// 15: several messages in a row with context takeover both ways: the
	// server's messages inflate only with its window, ours only with ours;
	// messages sent plain enter no window.
	for _, sv := range []struct{ srv, offer, answer string }{
		{"takeover", chromeOffer, takeoverAnswer},
		{"takeover", extHeader + "permessage-deflate; client_max_window_bits=9", "permessage-deflate; server_max_window_bits=10; client_max_window_bits=9"},
		{"takeover8", chromeOffer, "permessage-deflate; server_max_window_bits=8; client_max_window_bits=9"},
		{"takeover15", chromeOffer, "permessage-deflate; server_max_window_bits=15; client_max_window_bits=15"},
		{"on", chromeOffer, onAnswer},
	} {
		zs := newZsender(sv.answer)
		var send [][]byte
		var want []dwant
		note := func(i int) []byte {
			return []byte(fmt.Sprintf(`{"type":"message","seq":%d,"unread":%d,"data":{"type":"order","id":%d,"item":"WebSocket T-shirt","qty":1,"note":"gift wrap, gift wrap, gift wrap please"}}`, i, i%4, 100+i))
		}
		for i := range 14 {
			var p []byte
			op, plain := frame.OpText, false
			switch i % 7 {
			case 0, 1:
				p = note(i)
			case 2:
				p = note(i - 2) // the same again: references into the window
			case 3:
				p, plain = note(i), true // sent plain: enters no window
			case 4:
				p = []byte("ok") // under the minimum size: comes back plain
			case 5:
				p, op = binOf(3000), frame.OpBinary // longer than the small windows
			case 6:
				p = note(i - 6)
			}
			if plain {
				send = append(send, m(true, op, p))
			} else {
				send = append(send, zs.msg(op, p))
			}
			want = append(want, dwant{op, p, zFor(len(p))})
		}
		a := parseAgreed(sv.answer)
		// 1100 random bytes twice: compressible only with a window past
		// 1100 bytes (else it goes plain and enters no window); then its
		// last 500 bytes again, compressible only from the server's
		// context, which holds them only if the message before went
		// compressed.
		block := noise(1100, 5)
		twice := append(append([]byte(nil), block...), block...)
		tail := append(append([]byte(nil), block[600:]...), 'x')
		zTwice, zTail := zPlain, zPlain
		if a.srvBits > 10 {
			zTwice = zComp
			if a.srvCtx {
				zTail = zComp
			}
		}
		send = append(send, zs.msg(frame.OpBinary, twice), zs.msg(frame.OpBinary, tail))
		want = append(want, dwant{frame.OpBinary, twice, zTwice}, dwant{frame.OpBinary, tail, zTail})
		add("15 "+sv.srv+" 16 messages in a row, "+sv.answer, dconfCase{srv: sv.srv, offer: sv.offer, answer: sv.answer, send: send, want: want,
			check: func(t *testing.T, r []recvd) {
				// Message 2 repeats message 0: with the server's context it
				// is a few bytes, without it the same bytes again.
				if a.srvCtx {
					assert.Less(t, len(r[2].wire), len(r[0].wire)/3, "a repeat costs little with context takeover")
				} else {
					assert.Equal(t, r[0].wire, r[2].wire, "no context: the same message compresses the same")
				}
			}})
	}

	// 16: violations. RSV1 where it may not be: 1002.
	on := newZsender(onAnswer)
	hz := wstest.Deflate(hello)
	v := func(id, srv, offer, answer string, send [][]byte, want []dwant, code frame.CloseCode, reason string) {
		add("16 "+id, dconfCase{srv: srv, offer: offer, answer: answer, send: send, want: want, close: code, reason: reason})
	}
	for _, op := range []frame.Opcode{frame.OpPing, frame.OpPong} {
		v("RSV1 on a "+op.String(), "on", chromeOffer, onAnswer, [][]byte{wstest.MaskedRsv(true, frame.Rsv1, op, txt("x"))}, nil, 1002, "RSV1")
	}
	v("RSV1 on a close", "on", chromeOffer, onAnswer, [][]byte{wstest.MaskedRsv(true, frame.Rsv1, frame.OpClose, []byte{0x03, 0xE8})}, nil, 1002, "RSV1")
	fz := fragments(frame.OpText, hz, 2)
	v("RSV1 on a continuation of a compressed message", "on", chromeOffer, onAnswer,
		[][]byte{fz[0], wstest.MaskedRsv(true, frame.Rsv1, frame.OpContinuation, hz[2:])}, nil, 1002, "RSV1")
	v("RSV1 on a continuation of a plain message", "on", chromeOffer, onAnswer,
		[][]byte{m(false, frame.OpText, txt("He")), wstest.MaskedRsv(true, frame.Rsv1, frame.OpContinuation, txt("llo"))}, nil, 1002, "RSV1")
	v("RSV1 on a ping between fragments", "on", chromeOffer, onAnswer,
		[][]byte{fz[0], wstest.MaskedRsv(true, frame.Rsv1, frame.OpPing, nil), fz[1]}, nil, 1002, "RSV1")
	v("RSV1 with deflate off", "off", chromeOffer, "", [][]byte{wstest.MaskedRsv(true, frame.Rsv1, frame.OpText, hz)}, nil, 1002, "")
	v("RSV1 without an offer", "on", "", "", [][]byte{wstest.MaskedRsv(true, frame.Rsv1, frame.OpText, hz)}, nil, 1002, "")
	v("RSV1 after a declined offer", "on", extHeader+"permessage-deflate; server_max_window_bits=16", "", [][]byte{wstest.MaskedRsv(true, frame.Rsv1, frame.OpText, hz)}, nil, 1002, "")
	v("RSV1 after a good message", "on", "", "", [][]byte{m(true, frame.OpText, hello), wstest.MaskedRsv(true, frame.Rsv1, frame.OpText, hz)}, []dwant{{frame.OpText, hello, zPlain}}, 1002, "")
	for _, rsv := range []uint8{frame.Rsv1 | 2, frame.Rsv1 | 1, 2, 1} {
		v(fmt.Sprintf("RSV=%03b with deflate on", rsv), "on", chromeOffer, onAnswer, [][]byte{wstest.MaskedRsv(true, rsv, frame.OpText, hz)}, nil, 1002, "")
	}
	// Data that does not inflate: 1007.
	t1k := textOf(1000)
	withFinal := deflateFinal(hello)
	for _, bad := range []struct {
		name string
		z    []byte
	}{
		{"a reserved block type", []byte{0x06, 0x00}},
		{"bad bytes", []byte{0xff, 0xfe, 0xfd, 0x00}},
		{"a stored block with a wrong NLEN", []byte{0x00, 0x05, 0x00, 0x00, 0x00, 'H', 'e', 'l', 'l', 'o'}},
		{"a stream cut inside a block", wstest.Deflate(t1k)[:30]},
		{"bytes after the final block", append(withFinal[:len(withFinal):len(withFinal)], 'x', 'y')},
		{"a reference before the start", []byte{0xf2, 0x00, 0x11, 0x00, 0x00}},
	} {
		for _, srv := range modes {
			v("does not inflate: "+bad.name+" "+srv, srv, chromeOffer, answers[srv], [][]byte{wstest.MaskedRsv(true, frame.Rsv1, frame.OpBinary, bad.z)}, nil, 1007, "does not inflate")
		}
	}
	v("does not inflate: fragmented", "on", chromeOffer, onAnswer, fragments(frame.OpBinary, []byte{0xff, 0xfe, 0xfd, 0x00}, 1, 2), nil, 1007, "does not inflate")
	v("context used after client_no_context_takeover", "on", chromeOffer, onAnswer,
		[][]byte{wstest.MaskedRsv(true, frame.Rsv1, frame.OpText, []byte{0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}),
			wstest.MaskedRsv(true, frame.Rsv1, frame.OpText, []byte{0xf2, 0x00, 0x11, 0x00, 0x00})},
		[]dwant{{frame.OpText, hello, zPlain}}, 1007, "does not inflate")
	// A reference 2000 bytes back, past client_max_window_bits=10: the
	// server kept only the last 1024 bytes.
	first := noise(2000, 3)
	second := append(append([]byte(nil), first[:200]...), "tail"...)
	far := wstest.DeflateDict(second, first)
	if got, err := wstest.InflateDict(far, first); err != nil || !bytes.Equal(got, second) {
		t.Fatalf("the far reference does not inflate with the whole history: %v", err)
	}
	if _, err := wstest.InflateDict(far, first[len(first)-1024:]); err == nil {
		t.Fatal("the far reference inflates with the last 1024 bytes: not far")
	}
	v("a reference past client_max_window_bits", "takeover", chromeOffer, takeoverAnswer,
		[][]byte{wstest.MaskedRsv(true, frame.Rsv1, frame.OpBinary, wstest.Deflate(first)), wstest.MaskedRsv(true, frame.Rsv1, frame.OpBinary, far)},
		[]dwant{{frame.OpBinary, first, zPlain}}, 1007, "does not inflate")
	// UTF-8 is checked after inflating: 1007.
	for i, s := range []string{"\xff\xfe", "\xc0\xaf", "\xed\xa0\x80", "ab\xe2\x82", "κόσμε\xed\xa0\x80edited"} {
		for _, srv := range modes {
			v(fmt.Sprintf("inflates to bad UTF-8 %d %s", i, srv), srv, chromeOffer, answers[srv], [][]byte{on.msg(frame.OpText, txt(s))}, nil, 1007, "UTF-8")
		}
	}
	bad := append(textOf(500), 0xff)
	v("fragmented, inflates to bad UTF-8", "on", chromeOffer, onAnswer, on.frags(frame.OpText, bad, 10, 20), nil, 1007, "UTF-8")
	v("inflates to bad UTF-8 after a good message", "on", chromeOffer, onAnswer, [][]byte{on.msg(frame.OpText, t1k), on.msg(frame.OpText, bad)},
		[]dwant{{frame.OpText, t1k, zComp}}, 1007, "UTF-8")
	add("16 binary is not UTF-8 checked after inflating", dconfCase{srv: "on", offer: chromeOffer, answer: onAnswer,
		send: [][]byte{on.msg(frame.OpBinary, bad)}, want: []dwant{{frame.OpBinary, bad, zComp}}})

	// 17: limits. A 1 KB bomb inflating past the size limit: 1009, with
	// the memory budget never passed (smallBudget: the close reason is
	// the size limit, not "no memory left").
	bomb := deflateBombLevel9(1 << 20)
	require.Less(t, len(bomb), 1100, "a 1 KB bomb")
	tooBig := fmt.Sprintf("more than %d bytes inflated", smallMax)
	for _, srv := range []string{"small", "smallTakeover"} {
		a := onAnswer
		if srv == "smallTakeover" {
			a = takeoverAnswer
		}
		lim := func(id string, send [][]byte, want []dwant, code frame.CloseCode, reason string) {
			add("17 "+srv+" "+id, dconfCase{srv: srv, offer: chromeOffer, answer: a, send: send, want: want, close: code, reason: reason})
		}
		lim(fmt.Sprintf("a %d-byte bomb", len(bomb)), [][]byte{wstest.MaskedRsv(true, frame.Rsv1, frame.OpBinary, bomb)}, nil, 1009, tooBig)
		lim("a bomb as text", [][]byte{wstest.MaskedRsv(true, frame.Rsv1, frame.OpText, bomb)}, nil, 1009, tooBig)
		lim("a bomb in four fragments", fragments(frame.OpBinary, bomb, 100, 400, 900), nil, 1009, tooBig)
		zeros := make([]byte, smallMax)
		lim("inflates to the limit exactly", [][]byte{wstest.MaskedRsv(true, frame.Rsv1, frame.OpBinary, deflateBombLevel9(smallMax))}, []dwant{{frame.OpBinary, zeros, zComp}}, 0, "")
		lim("inflates to one byte over the limit", [][]byte{wstest.MaskedRsv(true, frame.Rsv1, frame.OpBinary, deflateBombLevel9(smallMax+1))}, nil, 1009, tooBig)
		lim("a bomb after a good message", [][]byte{wstest.MaskedRsv(true, frame.Rsv1, frame.OpText, wstest.Deflate(t1k)), wstest.MaskedRsv(true, frame.Rsv1, frame.OpBinary, bomb)},
			[]dwant{{frame.OpText, t1k, zComp}}, 1009, tooBig)
		lim("a compressed payload over the limit", [][]byte{wstest.MaskedRsv(true, frame.Rsv1, frame.OpBinary, wstest.Deflate(noise(smallMax+10, 4)))}, nil, 1009, "")
	}
	add("17 on a 16 KB bomb of 16 MiB", dconfCase{srv: "on", offer: chromeOffer, answer: onAnswer,
		send: [][]byte{wstest.MaskedRsv(true, frame.Rsv1, frame.OpBinary, deflateBombLevel9(16<<20))}, close: 1009, reason: fmt.Sprintf("more than %d bytes inflated", confMax)})
	return cs
}

// deflateBombLevel9 is n zero bytes at the standard library's best
// compression: 1 MiB in about 1 KB.
func deflateBombLevel9(n int) []byte {
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestCompression)
	w.Write(make([]byte, n))
	w.Flush()
	return bytes.TrimSuffix(buf.Bytes(), []byte{0, 0, 0xff, 0xff})
}

// offerCase is an offer and the answer of DeflateOn and of
// DeflateTakeover (W=10) to it ("" declined).
type offerCase struct {
	name, header string
	on, takeover string
}

func deflateOffers() []offerCase {
	const pmd = "permessage-deflate"
	h := func(lines ...string) string {
		for i := range lines {
			lines[i] = extHeader + lines[i]
		}
		return strings.Join(lines, "\r\n")
	}
	return []offerCase{
		{"no parameters (Firefox)", h(pmd), onAnswer, pmd + "; client_no_context_takeover; server_max_window_bits=10"},
		{"client_max_window_bits (Chromium, ws, websockets)", h(pmd + "; client_max_window_bits"), onAnswer, takeoverAnswer},
		{"server_no_context_takeover", h(pmd + "; server_no_context_takeover"), onAnswer, pmd + "; server_no_context_takeover; client_no_context_takeover"},
		{"client_no_context_takeover", h(pmd + "; client_no_context_takeover"), onAnswer, pmd + "; client_no_context_takeover; server_max_window_bits=10"},
		{"both no_context_takeover", h(pmd + "; server_no_context_takeover; client_no_context_takeover"), onAnswer, pmd + "; server_no_context_takeover; client_no_context_takeover"},
		{"server_max_window_bits=15", h(pmd + "; server_max_window_bits=15"), onAnswer + "; server_max_window_bits=15", pmd + "; client_no_context_takeover; server_max_window_bits=10"},
		{"server_max_window_bits=12", h(pmd + "; server_max_window_bits=12"), onAnswer + "; server_max_window_bits=12", pmd + "; client_no_context_takeover; server_max_window_bits=10"},
		{"server_max_window_bits=9", h(pmd + "; server_max_window_bits=9"), onAnswer + "; server_max_window_bits=9", pmd + "; client_no_context_takeover; server_max_window_bits=9"},
		{"server_max_window_bits=8", h(pmd + "; server_max_window_bits=8"), onAnswer + "; server_max_window_bits=8", pmd + "; client_no_context_takeover; server_max_window_bits=8"},
		{"client_max_window_bits=15", h(pmd + "; client_max_window_bits=15"), onAnswer, takeoverAnswer},
		{"client_max_window_bits=9", h(pmd + "; client_max_window_bits=9"), onAnswer, pmd + "; server_max_window_bits=10; client_max_window_bits=9"},
		{"client_max_window_bits=8", h(pmd + "; client_max_window_bits=8"), onAnswer, pmd + "; server_max_window_bits=10; client_max_window_bits=8"},
		{`client_max_window_bits="11" (quoted)`, h(pmd + `; client_max_window_bits="11"`), onAnswer, takeoverAnswer},
		{"both window bits", h(pmd + "; server_max_window_bits=9; client_max_window_bits=9"), onAnswer + "; server_max_window_bits=9", pmd + "; server_max_window_bits=9; client_max_window_bits=9"},
		{"every parameter", h(pmd + "; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9; client_max_window_bits=9"),
			onAnswer + "; server_max_window_bits=9", pmd + "; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9"},
		{"server_no_context_takeover with client_max_window_bits", h(pmd + "; server_no_context_takeover; client_max_window_bits"),
			onAnswer, pmd + "; server_no_context_takeover; client_max_window_bits=10"},
		{"client_no_context_takeover with client_max_window_bits=12", h(pmd + "; client_no_context_takeover; client_max_window_bits=12"),
			onAnswer, pmd + "; client_no_context_takeover; server_max_window_bits=10"},
		// Declined offers: no extension, the connection goes on plain.
		{"server_max_window_bits without a value", h(pmd + "; server_max_window_bits"), "", ""},
		{"server_max_window_bits=16", h(pmd + "; server_max_window_bits=16"), "", ""},
		{"server_max_window_bits=7", h(pmd + "; server_max_window_bits=7"), "", ""},
		{"client_max_window_bits=08", h(pmd + "; client_max_window_bits=08"), "", ""},
		{"a value on server_no_context_takeover", h(pmd + "; server_no_context_takeover=1"), "", ""},
		{"a repeated parameter", h(pmd + "; client_no_context_takeover; client_no_context_takeover"), "", ""},
		{"an unknown parameter", h(pmd + "; mux"), "", ""},
		{"another extension only", h("x-webkit-deflate-frame"), "", ""},
		// Several offers: the first acceptable one, in one header or across.
		{"a bad offer then a good one", h(pmd + "; server_max_window_bits=7, " + pmd + "; client_max_window_bits"), onAnswer, takeoverAnswer},
		{"two good offers: the first", h(pmd + "; server_no_context_takeover, " + pmd + "; client_max_window_bits"), onAnswer, pmd + "; server_no_context_takeover; client_no_context_takeover"},
		{"another extension, then ours", h(`x-foo; bar="a,b", ` + pmd + "; client_max_window_bits"), onAnswer, takeoverAnswer},
		{"three offers, two bad", h(pmd + "; foo, " + pmd + "; client_max_window_bits=16, " + pmd + "; server_max_window_bits=11"), onAnswer + "; server_max_window_bits=11", pmd + "; client_no_context_takeover; server_max_window_bits=10"},
		{"across headers, a bad one first", h(pmd+"; bogus=1", pmd+"; client_max_window_bits=11"), onAnswer, takeoverAnswer},
		{"across headers, the first good", h(pmd+"; server_max_window_bits=11", pmd), onAnswer + "; server_max_window_bits=11", pmd + "; client_no_context_takeover; server_max_window_bits=10"},
		{"across headers, another extension first", h("x-webkit-deflate-frame", pmd+"; client_max_window_bits"), onAnswer, takeoverAnswer},
		{"across headers, all bad", h(pmd+"; server_max_window_bits", pmd+"; client_max_window_bits=0"), "", ""},
	}
}

// deflateOfferCases runs each offer against DeflateOn and DeflateTakeover
// and uses the answer: a message, the same again (the server's context
// shows in its size), one that references the first (our context, if
// agreed), a short one, and 300 random bytes 4 times: with
// server_max_window_bits=8 the server cannot reach the block before and
// it comes plain; with a wider window it compresses to about a quarter.
func deflateOfferCases() []dconfCase {
	var cs []dconfCase
	for _, o := range deflateOffers() {
		for _, srv := range []string{"on", "takeover"} {
			answer := o.on
			if srv == "takeover" {
				answer = o.takeover
			}
			m1 := textOf(300)
			m2 := append(append([]byte(nil), m1[:250]...), " and more"...)
			blocks := bytes.Repeat(noise(300, 9), 4)
			msgs := []struct {
				op frame.Opcode
				p  []byte
			}{{frame.OpText, m1}, {frame.OpText, m1}, {frame.OpText, m2}, {frame.OpText, txt("hi")}, {frame.OpBinary, blocks}}
			zs := newZsender(answer)
			var send [][]byte
			var want []dwant
			a := parseAgreed(answer)
			for i, msg := range msgs {
				z := zFor(len(msg.p))
				if i == 4 && a.srvBits == 8 {
					z = zPlain // nothing within 2^8 bytes repeats
				}
				if answer == "" {
					send = append(send, m(true, msg.op, msg.p))
					z = zPlain
				} else {
					send = append(send, zs.msg(msg.op, msg.p))
				}
				want = append(want, dwant{msg.op, msg.p, z})
			}
			cs = append(cs, dconfCase{id: "13 " + srv + " offer " + o.name, srv: srv, offer: o.header, answer: answer, send: send, want: want,
				check: func(t *testing.T, r []recvd) {
					if !a.on {
						return
					}
					if a.srvCtx {
						assert.Less(t, len(r[1].wire), len(r[0].wire)/3, "the repeat, with the server's context")
					} else {
						assert.Equal(t, r[0].wire, r[1].wire, "the repeat, without context: the same bytes")
					}
					if a.srvBits > 8 {
						assert.Less(t, len(r[4].wire), len(blocks)/3, "a window of 2^%d reaches the block before", a.srvBits)
					}
				}})
		}
	}
	return cs
}

func TestDeflateConformance(t *testing.T) {
	servers := map[string]*Server{}
	for name, mod := range deflateConfServers() {
		servers[name], _ = startEcho(t, mod)
	}
	for _, tc := range deflateConformanceCases(t) {
		s := servers[tc.srv]
		require.NotNil(t, s, "case %s: no server %q", tc.id, tc.srv)
		for _, chunk := range []int{0, 1} {
			if chunk == 1 && len(bytes.Join(tc.send, nil)) > 70000 {
				continue // byte at a time is for the small cases
			}
			name := tc.id
			if chunk == 1 {
				name += " (byte at a time)"
			}
			t.Run(name, func(t *testing.T) { runDeflateConformance(t, s, tc, chunk) })
		}
	}
}

func runDeflateConformance(t *testing.T, s *Server, tc dconfCase, chunk int) {
	c, err := wstest.Dial(s.Addr().String(), "/echo", tc.offer)
	require.NoError(t, err)
	defer c.Close()
	require.Equal(t, tc.answer, c.Extension, "the answer to %q", tc.offer)
	rx := &zreceiver{a: parseAgreed(tc.answer)}
	go sendFrames(c, tc.send, chunk)
	var got []recvd
	for i, w := range tc.want {
		f, err := c.ReadFrame(10 * time.Second)
		require.NoError(t, err, "frame %d", i)
		require.Equal(t, w.op, f.Header.OpCode, "frame %d opcode", i)
		require.True(t, f.Header.Fin, "frame %d: the server sends whole messages", i)
		r := recvd{op: f.Header.OpCode, comp: f.Header.Rsv&frame.Rsv1 != 0, wire: f.Payload, payload: f.Payload}
		switch w.z {
		case zPlain:
			require.False(t, r.comp, "frame %d (%d bytes) must come plain", i, len(w.payload))
		case zComp:
			require.True(t, r.comp, "frame %d (%d bytes) must come compressed", i, len(w.payload))
		}
		if r.comp {
			r.payload, err = rx.inflate(f.Payload)
			require.NoError(t, err, "frame %d does not inflate with the agreed window", i)
		}
		require.Equal(t, len(w.payload), len(r.payload), "frame %d length", i)
		require.True(t, bytes.Equal(w.payload, r.payload), "frame %d payload", i)
		got = append(got, r)
	}
	if tc.check != nil {
		tc.check(t, got)
	}
	reason := expectEnd(t, c, tc.close, len(tc.want) > 0 && tc.want[len(tc.want)-1].op == frame.OpClose)
	if tc.reason != "" {
		assert.Contains(t, reason, tc.reason)
	}
	eventually(t, 5*time.Second, func() bool { return s.Stats().MessageMemory == 0 }, "message memory not given back: %d", s.Stats().MessageMemory)
}
