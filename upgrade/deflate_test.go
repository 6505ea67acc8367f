package upgrade

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// deflateRequest parses a handshake carrying each of lines as a
// Sec-WebSocket-Extensions header line.
func deflateRequest(t testing.TB, lines ...string) Request {
	t.Helper()
	var b strings.Builder
	b.WriteString("GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n")
	for _, l := range lines {
		b.WriteString("Sec-WebSocket-Extensions: " + l + "\r\n")
	}
	b.WriteString("\r\n")
	r, _, err := Parse([]byte(b.String()), 0)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return r
}

// negotiate returns the answer's header value, or "" when declined.
func negotiate(t testing.TB, p DeflatePolicy, lines ...string) string {
	t.Helper()
	r := deflateRequest(t, lines...)
	a, ok := r.NegotiateDeflate(p)
	if !ok {
		return ""
	}
	return string(AppendDeflateResponse(nil, a))
}

// deflateOffers lists every acceptable permessage-deflate offer of the
// request, in order (what a client that sent lines offered).
func deflateOffers(r *Request) []DeflateOffer {
	var offers []DeflateOffer
	r.eachField("Sec-WebSocket-Extensions", func(line []byte) bool {
		return eachExtension(line, func(e []byte) bool {
			if o, why, _ := parseDeflate(e, true); why == "" {
				offers = append(offers, o)
			}
			return true
		})
	})
	return offers
}

var (
	policyOn       = DeflatePolicy{Mode: DeflateOn}
	policyTakeover = DeflatePolicy{Mode: DeflateTakeover} // W = 10
)

const (
	// What real clients offer (checked on this machine for ws 8.18 and
	// websockets 10.4; Chromium's from a captured handshake, testdata).
	offerChromium  = "permessage-deflate; client_max_window_bits"
	offerFirefox   = "permessage-deflate"
	offerPythonWS  = "permessage-deflate; client_max_window_bits" // websockets 10.4 default
	offerNodeWS    = "permessage-deflate; client_max_window_bits" // ws 8 default
	offerWindows12 = "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12"

	answerNoTakeover = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
)

func TestNegotiateDeflateOn(t *testing.T) {
	for _, c := range []struct {
		name  string
		lines []string
		want  string
	}{
		{"chromium", []string{offerChromium}, answerNoTakeover},
		{"firefox", []string{offerFirefox}, answerNoTakeover},
		{"python websockets", []string{offerPythonWS}, answerNoTakeover},
		{"node ws", []string{offerNodeWS}, answerNoTakeover},
		// An offered server window must be answered with it (§7.1.2.1);
		// a client window is not named (no takeover makes it moot).
		{"windows 12", []string{offerWindows12}, answerNoTakeover + "; server_max_window_bits=12"},
		{"client window only", []string{"permessage-deflate; client_max_window_bits=9"}, answerNoTakeover},
		{"hints", []string{"permessage-deflate; client_no_context_takeover; server_no_context_takeover"}, answerNoTakeover},
		{"no extension header", nil, ""},
		{"other extension", []string{"x-webkit-deflate-frame"}, ""},
		{"other then ours", []string{"x-webkit-deflate-frame, permessage-deflate; client_max_window_bits"}, answerNoTakeover},
		{"name is case-sensitive", []string{"Permessage-Deflate"}, ""},
		{"first of two offers", []string{"permessage-deflate; server_max_window_bits=9, permessage-deflate"}, answerNoTakeover + "; server_max_window_bits=9"},
		{"first of two lines", []string{"permessage-deflate; server_max_window_bits=11", "permessage-deflate; server_max_window_bits=9"}, answerNoTakeover + "; server_max_window_bits=11"},
		{"declined then next line", []string{"foo, permessage-deflate; bogus", "permessage-deflate; server_max_window_bits=9"}, answerNoTakeover + "; server_max_window_bits=9"},
		{"spaces and tabs", []string{"permessage-deflate ;\tserver_max_window_bits = 10 ; client_max_window_bits"}, answerNoTakeover + "; server_max_window_bits=10"},
		{"quoted value", []string{`permessage-deflate; server_max_window_bits="10"`}, answerNoTakeover + "; server_max_window_bits=10"},
		{"quoted-pair in value", []string{`permessage-deflate; server_max_window_bits="1\3"`}, answerNoTakeover + "; server_max_window_bits=13"},
		{"empty list elements", []string{", ,permessage-deflate,"}, answerNoTakeover},
		// A comma inside another extension's quoted value is no offer: a
		// split on every comma would find "permessage-deflate" here.
		{"offer inside a quoted-string", []string{`foo; bar="x, permessage-deflate, y"`}, ""},
		{"quoted comma then a real offer", []string{`foo; bar="x, permessage-deflate", permessage-deflate; server_max_window_bits=8`}, answerNoTakeover + "; server_max_window_bits=8"},
	} {
		t.Run(c.name, func(t *testing.T) {
			assert.Equal(t, c.want, negotiate(t, policyOn, c.lines...))
		})
	}
}

