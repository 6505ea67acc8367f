package frame

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	require.NoError(t, err)
	return b
}

// RFC 6455 §5.7 examples, byte for byte.
func TestRFCExamples(t *testing.T) {
	key := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	big256 := bytes.Repeat([]byte{0xAB}, 256)
	big64k := bytes.Repeat([]byte{0xCD}, 65536)
	cases := []struct {
		name    string
		h       Header
		payload []byte
		wire    string // header (and payload, when short)
	}{
		{"unmasked Hello", Header{Fin: true, OpCode: OpText, Length: 5}, []byte("Hello"), "81 05 48 65 6c 6c 6f"},
		{"masked Hello", Header{Fin: true, OpCode: OpText, Length: 5, Masked: true, Mask: key}, []byte("Hello"), "81 85 37 fa 21 3d 7f 9f 4d 51 58"},
		{"fragment Hel", Header{OpCode: OpText, Length: 3}, []byte("Hel"), "01 03 48 65 6c"},
		{"fragment lo", Header{Fin: true, OpCode: OpContinuation, Length: 2}, []byte("lo"), "80 02 6c 6f"},
		{"unmasked ping", Header{Fin: true, OpCode: OpPing, Length: 5}, []byte("Hello"), "89 05 48 65 6c 6c 6f"},
		{"masked pong", Header{Fin: true, OpCode: OpPong, Length: 5, Masked: true, Mask: key}, []byte("Hello"), "8a 85 37 fa 21 3d 7f 9f 4d 51 58"},
		{"256 bytes binary", Header{Fin: true, OpCode: OpBinary, Length: 256}, big256, "82 7E 0100"},
		{"64KiB binary", Header{Fin: true, OpCode: OpBinary, Length: 65536}, big64k, "82 7F 0000000000010000"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want := unhex(t, tc.wire)
			var hb [MaxHeaderSize]byte
			n := tc.h.Encode(hb[:])
			require.Equal(t, tc.h.Size(), n)
			wire := append(hb[:n:n], tc.payload...)
			if tc.h.Masked {
				Mask(tc.h.Mask, 0, wire[n:])
			}
			require.Equal(t, want, wire[:len(want)], "encoded bytes")

			h, hn, err := ParseHeader(wire)
			require.NoError(t, err)
			assert.Equal(t, tc.h, h)
			assert.Equal(t, n, hn)
			got := append([]byte(nil), wire[hn:]...)
			if h.Masked {
				Mask(h.Mask, 0, got)
			}
			assert.Equal(t, tc.payload, got)
		})
	}
}

// The fragmented "Hel"+"lo" example arrives as one text message.
func TestRFCFragmentedMessage(t *testing.T) {
	m := &MessageReader{Reader: Reader{Role: RoleClient}}
	msgs := readAll(t, m, unhex(t, "01 03 48 65 6c 89 00 80 02 6c 6f"), 1)
	require.Len(t, msgs, 2)
	assert.Equal(t, OpPing, msgs[0].OpCode, "a control frame between fragments comes out as it arrives")
	assert.Equal(t, Message{OpCode: OpText, Payload: []byte("Hello")}, msgs[1])
}

// readAll feeds b to m in chunks of the given size and collects copies of
// the messages, failing on any error.
func readAll(t testing.TB, m *MessageReader, b []byte, chunk int) []Message {
	t.Helper()
	msgs, err := readAllErr(m, b, chunk)
	require.NoError(t, err)
	return msgs
}

func readAllErr(m *MessageReader, b []byte, chunk int) ([]Message, error) {
	var out []Message
	for len(b) > 0 {
		in := b[:min(chunk, len(b))]
		b = b[len(in):]
		for len(in) > 0 {
			msg, n, err := m.Next(in)
			in = in[n:]
			if err == ErrNeedMore {
				break
			}
			if err != nil {
				return out, err
			}
			out = append(out, Message{OpCode: msg.OpCode, Payload: append([]byte{}, msg.Payload...), Compressed: msg.Compressed})
		}
	}
	return out, nil
}

