package web

import (
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/internal/browser"
	"github.com/wsd-dev/wsd/internal/wstest"
	"github.com/wsd-dev/wsd/upgrade"
)

// page is the tab under test.
type page struct {
	t   *testing.T
	tab context.Context
}

func (p page) waitFor(sel, why string) {
	p.t.Helper()
	require.NoError(p.t, browser.WaitTrue(p.tab, `document.querySelector(`+js(sel)+`)`, `document.getElementById('count').textContent`, pageWait), why)
}

// open clicks a card (a real mouse click) and waits for the detail to show it.
func (p page) open(id string) {
	p.t.Helper()
	p.waitFor("#"+id, id+" on the page")
	require.NoError(p.t, chromedpScrollClick(p.tab, "#"+id))
	require.NoError(p.t, browser.WaitTrue(p.tab, `document.getElementById('detail').dataset.showing === `+js(id), `document.getElementById('detail').dataset.showing`, pageWait))
}

// field is the text the detail shows for a field, spaces and line breaks
// folded; "(absent)" when it shows no such field.
func (p page) field(name string) string {
	p.t.Helper()
	s, err := browser.Eval[string](p.tab, `(() => { const e = document.querySelector('#detail [data-f="`+name+`"]'); return e ? e.textContent : '(absent)'; })()`)
	require.NoError(p.t, err)
	if s == "(absent)" {
		return s
	}
	return strings.Join(strings.Fields(s), " ")
}

// check opens a card and compares the fields the detail shows.
func (p page) check(id string, want map[string]string) {
	p.t.Helper()
	p.open(id)
	for name, w := range want {
		assert.Equal(p.t, w, p.field(name), "%s: field %s", id, name)
		if bitField[name] {
			// The value under the bit diagram's cells says the same.
			assert.Equal(p.t, w, p.field("bits-"+name), "%s: the bit diagram's %s", id, name)
		}
	}
	if b0, ok := want["byte0"]; ok {
		if b1, ok := want["byte1"]; ok {
			assert.Equal(p.t, strings.ReplaceAll(b0+b1, " ", ""), p.field("cells"), "%s: the 16 bit cells", id)
		}
	}
}

// bitField are the fields the bit diagram shows under its cells too.
var bitField = map[string]bool{"fin": true, "rsv1": true, "rsv2": true, "rsv3": true, "opcode": true, "mask": true, "len7": true}

// spacedHex is bytes as the page writes them: "48 65 6c".
func spacedHex(b []byte) string {
	var s []string
	for _, c := range b {
		s = append(s, fmt.Sprintf("%02x", c))
	}
	return strings.Join(s, " ")
}