func TestNegotiateDeflateTakeover(t *testing.T) {
	w := func(bits uint8) DeflatePolicy { return DeflatePolicy{Mode: DeflateTakeover, WindowBits: bits} }
	for _, c := range []struct {
		name   string
		policy DeflatePolicy
		offer  string
		want   string
	}{
		// client_max_window_bits offered: the server imposes W on both.
		{"chromium", policyTakeover, offerChromium, "permessage-deflate; server_max_window_bits=10; client_max_window_bits=10"},
		// Not offered: the server may not name it (§7.1.2.2) and cannot
		// bound the client's window, so it asks for no takeover.
		{"firefox", policyTakeover, offerFirefox, "permessage-deflate; client_no_context_takeover; server_max_window_bits=10"},
		{"client window above W", policyTakeover, "permessage-deflate; client_max_window_bits=12", "permessage-deflate; server_max_window_bits=10; client_max_window_bits=10"},
		{"client window below W", policyTakeover, "permessage-deflate; client_max_window_bits=9", "permessage-deflate; server_max_window_bits=10; client_max_window_bits=9"},
		{"server window below W", policyTakeover, "permessage-deflate; server_max_window_bits=9", "permessage-deflate; client_no_context_takeover; server_max_window_bits=9"},
		{"server window above W", policyTakeover, offerWindows12, "permessage-deflate; server_max_window_bits=10; client_max_window_bits=10"},
		// server_no_context_takeover offered must be granted (§7.1.1.1).
		{"server no takeover", policyTakeover, "permessage-deflate; server_no_context_takeover; client_max_window_bits",
			"permessage-deflate; server_no_context_takeover; client_max_window_bits=10"},
		{"server no takeover, window", policyTakeover, "permessage-deflate; server_no_context_takeover; server_max_window_bits=12",
			"permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10"},
		// The client's hint that it will not take over is echoed: the
		// server then keeps nothing of what it receives.
		{"client no takeover", policyTakeover, "permessage-deflate; client_no_context_takeover; client_max_window_bits",
			"permessage-deflate; client_no_context_takeover; server_max_window_bits=10"},
		{"W=15", w(15), offerChromium, "permessage-deflate; server_max_window_bits=15; client_max_window_bits=15"},
		{"W=9", w(9), offerChromium, "permessage-deflate; server_max_window_bits=9; client_max_window_bits=9"},
		// W=8: zlib clients cannot compress with 8 bits (see answerDeflate):
		// they are asked for 9, unless they offered 8 themselves.
		{"W=8", w(8), offerChromium, "permessage-deflate; server_max_window_bits=8; client_max_window_bits=9"},
		{"W=8, client offers 8", w(8), "permessage-deflate; client_max_window_bits=8", "permessage-deflate; server_max_window_bits=8; client_max_window_bits=8"},
		{"W out of range is clamped", w(20), offerChromium, "permessage-deflate; server_max_window_bits=15; client_max_window_bits=15"},
		{"off", DeflatePolicy{}, offerChromium, ""},
		{"unknown mode", DeflatePolicy{Mode: 9}, offerChromium, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			assert.Equal(t, c.want, negotiate(t, c.policy, c.offer))
		})
	}
}