// frameBytes builds one frame; masked frames get a fixed key.
func frameBytes(fin bool, op Opcode, masked bool, payload []byte) []byte {
	h := Header{Fin: fin, OpCode: op, Length: int64(len(payload)), Masked: masked, Mask: [4]byte{1, 2, 3, 4}}
	b := AppendHeader(nil, h)
	start := len(b)
	b = append(b, payload...)
	if masked {
		Mask(h.Mask, 0, b[start:])
	}
	return b
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestEveryChunking(t *testing.T) {
	payload := []byte("héllo wörld, 发送数据 😀 " + strings.Repeat("x", 300))
	stream := cat(
		frameBytes(false, OpText, true, payload[:7]), // splits é? no: splits inside 'ö' region below
		frameBytes(true, OpPing, true, []byte("p")),
		frameBytes(false, OpContinuation, true, payload[7:31]),
		frameBytes(true, OpContinuation, true, payload[31:]),
		frameBytes(true, OpBinary, true, bytes.Repeat([]byte{0}, 70000)),
		frameBytes(true, OpText, true, nil),
		frameBytes(true, OpClose, true, append([]byte{0x03, 0xE8}, "bye"...)),
	)
	for _, chunk := range []int{1, 2, 3, 7, 13, 64, 1000, len(stream)} {
		m := &MessageReader{Reader: Reader{Role: RoleServer}}
		msgs := readAll(t, m, append([]byte(nil), stream...), chunk)
		require.Len(t, msgs, 5, "chunk %d", chunk)
		assert.Equal(t, OpPing, msgs[0].OpCode)
		assert.Equal(t, string(payload), string(msgs[1].Payload), "chunk %d", chunk)
		assert.Equal(t, OpText, msgs[1].OpCode)
		assert.Len(t, msgs[2].Payload, 70000)
		assert.Equal(t, Message{OpCode: OpText, Payload: []byte{}}, msgs[3])
		code, reason, err := ParseClose(msgs[4].Payload)
		require.NoError(t, err)
		assert.Equal(t, CloseNormal, code)
		assert.Equal(t, "bye", string(reason))
		assert.True(t, m.Idle())
		m.Release()
		assert.Zero(t, m.Buffered(), "an idle reader holds no buffer")
	}
}

func TestWholeMessageIsNotCopied(t *testing.T) {
	in := frameBytes(true, OpBinary, true, []byte("abcdef"))
	m := &MessageReader{Reader: Reader{Role: RoleServer}}
	msg, n, err := m.Next(in)
	require.NoError(t, err)
	assert.Equal(t, len(in), n)
	assert.Equal(t, "abcdef", string(msg.Payload))
	assert.Same(t, &in[len(in)-6], &msg.Payload[0], "payload points into the input")
}

func TestViolations(t *testing.T) {
	long := bytes.Repeat([]byte("a"), 126)
	cases := []struct {
		name  string
		role  Role
		input []byte
		want  *ProtocolError
		code  CloseCode
	}{
		{"reserved opcode 3", RoleServer, frameBytes(true, 3, true, nil), ErrReservedOpcode, 1002},
		{"reserved opcode 7", RoleServer, frameBytes(true, 7, true, nil), ErrReservedOpcode, 1002},
		{"reserved opcode B", RoleServer, frameBytes(true, 0xB, true, nil), ErrReservedOpcode, 1002},
		{"reserved opcode F", RoleServer, frameBytes(true, 0xF, true, nil), ErrReservedOpcode, 1002},
		{"RSV1", RoleServer, []byte{0xC1, 0x80, 0, 0, 0, 0}, ErrReservedBits, 1002},
		{"RSV2", RoleServer, []byte{0xA1, 0x80, 0, 0, 0, 0}, ErrReservedBits, 1002},
		{"RSV3", RoleServer, []byte{0x91, 0x80, 0, 0, 0, 0}, ErrReservedBits, 1002},
		{"ping of 126 bytes", RoleServer, frameBytes(true, OpPing, true, long), ErrControlTooLong, 1002},
		{"close of 126 bytes", RoleServer, frameBytes(true, OpClose, true, long), ErrControlTooLong, 1002},
		{"fragmented ping", RoleServer, frameBytes(false, OpPing, true, nil), ErrControlFragmented, 1002},
		{"unmasked client frame", RoleServer, frameBytes(true, OpText, false, []byte("x")), ErrUnmaskedClient, 1002},
		{"masked server frame", RoleClient, frameBytes(true, OpText, true, []byte("x")), ErrMaskedServer, 1002},
		{"continuation first", RoleServer, frameBytes(true, OpContinuation, true, []byte("x")), ErrUnexpectedContinue, 1002},
		{"text inside fragmented", RoleServer, cat(frameBytes(false, OpText, true, []byte("a")), frameBytes(true, OpText, true, []byte("b"))), ErrExpectedContinue, 1002},
		{"binary inside fragmented", RoleServer, cat(frameBytes(false, OpBinary, true, []byte("a")), frameBytes(false, OpBinary, true, []byte("b"))), ErrExpectedContinue, 1002},
		{"continuation after end", RoleServer, cat(frameBytes(true, OpText, true, []byte("a")), frameBytes(true, OpContinuation, true, []byte("b"))), ErrUnexpectedContinue, 1002},
		{"64-bit length MSB", RoleClient, unhex(t, "82 7F 8000000000000000"), ErrLength64MSB, 1002},
		{"16-bit length under 126", RoleClient, unhex(t, "82 7E 0005 0102030405"), ErrNonMinimalLength, 1002},
		{"64-bit length under 65536", RoleClient, unhex(t, "82 7F 0000000000000100"), ErrNonMinimalLength, 1002},
		{"close of 1 byte", RoleServer, frameBytes(true, OpClose, true, []byte{3}), ErrCloseOneByte, 1002},
		{"close code 0", RoleServer, frameBytes(true, OpClose, true, []byte{0, 0}), ErrBadCloseCode, 1002},
		{"close code 999", RoleServer, frameBytes(true, OpClose, true, []byte{0x03, 0xE7}), ErrBadCloseCode, 1002},
		{"close code 1004", RoleServer, frameBytes(true, OpClose, true, []byte{0x03, 0xEC}), ErrBadCloseCode, 1002},
		{"close code 1005", RoleServer, frameBytes(true, OpClose, true, []byte{0x03, 0xED}), ErrBadCloseCode, 1002},
		{"close code 1006", RoleServer, frameBytes(true, OpClose, true, []byte{0x03, 0xEE}), ErrBadCloseCode, 1002},
		{"close code 1015", RoleServer, frameBytes(true, OpClose, true, []byte{0x03, 0xF7}), ErrBadCloseCode, 1002},
		{"close code 1016", RoleServer, frameBytes(true, OpClose, true, []byte{0x03, 0xF8}), ErrBadCloseCode, 1002},
		{"close code 2999", RoleServer, frameBytes(true, OpClose, true, []byte{0x0B, 0xB7}), ErrBadCloseCode, 1002},
		{"close code 5000", RoleServer, frameBytes(true, OpClose, true, []byte{0x13, 0x88}), ErrBadCloseCode, 1002},
		{"close code 65535", RoleServer, frameBytes(true, OpClose, true, []byte{0xFF, 0xFF}), ErrBadCloseCode, 1002},
		{"close reason not UTF-8", RoleServer, frameBytes(true, OpClose, true, []byte{0x03, 0xE8, 0xC3, 0x28}), ErrCloseReasonUTF8, 1007},
		{"text not UTF-8", RoleServer, frameBytes(true, OpText, true, []byte{0xCE, 0xBA, 0xE1, 0xBD, 0xB9, 0xCF, 0x83, 0xCE, 0xBC, 0xCE, 0xB5, 0xED, 0xA0, 0x80, 0x65, 0x64, 0x69, 0x74, 0x65, 0x64}), ErrInvalidUTF8, 1007},
		{"text ends mid-rune", RoleServer, frameBytes(true, OpText, true, []byte{'a', 0xE2, 0x82}), ErrInvalidUTF8, 1007},
		{"fragmented text invalid across frames", RoleServer, cat(frameBytes(false, OpText, true, []byte{'a', 0xF4}), frameBytes(true, OpContinuation, true, []byte{0x90, 0x80, 0x80})), ErrInvalidUTF8, 1007},
		{"text over limit", RoleServer, frameBytes(true, OpText, true, bytes.Repeat([]byte("a"), 101)), ErrMessageTooBig, 1009},
		{"fragments over limit", RoleServer, cat(frameBytes(false, OpBinary, true, bytes.Repeat([]byte("a"), 60)), frameBytes(true, OpContinuation, true, bytes.Repeat([]byte("a"), 41))), ErrMessageTooBig, 1009},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, chunk := range []int{1, len(tc.input)} {
				m := &MessageReader{Reader: Reader{Role: tc.role}, Limits: &Limits{MaxMessage: 100}}
				_, err := readAllErr(m, append([]byte(nil), tc.input...), chunk)
				require.Error(t, err, "chunk %d", chunk)
				assert.ErrorIs(t, err, tc.want)
				var pe *ProtocolError
				require.True(t, errors.As(err, &pe))
				assert.Equal(t, tc.code, pe.Code)
				assert.NotEmpty(t, pe.Section)
				assert.LessOrEqual(t, len(pe.CloseReason()), 123)
				assert.Contains(t, err.Error(), "RFC 6455 §")
			}
		})
	}
}