// A known session through wsd, traced for the page: the frame view shows
// each field as the bytes on the wire have it, the handshake's accept key
// is derived right, a violation is red with its section, and the filters
// hide what they should.
func TestFrameViewInChromium(t *testing.T) {
	web := startWeb(t, Options{})
	addr := tracedWSD(t, web, upgrade.DeflateOn)
	p := page{t, openPage(t, web)}

	// Connection 1: plain frames.
	c, err := wstest.Dial(addr, "/echo", "")
	require.NoError(t, err)
	defer c.Close()
	write := func(c *wstest.Client, b []byte) {
		t.Helper()
		_, err := c.Write(b)
		require.NoError(t, err)
	}
	echo := func(c *wstest.Client, want []byte) {
		t.Helper()
		_, got, err := c.ReadMessage(5 * time.Second)
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
	key := [4]byte{0x37, 0xfa, 0x21, 0x3d} // RFC 6455 §5.7's example
	key2 := [4]byte{0x01, 0x80, 0xfe, 0x7f}
	write(c, maskedWith(true, 0, frame.OpText, key, []byte("Hello")))
	echo(c, []byte("Hello"))
	text200 := []byte(strings.Repeat("abcdefghij", 20))
	write(c, maskedWith(true, 0, frame.OpText, key2, text200))
	echo(c, text200)
	bin := make([]byte, 70000)
	for i := range bin {
		bin[i] = byte(i % 251)
	}
	write(c, maskedWith(true, 0, frame.OpBinary, key, bin))
	echo(c, bin)
	write(c, maskedWith(false, 0, frame.OpText, key, []byte("Hel")))
	write(c, maskedWith(true, 0, frame.OpPing, key2, []byte("in between")))
	write(c, maskedWith(false, 0, frame.OpContinuation, key, []byte("lo ")))
	write(c, maskedWith(true, 0, frame.OpContinuation, key2, []byte("world")))
	echo(c, []byte("in between")) // the pong
	echo(c, []byte("Hello world"))
	write(c, maskedWith(true, 0, frame.OpClose, key, append([]byte{0x03, 0xe8}, "bye"...)))
	require.NoError(t, c.ExpectEOF(5*time.Second))

	// Connection 2: a compressed message.
	c2, err := wstest.Dial(addr, "/echo", "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits")
	require.NoError(t, err)
	defer c2.Close()
	chat := []byte("the same words compress well; the same words compress well")
	z := wstest.Deflate(chat)
	write(c2, maskedWith(true, frame.Rsv1, frame.OpText, key, z))
	echo(c2, chat)

	// Connection 3: a client frame without a mask breaks §5.1.
	c3, err := wstest.Dial(addr, "/echo", "")
	require.NoError(t, err)
	defer c3.Close()
	write(c3, wstest.Unmasked(true, frame.OpText, []byte("no mask")))
	require.NoError(t, c3.ExpectEOF(5*time.Second))

	// The handshake of connection 1, step by step (§4.2.2), computed here.
	keyGUID := string(c.Key[:]) + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
	sum := sha1.Sum([]byte(keyGUID))
	p.check("hs-1", map[string]string{
		"key":       string(c.Key[:]),
		"key-guid":  keyGUID,
		"sha1":      hex.EncodeToString(sum[:]),
		"base64":    base64.StdEncoding.EncodeToString(sum[:]),
		"accept":    base64.StdEncoding.EncodeToString(sum[:]),
		"accept-ok": "✓ matches: the handshake is done, frames follow",
	})
	assert.Contains(t, p.field("request"), "GET /echo HTTP/1.1")
	assert.Contains(t, p.field("response"), "HTTP/1.1 101 Switching Protocols")

	// A masked text frame: RFC 6455 §5.7's "Hello".
	p.check("f-1-c2s-1", map[string]string{
		"byte0": "1000 0001", "byte1": "1000 0101",
		"fin": "1", "rsv1": "0", "rsv2": "0", "rsv3": "0", "opcode": "0x1", "opcode-name": "text", "mask": "1", "len7": "5",
		"length": "5", "encoding": "7-bit", "ext": "(absent)",
		"mask-key": "37 fa 21 3d", "masked": "7f 9f 4d 51 58", "keystream": "37 fa 21 3d 37", "unmasked": "48 65 6c 6c 6f", "text": "Hello",
		"fragment": "(absent)", "violation": "(absent)",
	})
	assert.True(t, strings.HasPrefix(p.field("dump"), "0000 81 85 37 fa 21 3d 7f 9f 4d 51 58"), "the bytes: %s", p.field("dump"))

	// The server's echo is not masked.
	p.check("f-1-s2c-1", map[string]string{
		"byte0": "1000 0001", "byte1": "0000 0101", "fin": "1", "opcode": "0x1", "mask": "0", "len7": "5",
		"mask-key": "(absent)", "masked": "(absent)", "unmasked": "48 65 6c 6c 6f", "text": "Hello",
	})

	// A 16-bit length: 126, then 00 c8.
	masked200 := make([]byte, 8)
	for i := range masked200 {
		masked200[i] = text200[i] ^ key2[i%4]
	}
	p.check("f-1-c2s-2", map[string]string{
		"byte1": "1111 1110", "len7": "126", "ext": "00 c8", "length": "200", "encoding": "16-bit",
		"mask-key": "01 80 fe 7f", "opcode-name": "text",
	})
	assert.True(t, strings.HasPrefix(p.field("masked"), spacedHex(masked200)), "masked: %s", p.field("masked"))
	assert.True(t, strings.HasPrefix(p.field("text"), string(text200[:20])), "text: %s", p.field("text"))

	// A 64-bit length: 127, then 00 00 00 00 00 01 11 70.
	p.check("f-1-c2s-3", map[string]string{
		"byte0": "1000 0010", "byte1": "1111 1111", "opcode": "0x2", "opcode-name": "binary", "len7": "127",
		"ext": "00 00 00 00 00 01 11 70", "length": "70,000", "encoding": "64-bit",
	})
	assert.True(t, strings.HasPrefix(p.field("unmasked"), spacedHex(bin[:16])), "unmasked: %s", p.field("unmasked"))
	p.check("f-1-s2c-3", map[string]string{"byte1": "0111 1111", "ext": "00 00 00 00 00 01 11 70", "length": "70,000", "mask": "0"})

	// Fragments with a ping between them, joined into their message.
	p.check("f-1-c2s-4", map[string]string{"fin": "0", "byte0": "0000 0001", "opcode-name": "text", "fragment": "first", "text": "Hel"})
	p.check("f-1-c2s-5", map[string]string{"fin": "1", "opcode": "0x9", "opcode-name": "ping", "fragment": "(absent)", "unmasked": spacedHex([]byte("in between"))})
	p.check("f-1-c2s-6", map[string]string{"fin": "0", "byte0": "0000 0000", "opcode": "0x0", "opcode-name": "continuation", "fragment": "middle"})
	p.check("f-1-c2s-7", map[string]string{"fin": "1", "byte0": "1000 0000", "opcode": "0x0", "fragment": "last", "frames": "3", "message": "Hello world"})
	lane := func(id string) string {
		s, err := browser.Eval[string](p.tab, `document.getElementById(`+js(id)+`).textContent`)
		require.NoError(t, err)
		return s
	}
	assert.Contains(t, lane("f-1-c2s-5"), "between the fragments")
	assert.Contains(t, lane("f-1-c2s-7"), `message joined from 3 frames: "Hello world"`)
	p.check("f-1-s2c-5", map[string]string{"fin": "1", "opcode-name": "text", "text": "Hello world"})

	// The close, both ways, with the code's meaning.
	p.check("f-1-c2s-8", map[string]string{
		"opcode": "0x8", "opcode-name": "close", "close-code": "1000", "close-name": "Normal Closure",
		"close-meaning": frame.CloseNormal.Info().Meaning, "close-reason": `"bye"`, "unmasked": "03 e8 62 79 65",
	})
	p.check("f-1-s2c-6", map[string]string{"opcode-name": "close", "close-code": "1000", "close-name": "Normal Closure", "mask": "0"})

	// The compressed message beside what it inflates to.
	p.check("f-2-c2s-1", map[string]string{
		"rsv1": "1", "rsv2": "0", "opcode-name": "text", "compressed": spacedHex(z), "inflated": string(chat),
		"ratio": fmt.Sprintf("%.2f", float64(len(z))/float64(len(chat))),
	})
	p.open("hs-2")
	assert.Contains(t, p.field("deflate-answer"), "permessage-deflate")

	// The violation: red, with its section.
	p.check("f-3-c2s-1", map[string]string{"mask": "0", "section": "RFC 6455 §5.1", "text": "no mask"})
	assert.Contains(t, p.field("violation"), "client frame not masked")
	red, err := browser.Eval[string](p.tab, `getComputedStyle(document.querySelector('#f-3-c2s-1 .viol')).color`)
	require.NoError(t, err)
	assert.Equal(t, "rgb(220, 38, 38)", red)
	assert.Contains(t, lane("f-3-c2s-1"), "RFC 6455 §5.1")
	p.check("f-3-s2c-1", map[string]string{"close-code": "1002", "close-name": frame.CloseProtocolError.Info().Name})

	// Filters: by connection, then by opcode.
	shown := func(sel string) bool {
		ok, err := browser.Eval[bool](p.tab, `document.querySelector(`+js(sel)+`).offsetParent !== null`)
		require.NoError(t, err)
		return ok
	}
	filterConn := func(v string) {
		_, err := browser.Eval[bool](p.tab, `(() => { const s = document.getElementById('conn-filter'); s.value = `+js(v)+`; s.dispatchEvent(new Event('change')); return true; })()`)
		require.NoError(t, err)
	}
	filterConn("2")
	assert.False(t, shown("#lane-1"), "lane 1 with the filter on #2")
	assert.True(t, shown("#lane-2"))
	assert.False(t, shown("#lane-3"))
	filterConn("all")
	assert.True(t, shown("#lane-1") && shown("#lane-3"))
	require.NoError(t, browser.Click(p.tab, "#op-ping"))
	assert.False(t, shown("#f-1-c2s-5"), "the ping with pings filtered out")
	assert.True(t, shown("#f-1-c2s-4"), "text frames stay")
	assert.True(t, shown("#f-1-s2c-4"), "the pong stays")
	require.NoError(t, browser.Click(p.tab, "#op-pong"))
	assert.False(t, shown("#f-1-s2c-4"), "the pong with pongs filtered out")
	require.NoError(t, browser.Click(p.tab, "#op-ping"))
	assert.True(t, shown("#f-1-c2s-5"), "the ping back")
}