// Offers a server must decline (RFC 7692 §7.1): each alone is declined,
// and followed by a good offer, the good one is taken.
var badDeflateOffers = []string{
	"permessage-deflate; server_max_window_bits=7",
	"permessage-deflate; server_max_window_bits=16",
	"permessage-deflate; server_max_window_bits=010",
	"permessage-deflate; server_max_window_bits=08",
	"permessage-deflate; server_max_window_bits=0",
	"permessage-deflate; server_max_window_bits=1",
	"permessage-deflate; server_max_window_bits=+9",
	"permessage-deflate; server_max_window_bits=9.0",
	"permessage-deflate; server_max_window_bits=abc",
	"permessage-deflate; server_max_window_bits=",
	"permessage-deflate; server_max_window_bits",
	`permessage-deflate; server_max_window_bits="16"`,
	`permessage-deflate; server_max_window_bits=""`,
	`permessage-deflate; server_max_window_bits="10`,
	`permessage-deflate; server_max_window_bits="1\"`,
	`permessage-deflate; server_max_window_bits="1"0"`,
	`permessage-deflate; server_max_window_bits=" 10"`,
	`permessage-deflate; client_max_window_bits="1,0"`,
	`permessage-deflate; client_max_window_bits="1;0"`,
	"permessage-deflate; client_max_window_bits=7",
	"permessage-deflate; client_max_window_bits=16",
	"permessage-deflate; client_max_window_bits=010",
	"permessage-deflate; client_max_window_bits=",
	"permessage-deflate; server_no_context_takeover=1",
	`permessage-deflate; server_no_context_takeover=""`,
	"permessage-deflate; client_no_context_takeover=true",
	"permessage-deflate; server_no_context_takeover; server_no_context_takeover",
	"permessage-deflate; client_no_context_takeover; client_no_context_takeover",
	"permessage-deflate; server_max_window_bits=10; server_max_window_bits=10",
	"permessage-deflate; client_max_window_bits; client_max_window_bits=10",
	"permessage-deflate; client_max_window_bits=10; client_max_window_bits",
	"permessage-deflate; foo",
	"permessage-deflate; x=1",
	"permessage-deflate; Server_No_Context_Takeover",
	"permessage-deflate; server_max_window_bits 10",
	"permessage-deflate; =10",
	"permessage-deflate;",
	"permessage-deflate; ; server_no_context_takeover",
	"permessage-deflate; server_no_context_takeover;",
}

func TestNegotiateDeflateDeclines(t *testing.T) {
	const next = "permessage-deflate; server_max_window_bits=12"
	for _, bad := range badDeflateOffers {
		t.Run(bad, func(t *testing.T) {
			r := deflateRequest(t, bad)
			o, why, _ := parseDeflate(trimOWS(r.Extension), true)
			assert.NotEmpty(t, why, "parsed as %+v", o)
			for _, p := range []DeflatePolicy{policyOn, policyTakeover} {
				assert.Empty(t, negotiate(t, p, bad), "alone")
				if _, _, split := cutUnquoted([]byte(bad+", "), ','); split {
					assert.Contains(t, negotiate(t, p, bad+", "+next), "server_max_window_bits=", "followed by a good offer on the line")
				} else {
					// A quoted-string that never ends takes the rest of the
					// line: the next offer is part of the broken one.
					assert.Empty(t, negotiate(t, p, bad+", "+next), "an unterminated quote hides the rest of the line")
				}
				got := negotiate(t, p, bad, next)
				assert.NotEmpty(t, got, "followed by a good offer on the next line")
				assert.Contains(t, got, "server_max_window_bits=", "the next offer's window")
			}
		})
	}
}

func TestParseDeflateValues(t *testing.T) {
	for v, want := range map[string]uint8{
		"8": 8, "9": 9, "10": 10, "15": 15, `"8"`: 8, `"15"`: 15, `"1\5"`: 15, `"\9"`: 9,
		"7": 0, "16": 0, "010": 0, "08": 0, "0": 0, "-9": 0, `"`: 0, `""`: 0, `"9`: 0, `9"`: 0, `"\"`: 0, `"1""`: 0, "999": 0,
	} {
		got, ok := windowBitsValue([]byte(v))
		assert.Equal(t, want, got, v)
		assert.Equal(t, want != 0, ok, v)
	}
}

