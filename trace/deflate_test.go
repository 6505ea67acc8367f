package trace

import (
	"bytes"
	"compress/flate"
	"encoding/hex"
	"encoding/json"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsd-dev/wsd/deflate"
	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/internal/wstest"
	"github.com/wsd-dev/wsd/upgrade"
)

// deflateHeads returns a request offering offer and a 101 answering
// answer (either "" for none).
func deflateHeads(offer, answer string) (req, resp []byte) {
	r := "GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n"
	if offer != "" {
		r += "Sec-WebSocket-Extensions: " + offer + "\r\n"
	}
	return []byte(r + "\r\n"), upgrade.AppendResponseExt(nil, []byte(key), "", []byte(answer))
}

// session is the heads, then frames each way in the order given.
func session(offer, answer string, frames ...segment) []segment {
	req, resp := deflateHeads(offer, answer)
	return append([]segment{{ClientToServer, req}, {ServerToClient, resp}}, frames...)
}

func c2s(b []byte) segment { return segment{ClientToServer, b} }
func s2c(b []byte) segment { return segment{ServerToClient, b} }

// bothWays traces the segments fed whole and a byte at a time, checks the
// two dumps are the same, and returns it.
func bothWays(t *testing.T, opt Options, segs []segment) string {
	t.Helper()
	whole, _ := traceRun(opt, segs, func() int { return 1 << 30 })
	bytewise, _ := traceRun(opt, segs, func() int { return 1 })
	require.Equal(t, whole, bytewise, "fed a byte at a time, the dump differs:\n%s", firstDifference(whole, bytewise))
	return whole
}

// traceJSON is bothWays in JSON, decoded; and the human dump.
func traceBoth(t *testing.T, opt Options, segs []segment) (evs []map[string]any, human string) {
	t.Helper()
	opt.JSON = true
	out := bothWays(t, opt, segs)
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m), l)
		evs = append(evs, m)
	}
	opt.JSON = false
	return evs, bothWays(t, opt, segs)
}

func framesOf(evs []map[string]any, dir string) []map[string]any {
	var out []map[string]any
	for _, e := range ofKind(evs, "frame") {
		if e["dir"] == dir {
			out = append(out, e)
		}
	}
	return out
}

func sections(e map[string]any) []string {
	var out []string
	vs, _ := e["violations"].([]any)
	for _, v := range vs {
		out = append(out, v.(map[string]any)["section"].(string))
	}
	return out
}

// contextDeflater compresses messages as one DEFLATE stream with the
// standard library (a 2^15 window, context kept from message to message,
// independent of package deflate): each message ends with a sync flush
// whose 00 00 ff ff is removed (RFC 7692 §7.2.1).
type contextDeflater struct {
	buf bytes.Buffer
	w   *flate.Writer
}

func newContextDeflater() *contextDeflater {
	d := &contextDeflater{}
	d.w, _ = flate.NewWriter(&d.buf, flate.BestCompression)
	return d
}

func (d *contextDeflater) msg(b []byte) []byte {
	d.buf.Reset()
	d.w.Write(b)
	d.w.Flush()
	return bytes.TrimSuffix(append([]byte(nil), d.buf.Bytes()...), []byte{0, 0, 0xff, 0xff})
}

const offerNoValue = "permessage-deflate; client_max_window_bits"

