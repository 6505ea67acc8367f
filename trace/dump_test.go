package trace

import (
	"encoding/hex"
	"encoding/json"
	"github.com/wsd-dev/wsd/frame"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDumpTextMaskedHello(t *testing.T) {
	wire := unhex(t, "81 85 37 fa 21 3d 7f 9f 4d 51 58")
	h, n, err := frame.ParseHeader(wire)
	require.NoError(t, err)
	d := Dump{Header: h, Wire: wire[n:]}
	out := string(d.AppendText(nil, 0))
	for _, want := range []string{
		"byte 0  1000 0001  FIN=1 RSV1=0 RSV2=0 RSV3=0 opcode=0x1 (text)",
		"byte 1  1000 0101  MASK=1 length=5",
		"5 bytes, 7-bit encoding",
		"key 37 fa 21 3d",
		"masked  7f 9f 4d 51 58",
		`text    "Hello"`,
	} {
		assert.Contains(t, out, want)
	}
}

func TestDumpLengthsAndClose(t *testing.T) {
	d := Dump{Header: frame.Header{Fin: true, OpCode: frame.OpBinary, Length: 256}, Wire: make([]byte, 256)}
	out := string(d.AppendText(nil, 8))
	assert.Contains(t, out, "16-bit encoding")
	assert.Contains(t, out, "extended length bytes 01 00")
	assert.Contains(t, out, "… (256 bytes)")

	d = Dump{Header: frame.Header{Fin: true, OpCode: frame.OpBinary, Length: 65536}, Wire: make([]byte, 65536)}
	assert.Contains(t, string(d.AppendText(nil, 8)), "64-bit encoding")

	p := frame.AppendClose(nil, frame.CloseGoingAway, "server restart")
	d = Dump{Header: frame.Header{Fin: true, OpCode: frame.OpClose, Length: int64(len(p))}, Wire: p}
	out = string(d.AppendText(nil, 0))
	assert.Contains(t, out, "1001 Going Away: an endpoint is going away")
	assert.Contains(t, out, `reason "server restart"`)

	bad := Dump{Header: frame.Header{Fin: true, OpCode: frame.OpClose, Length: 2}, Wire: []byte{0x03, 0xED}}
	assert.Contains(t, string(bad.AppendText(nil, 0)), "VIOLATION")
}

func TestDumpJSONWiresharkNames(t *testing.T) {
	wire := unhex(t, "81 85 37 fa 21 3d 7f 9f 4d 51 58")
	h, n, _ := frame.ParseHeader(wire)
	d := Dump{Header: h, Wire: wire[n:]}
	var m map[string]any
	require.NoError(t, json.Unmarshal(d.AppendJSON(nil), &m))
	assert.Equal(t, true, m["websocket.fin"])
	assert.Equal(t, float64(0), m["websocket.rsv"])
	assert.Equal(t, float64(1), m["websocket.opcode"])
	assert.Equal(t, true, m["websocket.mask"])
	assert.Equal(t, float64(5), m["websocket.payload_length"])
	assert.Equal(t, "37fa213d", m["websocket.masking_key"])
	assert.Equal(t, "7f9f4d5158", m["websocket.masked_payload"])
	assert.Equal(t, "Hello", m["websocket.payload.text"])

	p := frame.AppendClose(nil, frame.CloseNormal, "a\"b\x01\xff")
	d = Dump{Header: frame.Header{Fin: true, OpCode: frame.OpClose, Length: int64(len(p))}, Wire: p}
	m = nil
	require.NoError(t, json.Unmarshal(d.AppendJSON(nil), &m), "control characters and bad UTF-8 stay valid JSON")
	assert.Equal(t, float64(1000), m["websocket.payload.close.status_code"])
	assert.Equal(t, "a\"b\x01\ufffd", m["websocket.payload.close.reason"])

	d = Dump{Header: frame.Header{Fin: true, OpCode: frame.OpBinary, Length: 70000}, Wire: make([]byte, 70000)}
	m = nil
	require.NoError(t, json.Unmarshal(d.AppendJSON(nil), &m))
	assert.Equal(t, float64(127), m["websocket.payload_length"])
	assert.Equal(t, float64(70000), m["websocket.payload_length_ext_64"])
	assert.Equal(t, strings.Repeat("00", 70000), m["data.data"])
}

func TestDumpFragments(t *testing.T) {
	last := Dump{Header: frame.Header{Fin: true, OpCode: frame.OpContinuation, Length: 2}, Wire: []byte("lo"), Text: true, Fragment: "last", Message: []byte("Hello")}
	out := string(last.AppendText(nil, 0))
	assert.Contains(t, out, "fragment last fragment of a text message")
	assert.Contains(t, out, `message reassembled, 5 bytes: "Hello"`)
	var m map[string]any
	require.NoError(t, json.Unmarshal(last.AppendJSON(nil), &m))
	assert.Equal(t, "6c6f", m["websocket.payload.continue"])
	assert.Equal(t, "Hello", m["websocket.payload.text"], "the reassembled message, as Wireshark shows it")
	assert.Equal(t, "last", m["wsd.fragment"])
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	require.NoError(t, err)
	return b
}