// The limit is enforced when the header announces the size, before the
// payload is read.
func TestLimitCheckedAtHeader(t *testing.T) {
	m := &MessageReader{Reader: Reader{Role: RoleClient}, Limits: &Limits{MaxMessage: 1000}}
	_, _, err := m.Next(unhex(t, "82 7F 0000000100000000"))
	assert.ErrorIs(t, err, ErrMessageTooBig)
	assert.Zero(t, m.Buffered())
}

// Fail fast: an invalid byte is reported as soon as it arrives, not at the
// end of the frame or message.
func TestUTF8FailsFast(t *testing.T) {
	in := frameBytes(false, OpText, true, []byte("hello\xffworld and much more to come"))
	m := &MessageReader{Reader: Reader{Role: RoleServer}}
	hdr := 6
	_, _, err := m.Next(in[:hdr+5])
	require.ErrorIs(t, err, ErrNeedMore)
	_, _, err = m.Next(in[hdr+5 : hdr+6])
	assert.ErrorIs(t, err, ErrInvalidUTF8)
}

func TestUTF8StateMatchesStdlib(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{"a", "é", "发", "😀", "\xff", "\xc0\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82", "\xf0\x9f", "\x80", "\xef\xbf\xbd", "\xf4\x8f\xbf\xbf"}
	for range 20000 {
		var sb strings.Builder
		for range rng.IntN(12) {
			sb.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		s := []byte(sb.String())
		want := utf8.Valid(s)
		// Fed whole and split at every position.
		st, bad := UTF8State(0).Feed(s)
		assert.Equal(t, want, bad < 0 && st.Complete(), "%q", s)
		for cut := range len(s) + 1 {
			st1, bad1 := UTF8State(0).Feed(s[:cut])
			ok := bad1 < 0
			if ok {
				st2, bad2 := st1.Feed(s[cut:])
				ok = bad2 < 0 && st2.Complete()
			}
			require.Equal(t, want, ok, "%q cut at %d", s, cut)
		}
	}
}

func TestMaskMatchesBytewise(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for n := range 300 {
		key := [4]byte{byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32())}
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		want := append([]byte(nil), b...)
		for i := range want {
			want[i] ^= key[i&3]
		}
		// Masked in random pieces, continuing the key offset.
		got := append([]byte(nil), b...)
		pos := 0
		for rest := got; len(rest) > 0; {
			k := min(len(rest), 1+rng.IntN(70))
			pos = Mask(key, pos, rest[:k])
			rest = rest[k:]
		}
		require.Equal(t, string(want), string(got), "n=%d", n)
		// The portable kernel agrees with the SIMD one.
		blocks := n &^ 15
		w := append([]byte(nil), b[:blocks]...)
		maskWords(w, uint32(key[0])|uint32(key[1])<<8|uint32(key[2])<<16|uint32(key[3])<<24)
		require.Equal(t, string(want[:blocks]), string(w))
	}
}