// The handshake shows the offers, the answer checked against them, each
// of the four parameters offered and answered, what the server added, and
// what each direction applies.
func TestDeflateNegotiationShown(t *testing.T) {
	for _, tc := range []struct {
		name, offer, answer string
		accepted            float64
		added               []any
		c2s, s2c            map[string]any // context_takeover, window_bits
		violation           string         // a section, or ""
		human               []string
	}{
		{"on", offerNoValue, "permessage-deflate; server_no_context_takeover; client_no_context_takeover", 1,
			[]any{"server_no_context_takeover", "client_no_context_takeover"},
			map[string]any{"context_takeover": false, "window_bits": 15.0}, map[string]any{"context_takeover": false, "window_bits": 15.0}, "",
			[]string{"offer 1  permessage-deflate; client_max_window_bits  ← accepted",
				"server_no_context_takeover   -          yes        the server compresses each message afresh (added by the server, RFC 7692 §7.1.1.1)",
				"client_max_window_bits       no value   -          the client may look back 2^15 bytes",
				"the server added: server_no_context_takeover, client_no_context_takeover",
				"client→server: no context takeover"}},
		{"takeover", offerNoValue, "permessage-deflate; server_max_window_bits=10; client_max_window_bits=10", 1,
			[]any{"server_max_window_bits"},
			map[string]any{"context_takeover": true, "window_bits": 10.0}, map[string]any{"context_takeover": true, "window_bits": 10.0}, "",
			[]string{"server_max_window_bits       -          10         the server looks back at most 2^10 bytes (added by the server",
				"client_max_window_bits       no value   10         the client looks back at most 2^10 bytes",
				"server→client: context takeover: a message may refer to the last 2^10 = 1024 bytes"}},
		{"second offer accepted", "permessage-deflate; server_max_window_bits=9, permessage-deflate; client_no_context_takeover", "permessage-deflate", 2,
			nil, map[string]any{"context_takeover": false, "window_bits": 15.0}, map[string]any{"context_takeover": true, "window_bits": 15.0}, "",
			[]string{"offer 2  permessage-deflate; client_no_context_takeover  ← accepted",
				"client_no_context_takeover   yes        -          the client compresses each message afresh, as it offered",
				"the server added nothing to the offer"}},
		{"an offer not acceptable", "permessage-deflate; foo, permessage-deflate", "permessage-deflate", 2,
			nil, map[string]any{"context_takeover": true, "window_bits": 15.0}, map[string]any{"context_takeover": true, "window_bits": 15.0}, "",
			[]string{`offer 1  permessage-deflate; foo  (not acceptable, a server declines it: unknown parameter (RFC 7692 §7.1): "foo")`}},
		{"answer fits no offer", "permessage-deflate", "permessage-deflate; client_max_window_bits=10", 0,
			[]any{"client_max_window_bits"}, map[string]any{"context_takeover": true, "window_bits": 10.0}, map[string]any{"context_takeover": true, "window_bits": 15.0}, "RFC 7692 §7.1",
			[]string{"! VIOLATION RFC 7692 §7.1: the answer accepts none of the offers, the client must fail the connection: client_max_window_bits was not offered (RFC 7692 §7.2.2)"[:90]}},
		{"answered, not offered", "", "permessage-deflate", 0,
			nil, map[string]any{"context_takeover": true, "window_bits": 15.0}, map[string]any{"context_takeover": true, "window_bits": 15.0}, "RFC 7692 §7.1",
			[]string{"permessage-deflate was not offered"}},
		{"invalid answer", offerNoValue, "permessage-deflate; server_max_window_bits=16", 0,
			nil, nil, nil, "RFC 7692 §7.1",
			[]string{"the answer is not valid, the client must fail the connection: server_max_window_bits is not 8..15"}},
		{"another extension answered", offerNoValue, "x-foo", 0,
			nil, nil, nil, "9.1",
			[]string{`the server answered the extension "x-foo", which the client did not offer`, "answer   (none): declined, messages go uncompressed and RSV1 stays 0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			evs, human := traceBoth(t, Options{}, session(tc.offer, tc.answer))
			resp := ofKind(evs, "response")
			require.Len(t, resp, 1)
			n, _ := resp[0]["wsd.deflate"].(map[string]any)
			require.NotNil(t, n, "the negotiation is shown")
			assert.Equal(t, tc.answer, resp[0]["http.sec_websocket_extensions"])
			if tc.accepted > 0 {
				assert.Equal(t, tc.accepted, n["accepted_offer"])
			} else {
				assert.Nil(t, n["accepted_offer"])
			}
			assert.Equal(t, tc.added, toSlice(n["added_by_server"]))
			if tc.c2s != nil {
				assert.Equal(t, tc.c2s, n["c2s"])
				assert.Equal(t, tc.s2c, n["s2c"])
			}
			if tc.violation == "" {
				assert.Nil(t, resp[0]["violations"])
			} else {
				assert.Contains(t, sections(resp[0]), tc.violation)
			}
			for _, want := range tc.human {
				assert.Contains(t, human, want)
			}
			if tc.offer != "" {
				req := ofKind(evs, "request")[0]
				assert.Equal(t, tc.offer, req["http.sec_websocket_extensions"])
			}
		})
	}
}

func toSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

// A server that does not answer the offer: RSV1 is then a violation
// (RFC 6455 §5.2) and nothing is inflated.
func TestDeflateDeclinedRsv1IsAViolation(t *testing.T) {
	evs, _ := traceBoth(t, Options{}, session(offerNoValue, "", c2s(wstest.MaskedRsv(true, frame.Rsv1, frame.OpText, wstest.Deflate([]byte("hello"))))))
	f := framesOf(evs, "c2s")
	require.Len(t, f, 1)
	assert.Equal(t, "5.2", sections(f[0])[0], "RSV1 without an extension (and then DEFLATE bytes as text: not UTF-8)")
	assert.Nil(t, f[0]["websocket.pmc"], "no permessage-deflate: no pmc field, as Wireshark")
	assert.Nil(t, f[0]["wsd.deflate.inflated_length"])
}

// The ratio is the compressed size over the inflated one, per message,
// shown beside both.
func TestDeflateRatio(t *testing.T) {
	msg := []byte(strings.Repeat("compressible text, ", 20))
	z := wstest.Deflate(msg)
	require.Less(t, len(z), len(msg))
	small := []byte("hi")
	zs := wstest.Deflate(small)
	evs, human := traceBoth(t, Options{}, session(offerNoValue, "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
		c2s(wstest.MaskedRsv(true, frame.Rsv1, frame.OpText, z)),
		s2c(append(frame.AppendHeader(nil, frame.Header{Fin: true, Rsv: frame.Rsv1, OpCode: frame.OpBinary, Length: int64(len(zs))}), zs...)),
		c2s(wstest.MaskedRsv(true, frame.Rsv1, frame.OpText, []byte{0x00})), // an empty message (§7.2.3.6)
	))
	f := framesOf(evs, "c2s")[0]
	assert.Equal(t, true, f["websocket.pmc"])
	assert.Equal(t, string(msg), f["websocket.payload.text"], "the inflated text where Wireshark shows it")
	assert.Equal(t, float64(len(z)), f["wsd.deflate.compressed_length"])
	assert.Equal(t, float64(len(msg)), f["wsd.deflate.inflated_length"])
	want, _ := strconv.ParseFloat(strconv.FormatFloat(float64(len(z))/float64(len(msg)), 'f', 4, 64), 64)
	assert.Equal(t, want, f["wsd.deflate.ratio"])
	ratio := float64(len(z)) / float64(len(msg))
	assert.Contains(t, human, "  compressed  "+strconv.Itoa(len(z))+" bytes   ")
	assert.Contains(t, human, "  inflated    "+strconv.Itoa(len(msg))+" bytes  "+strconv.Quote(string(msg[:256]))+" …", "at most MaxShow bytes")
	assert.Contains(t, human, "  ratio       "+strconv.FormatFloat(ratio, 'f', 2, 64)+" ("+strconv.Itoa(len(z))+" / "+strconv.Itoa(len(msg))+
		" bytes: "+strconv.Itoa(int((1-ratio)*100+0.5))+"% saved)")
	assert.Contains(t, human, "text, FIN, masked, compressed, "+strconv.Itoa(len(z))+" bytes")
	assert.Contains(t, human, "RSV1    compressed: this message's payload is DEFLATE data")

	b := framesOf(evs, "s2c")[0]
	assert.Equal(t, "6869", b["data.data"], "a compressed binary message, inflated, as data")
	assert.Greater(t, b["wsd.deflate.ratio"], 1.0, "two bytes do not shrink")
	assert.Contains(t, human, "no gain")

	e := framesOf(evs, "c2s")[1]
	assert.Equal(t, 0.0, e["wsd.deflate.inflated_length"])
	assert.Nil(t, e["wsd.deflate.ratio"], "no ratio for an empty message")
	assert.Nil(t, e["violations"])
}