// Every answer the server gives is accepted by the client that made the
// offers, as the client sees it (round trip through the text).
func TestNegotiatedAnswerParsesBack(t *testing.T) {
	offers := []string{offerChromium, offerFirefox, offerWindows12,
		"permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=8; client_max_window_bits=8",
		"permessage-deflate; client_max_window_bits=9", "permessage-deflate; server_max_window_bits=15"}
	for _, off := range offers {
		for _, p := range []DeflatePolicy{policyOn, policyTakeover, {Mode: DeflateTakeover, WindowBits: 8}, {Mode: DeflateTakeover, WindowBits: 15}} {
			r := deflateRequest(t, off)
			a, ok := r.NegotiateDeflate(p)
			require.True(t, ok, off)
			got, err := ParseDeflateResponse(AppendDeflateResponse(nil, a), deflateOffers(&r)...)
			require.NoError(t, err, "%s under %+v", off, p)
			assert.Equal(t, a.ServerNoContextTakeover, got.ServerNoContextTakeover)
			assert.Equal(t, a.ServerMaxWindowBits, got.ServerMaxWindowBits)
			assert.True(t, got.ClientNoContextTakeover || !a.ClientNoContextTakeover)
			if a.ClientMaxWindowBits != 0 {
				assert.Equal(t, a.ClientMaxWindowBits, got.ClientMaxWindowBits)
			}
		}
	}
}

func TestAppendDeflateOffer(t *testing.T) {
	assert.Equal(t, offerChromium, string(AppendDeflateOffer(nil, DeflateOffer{ClientMaxWindowBits: OfferNoValue})))
	assert.Equal(t, offerFirefox, string(AppendDeflateOffer(nil, DeflateOffer{})))
	assert.Equal(t, offerWindows12, string(AppendDeflateOffer(nil, DeflateOffer{ServerMaxWindowBits: 12, ClientMaxWindowBits: 12})))
	assert.Equal(t, "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=8, permessage-deflate",
		string(AppendDeflateOffer(nil, DeflateOffer{ServerNoContextTakeover: true, ClientNoContextTakeover: true, ServerMaxWindowBits: 8}, DeflateOffer{})))
	assert.Equal(t, "permessage-deflate; server_max_window_bits=15; client_max_window_bits=8",
		string(AppendDeflateOffer(nil, DeflateOffer{ServerMaxWindowBits: 99, ClientMaxWindowBits: 3})), "clamped")
	// What we offer, a server reads back as offered.
	for _, o := range []DeflateOffer{{}, {ClientMaxWindowBits: OfferNoValue}, {ServerNoContextTakeover: true, ServerMaxWindowBits: 9, ClientMaxWindowBits: 15}} {
		got, why, _ := parseDeflate(AppendDeflateOffer(nil, o), true)
		assert.Empty(t, why)
		assert.Equal(t, o, got)
	}
}