func TestCloseCodes(t *testing.T) {
	for c := range CloseCode(6000) {
		_, _, err := ParseClose([]byte{byte(c >> 8), byte(c)})
		valid := (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) || (c >= 3000 && c <= 4999)
		assert.Equal(t, valid, err == nil, "code %d", c)
	}
	code, reason, err := ParseClose(nil)
	assert.NoError(t, err)
	assert.Equal(t, CloseNoStatus, code)
	assert.Nil(t, reason)
	assert.Equal(t, "Message Too Big", CloseMessageTooBig.Info().Name)
	assert.Equal(t, "1001 (Going Away)", CloseGoingAway.String())
	assert.Equal(t, "Private", CloseCode(4001).Info().Name)

	p := AppendClose(nil, CloseNormal, strings.Repeat("发", 60))
	assert.LessOrEqual(t, len(p), MaxControlPayload)
	_, r, err := ParseClose(p)
	require.NoError(t, err, "a truncated reason stays valid UTF-8")
	assert.Equal(t, strings.Repeat("发", 41), string(r))
}

func TestHeaderEncodeDecodeBoundaries(t *testing.T) {
	for _, l := range []int64{0, 1, 125, 126, 127, 65535, 65536, 1 << 32, 1<<63 - 1} {
		for _, masked := range []bool{false, true} {
			h := Header{Fin: l%2 == 0, Rsv: uint8(l % 8), OpCode: OpBinary, Length: l, Masked: masked}
			if masked {
				h.Mask = [4]byte{9, 8, 7, 6}
			}
			b := AppendHeader(nil, h)
			assert.Len(t, b, h.Size())
			for cut := range len(b) {
				_, n, err := ParseHeader(b[:cut])
				assert.ErrorIs(t, err, ErrNeedMore)
				assert.Zero(t, n)
			}
			got, n, err := ParseHeader(b)
			require.NoError(t, err)
			assert.Equal(t, len(b), n)
			assert.Equal(t, h, got)
		}
	}
}