// With context takeover each direction keeps the last 2^bits bytes it
// inflated and primes the next message with them: messages that refer to
// earlier ones inflate, over many messages, both ways; the window never
// holds more than 2^bits; a message sent plain stays out of it; and a
// direction without takeover keeps nothing.
func TestDeflateTakeoverWindows(t *testing.T) {
	// client→server: one standard-library DEFLATE stream, window 2^15
	// (client_max_window_bits not answered). server→client: package
	// deflate with a 2^8 window and the server's own window kept.
	client := newContextDeflater()
	comp, err := deflate.NewCompressor(6)
	require.NoError(t, err)
	var serverWin []byte
	serverMsg := func(b []byte) []byte {
		z := comp.CompressWindow(nil, b, serverWin, 8)
		serverWin = deflate.AppendWindow(serverWin, b, 8)
		return append(frame.AppendHeader(nil, frame.Header{Fin: true, Rsv: frame.Rsv1, OpCode: frame.OpText, Length: int64(len(z))}), z...)
	}
	var msgs [][]byte
	for i := range 6 {
		msgs = append(msgs, []byte(strings.Repeat("takeover message "+strconv.Itoa(i%2)+"; ", 10+i)))
	}
	var segs []segment
	var zlens []int
	for i, m := range msgs {
		z := client.msg(m)
		zlens = append(zlens, len(z))
		segs = append(segs, c2s(wstest.MaskedRsv(true, frame.Rsv1, frame.OpText, z)), s2c(serverMsg(m)))
		if i == 2 {
			segs = append(segs, s2c(wstest.Unmasked(true, frame.OpText, []byte("plain, between"))))
		}
	}
	assert.Less(t, zlens[2], zlens[0]/3, "the third message refers to the first: takeover is in use")
	evs, human := traceBoth(t, Options{}, session(offerNoValue, "permessage-deflate; server_max_window_bits=8", segs...))
	cf, sf := framesOf(evs, "c2s"), framesOf(evs, "s2c")
	require.Len(t, cf, len(msgs))
	require.Len(t, sf, len(msgs)+1)
	sf = append(sf[:3], sf[4:]...) // the plain one
	cwin, swin := 0, 0
	for i, m := range msgs {
		assert.Equal(t, string(m), cf[i]["websocket.payload.text"], "client message %d", i)
		assert.Equal(t, string(m), sf[i]["websocket.payload.text"], "server message %d", i)
		assert.Equal(t, float64(cwin), cf[i]["wsd.deflate.window"], "client message %d inflated after what came before", i)
		assert.Equal(t, float64(swin), sf[i]["wsd.deflate.window"], "server message %d: at most 2^8 bytes kept", i)
		assert.Equal(t, 15.0, cf[i]["wsd.deflate.window_bits"])
		assert.Equal(t, 8.0, sf[i]["wsd.deflate.window_bits"])
		cwin, swin = min(cwin+len(m), 1<<15), min(swin+len(m), 1<<8)
	}
	assert.Equal(t, 256.0, sf[len(msgs)-1]["wsd.deflate.window"])
	assert.Contains(t, human, "inflated after 256 bytes of this direction's earlier messages (context takeover, RFC 7692 §7.1.1; at most 2^8 kept)")

	// The same client stream, answered without client context takeover:
	// the client breaks the agreement, and its second message refers to
	// bytes the tracer (rightly) did not keep.
	evs, _ = traceBoth(t, Options{}, session(offerNoValue, "permessage-deflate; client_no_context_takeover", segs[0], segs[2]))
	cf = framesOf(evs, "c2s")
	assert.Equal(t, string(msgs[0]), cf[0]["websocket.payload.text"])
	assert.Nil(t, cf[0]["wsd.deflate.window"], "no takeover: no window")
	assert.Equal(t, []string{"RFC 7692 §7.2.2"}, sections(cf[1]), "a reference into a window this direction does not keep")
}