func TestParseDeflateResponse(t *testing.T) {
	chromium := DeflateOffer{ClientMaxWindowBits: OfferNoValue}
	for _, c := range []struct {
		name    string
		offered []DeflateOffer
		answer  string
		want    DeflateParams
		err     string // a part of the error; "" = accepted
	}{
		{"plain", []DeflateOffer{chromium}, "permessage-deflate", DeflateParams{}, ""},
		{"no takeover", []DeflateOffer{chromium}, answerNoTakeover, DeflateParams{ServerNoContextTakeover: true, ClientNoContextTakeover: true}, ""},
		{"client window", []DeflateOffer{chromium}, "permessage-deflate; client_max_window_bits=10", DeflateParams{ClientMaxWindowBits: 10}, ""},
		{"server window unasked", []DeflateOffer{{}}, "permessage-deflate; server_max_window_bits=8", DeflateParams{ServerMaxWindowBits: 8}, ""},
		{"quoted", []DeflateOffer{chromium}, `permessage-deflate; client_max_window_bits="9"`, DeflateParams{ClientMaxWindowBits: 9}, ""},
		{"client window without value", []DeflateOffer{chromium}, "permessage-deflate; client_max_window_bits", DeflateParams{}, "needs a value in an answer"},
		{"client window not offered", []DeflateOffer{{}}, "permessage-deflate; client_max_window_bits=10", DeflateParams{}, "client_max_window_bits was not offered"},
		{"client window above offer", []DeflateOffer{{ClientMaxWindowBits: 10}}, "permessage-deflate; client_max_window_bits=12", DeflateParams{}, "above the offered 10"},
		{"client window below offer", []DeflateOffer{{ClientMaxWindowBits: 10}}, "permessage-deflate; client_max_window_bits=9", DeflateParams{ClientMaxWindowBits: 9}, ""},
		{"client keeps its offered window", []DeflateOffer{{ClientMaxWindowBits: 10}}, "permessage-deflate", DeflateParams{ClientMaxWindowBits: 10}, ""},
		{"client keeps its no-takeover hint", []DeflateOffer{{ClientNoContextTakeover: true}}, "permessage-deflate", DeflateParams{ClientNoContextTakeover: true}, ""},
		{"server no takeover unanswered", []DeflateOffer{{ServerNoContextTakeover: true}}, "permessage-deflate", DeflateParams{}, "server_no_context_takeover was offered and not answered"},
		{"server window unanswered", []DeflateOffer{{ServerMaxWindowBits: 10}}, "permessage-deflate", DeflateParams{}, "server_max_window_bits was offered and not answered"},
		{"server window above offer", []DeflateOffer{{ServerMaxWindowBits: 10}}, "permessage-deflate; server_max_window_bits=12", DeflateParams{}, "server_max_window_bits=12 above the offered 10"},
		{"server window below offer", []DeflateOffer{{ServerMaxWindowBits: 10}}, "permessage-deflate; server_max_window_bits=9", DeflateParams{ServerMaxWindowBits: 9}, ""},
		{"fits the second offer", []DeflateOffer{{ServerMaxWindowBits: 10}, {}}, "permessage-deflate", DeflateParams{}, ""},
		{"fits no offer", []DeflateOffer{{ServerMaxWindowBits: 10}, {ServerNoContextTakeover: true}}, "permessage-deflate", DeflateParams{}, "fits none of the 2 offers"},
		{"nothing offered", nil, "permessage-deflate", DeflateParams{}, "permessage-deflate was not offered"},
		{"unknown parameter", []DeflateOffer{chromium}, "permessage-deflate; foo", DeflateParams{}, "unknown parameter"},
		{"repeated parameter", []DeflateOffer{chromium}, "permessage-deflate; server_no_context_takeover; server_no_context_takeover", DeflateParams{}, "repeated parameter"},
		{"bad value", []DeflateOffer{chromium}, "permessage-deflate; server_max_window_bits=16", DeflateParams{}, "server_max_window_bits is not 8..15"},
		{"value on a flag", []DeflateOffer{chromium}, "permessage-deflate; client_no_context_takeover=1", DeflateParams{}, "takes no value"},
		{"two extensions", []DeflateOffer{chromium}, "permessage-deflate, x-foo", DeflateParams{}, "2 extensions in the answer"},
		{"twice", []DeflateOffer{chromium}, "permessage-deflate, permessage-deflate", DeflateParams{}, "2 extensions in the answer"},
		{"another extension", []DeflateOffer{chromium}, "x-webkit-deflate-frame", DeflateParams{}, "not offered"},
		{"empty", []DeflateOffer{chromium}, " ", DeflateParams{}, "empty answer"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseDeflateResponse([]byte(c.answer), c.offered...)
			if c.err == "" {
				require.NoError(t, err)
				assert.Equal(t, c.want, got)
				return
			}
			require.Error(t, err)
			assert.True(t, errors.Is(err, ErrBadExtension))
			assert.Contains(t, err.Error(), c.err)
			assert.Contains(t, err.Error(), strings.TrimSpace(c.answer)[:min(len(strings.TrimSpace(c.answer)), 20)], "the error names the input")
		})
	}
}

func TestDeflateParamsWindows(t *testing.T) {
	assert.Equal(t, uint8(15), DeflateParams{}.ServerWindowBits())
	assert.Equal(t, uint8(15), DeflateParams{}.ClientWindowBits())
	assert.Equal(t, uint8(9), DeflateParams{ServerMaxWindowBits: 9}.ServerWindowBits())
	assert.Equal(t, uint8(10), DeflateParams{ClientMaxWindowBits: 10}.ClientWindowBits())
}

func TestParseDeflateMode(t *testing.T) {
	for _, m := range []DeflateMode{DeflateOff, DeflateOn, DeflateTakeover} {
		got, err := ParseDeflateMode(m.String())
		require.NoError(t, err)
		assert.Equal(t, m, got)
	}
	_, err := ParseDeflateMode("yes")
	assert.ErrorContains(t, err, `"yes"`)
}