func TestMessageBuffersComeFromLimits(t *testing.T) {
	pool := &countingBuffers{budget: 1 << 20}
	lim := &Limits{MaxMessage: 1 << 20, Buffers: pool}
	m := &MessageReader{Reader: Reader{Role: RoleServer}, Limits: lim}
	in := cat(frameBytes(false, OpBinary, true, bytes.Repeat([]byte("a"), 5000)), frameBytes(true, OpContinuation, true, bytes.Repeat([]byte("b"), 5000)))
	msgs := readAll(t, m, in, 999)
	require.Len(t, msgs, 1)
	assert.Len(t, msgs[0].Payload, 10000)
	m.Release()
	assert.Zero(t, pool.out, "every buffer is given back")
	assert.Positive(t, pool.gets)

	// A spent budget closes with 1009.
	pool.budget = 100
	m2 := &MessageReader{Reader: Reader{Role: RoleServer}, Limits: lim}
	_, err := readAllErr(m2, in, 999)
	assert.ErrorIs(t, err, ErrMessageTooBig)
	m2.Reset()
	assert.Zero(t, pool.out)
}

type countingBuffers struct {
	budget, out, gets int
}

func (c *countingBuffers) Get(n int) []byte {
	if c.out+n > c.budget {
		return nil
	}
	c.out += n
	c.gets++
	return make([]byte, 0, n)
}

func (c *countingBuffers) Put(b []byte) { c.out -= cap(b) }

// With RSV1 negotiated (permessage-deflate), RSV1 marks a compressed
// message on its first frame only; the message says it is compressed,
// whole or fragmented, and its bytes (DEFLATE, not text) are not checked
// as UTF-8 until inflated.
func TestCompressedMessages(t *testing.T) {
	frame := func(fin bool, rsv uint8, op Opcode, p []byte) []byte {
		b := AppendHeader(nil, Header{Fin: fin, Rsv: rsv, OpCode: op, Length: int64(len(p))})
		return append(b, p...)
	}
	notUTF8 := []byte{0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00} // "Hello" compressed: not UTF-8
	for _, chunk := range []int{1, 3, 1000} {
		m := &MessageReader{Reader: Reader{Role: RoleClient, Rsv: Rsv1}}
		in := append(frame(true, Rsv1, OpText, notUTF8), frame(false, Rsv1, OpBinary, notUTF8[:3])...)
		in = append(in, frame(true, 0, OpPing, nil)...)
		in = append(in, frame(true, 0, OpContinuation, notUTF8[3:])...)
		in = append(in, frame(true, 0, OpText, []byte("plain"))...)
		msgs := readAll(t, m, in, chunk)
		require.Len(t, msgs, 4, "chunk %d", chunk)
		assert.True(t, msgs[0].Compressed)
		assert.Equal(t, notUTF8, msgs[0].Payload)
		assert.Equal(t, OpPing, msgs[1].OpCode, "a control frame between fragments comes as it is")
		assert.False(t, msgs[1].Compressed)
		assert.Equal(t, OpBinary, msgs[2].OpCode)
		assert.True(t, msgs[2].Compressed, "fragmented: the first frame's RSV1 counts")
		assert.Equal(t, notUTF8, msgs[2].Payload)
		assert.False(t, msgs[3].Compressed)
	}
	for name, in := range map[string][]byte{
		"RSV1 on a ping":         frame(true, Rsv1, OpPing, nil),
		"RSV1 on a continuation": append(frame(false, Rsv1, OpText, []byte("a")), frame(true, Rsv1, OpContinuation, []byte("b"))...),
	} {
		m := &MessageReader{Reader: Reader{Role: RoleClient, Rsv: Rsv1}}
		_, err := readAllErr(m, in, 1)
		assert.ErrorIs(t, err, ErrCompressedNotFirst, name)
		var pe *ProtocolError
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, CloseProtocolError, pe.Code)
		assert.Contains(t, err.Error(), "RFC 7692 §6.1")
	}
	m := &MessageReader{Reader: Reader{Role: RoleClient}}
	_, err := readAllErr(m, frame(true, Rsv1, OpText, []byte("x")), 1)
	assert.ErrorIs(t, err, ErrReservedBits, "without negotiation RSV1 is refused")
}