// A compressed message in fragments: RSV1 on the first frame only, the
// fragments joined and inflated once, on the last; a control frame may
// come between them. RSV1 on a continuation or a control frame is a
// violation (RFC 7692 §6.1).
func TestDeflateFragments(t *testing.T) {
	msg := []byte(strings.Repeat("fragmented and compressed; ", 12))
	z := wstest.Deflate(msg)
	evs, human := traceBoth(t, Options{}, session(offerNoValue, "permessage-deflate",
		c2s(wstest.MaskedRsv(false, frame.Rsv1, frame.OpText, z[:4])),
		c2s(wstest.Masked(false, frame.OpContinuation, z[4:9])),
		c2s(wstest.Masked(true, frame.OpPing, []byte("ping"))),
		c2s(wstest.Masked(true, frame.OpContinuation, z[9:])),
		c2s(wstest.MaskedRsv(true, frame.Rsv1, frame.OpPing, nil)),
		c2s(wstest.MaskedRsv(false, frame.Rsv1, frame.OpBinary, z[:4])),
		c2s(wstest.MaskedRsv(true, frame.Rsv1, frame.OpContinuation, z[4:])),
	))
	f := framesOf(evs, "c2s")
	require.Len(t, f, 7)
	assert.Equal(t, "first", f[0]["wsd.fragment"])
	assert.Equal(t, true, f[0]["websocket.pmc"])
	assert.Nil(t, f[0]["websocket.payload.text"], "DEFLATE bytes are not text")
	assert.Equal(t, hexOf(z[:4]), f[0]["wsd.deflate.payload"])
	assert.Equal(t, false, f[1]["websocket.pmc"])
	assert.Equal(t, hexOf(z[4:9]), f[1]["websocket.payload.continue"])
	assert.Equal(t, true, f[1]["wsd.compressed"], "a continuation of a compressed message")
	assert.Equal(t, "70696e67", f[2]["websocket.payload.ping"])
	last := f[3]
	assert.Equal(t, string(msg), last["websocket.payload.text"])
	assert.Equal(t, hexOf(z), last["wsd.deflate.compressed"])
	assert.Equal(t, 3.0, last["wsd.deflate.frames"])
	assert.Equal(t, 3.0, last["websocket.fragment.count"])
	assert.Equal(t, float64(len(z)), last["websocket.reassembled.length"])
	for i := range 4 {
		assert.Nil(t, f[i]["violations"], "frame %d", i)
	}
	assert.Equal(t, []string{"RFC 7692 §6.1"}, sections(f[4]), "RSV1 on a ping")
	assert.Equal(t, []string{"RFC 7692 §6.1"}, sections(f[6]), "RSV1 on a continuation")
	assert.Equal(t, hexOf(msg), f[6]["data.data"], "still inflated: the message is whole")
	assert.Contains(t, human, "first fragment of a compressed text message (§5.4)")
	assert.Contains(t, human, "  compressed  "+strconv.Itoa(len(z))+" bytes in 3 frames, joined  ")
	assert.Contains(t, human, "! VIOLATION RFC 7692 §6.1 (answer: close 1002): RSV1 (compressed) on a control frame or a continuation")
}

func hexOf(b []byte) string { return hex.EncodeToString(b) }

// A bomb — a small payload that inflates past the size limit — is
// reported as such and never inflated past the limit: the tracer
// allocates about the limit, not the bomb. With takeover the direction's
// later messages are not inflated (their window is gone); without, they
// are. A compressed payload over the limit is not inflated at all.
func TestDeflateBombBounded(t *testing.T) {
	const limit = 64 << 10
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestCompression)
	w.Write(make([]byte, 32<<20))
	w.Flush()
	bomb := bytes.TrimSuffix(buf.Bytes(), []byte{0, 0, 0xff, 0xff})
	require.Less(t, len(bomb), limit, "the bomb's payload itself is under the limit")
	after := wstest.Deflate([]byte("after the bomb"))
	huge := bytes.Repeat([]byte{0xaa}, limit+1)

	for _, answer := range []string{"permessage-deflate; client_no_context_takeover", "permessage-deflate"} {
		segs := session(offerNoValue, answer,
			c2s(wstest.MaskedRsv(true, frame.Rsv1, frame.OpBinary, bomb)),
			c2s(wstest.MaskedRsv(true, frame.Rsv1, frame.OpText, after)),
			s2c(append(frame.AppendHeader(nil, frame.Header{Fin: true, Rsv: frame.Rsv1, OpCode: frame.OpBinary, Length: int64(len(huge))}), huge...)),
		)
		var before, done runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		out, _ := traceRun(Options{JSON: true, MaxMessage: limit}, segs, func() int { return 1 << 30 })
		runtime.ReadMemStats(&done)
		allocated := done.TotalAlloc - before.TotalAlloc
		assert.Less(t, allocated, uint64(8<<20), "%s: %d bytes allocated for a bomb of 32 MiB under a limit of 64 KiB", answer, allocated)

		evs, human := traceBoth(t, Options{MaxMessage: limit}, segs)
		f := framesOf(evs, "c2s")
		require.Len(t, f, 2)
		assert.Equal(t, true, f[0]["wsd.deflate.bomb"], "%s: %s", answer, out)
		assert.Equal(t, float64(limit), f[0]["wsd.deflate.limit"])
		assert.Nil(t, f[0]["data.data"], "nothing of the bomb is shown as its message")
		assert.Nil(t, f[0]["violations"], "a bomb breaks no rule: it passes a limit")
		assert.Contains(t, human, "BOMB: more than 65536 bytes (the size limit) from "+strconv.Itoa(len(bomb))+" compressed bytes; stopped at the limit")
		if answer == "permessage-deflate" {
			assert.Nil(t, f[1]["websocket.payload.text"], "with takeover the window is gone")
			assert.Contains(t, f[1]["wsd.deflate.not_inflated"], "an earlier message inflated past the size limit")
		} else {
			assert.Equal(t, "after the bomb", f[1]["websocket.payload.text"])
		}
		s := framesOf(evs, "s2c")[0]
		assert.Equal(t, true, s["wsd.deflate.too_big"], "a compressed payload over the limit")
		assert.Equal(t, float64(limit+1), s["wsd.deflate.compressed_length"])
		assert.Contains(t, human, "not inflated: the compressed payload alone is over the size limit of 65536 bytes")
	}
}

// A payload that does not inflate is a violation with its RFC 7692
// section and close code, never a crash; so is a compressed text that is
// not UTF-8 once inflated. Without takeover the next message inflates.
func TestDeflateBadData(t *testing.T) {
	evs, human := traceBoth(t, Options{}, session(offerNoValue, "permessage-deflate; client_no_context_takeover",
		c2s(wstest.MaskedRsv(true, frame.Rsv1, frame.OpText, []byte{0xff, 0xfe, 0x01})),
		c2s(wstest.MaskedRsv(true, frame.Rsv1, frame.OpText, wstest.Deflate([]byte{0xc3, 0x28}))),
		c2s(wstest.MaskedRsv(true, frame.Rsv1, frame.OpBinary, append(wstest.Deflate([]byte("x")), 0x01, 0x02))),
		c2s(wstest.MaskedRsv(true, frame.Rsv1, frame.OpText, wstest.Deflate([]byte("fine again")))),
	))
	f := framesOf(evs, "c2s")
	require.Len(t, f, 4)
	v := f[0]["violations"].([]any)[0].(map[string]any)
	assert.Equal(t, "RFC 7692 §7.2.2", v["section"])
	assert.Equal(t, 1007.0, v["close_code"])
	assert.Contains(t, v["reason"], "compressed payload does not inflate")
	assert.Equal(t, true, f[0]["websocket.decompression.failed.expert"])
	assert.Nil(t, f[0]["websocket.payload.text"])
	assert.Equal(t, []string{"8.1"}, sections(f[1]), "not UTF-8 once inflated")
	assert.Equal(t, []string{"RFC 7692 §7.2.2"}, sections(f[2]), "bytes after the end")
	assert.Equal(t, "fine again", f[3]["websocket.payload.text"])
	assert.Nil(t, f[3]["violations"])
	assert.Contains(t, human, "✗ does not inflate (the violation below)")
	assert.Contains(t, human, "! VIOLATION RFC 7692 §7.2.2 (answer: close 1007): compressed payload does not inflate")
}
