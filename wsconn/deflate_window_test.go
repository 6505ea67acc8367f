package wsconn

import (
	"bytes"
	"compress/flate"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/internal/wstest"
	"github.com/wsd-dev/wsd/upgrade"
)

func TestAppendTail(t *testing.T) {
	w := make([]byte, 0, 8)
	w = appendTail(w, []byte("abc"))
	assert.Equal(t, "abc", string(w))
	w = appendTail(w, []byte("defgh"))
	assert.Equal(t, "abcdefgh", string(w))
	w = appendTail(w, []byte("ij"))
	assert.Equal(t, "cdefghij", string(w), "the last cap bytes")
	w = appendTail(w, []byte("0123456789"))
	assert.Equal(t, "23456789", string(w))
	assert.Equal(t, 8, cap(w), "in place")
	assert.Zero(t, testing.AllocsPerRun(100, func() { w = appendTail(w, []byte("xyz")) }))
}

// Both windows and their lengths are one allocation of 2^recv + 2^send
// bytes: the takeover memory a connection holds.
func TestWindowSizes(t *testing.T) {
	for _, tc := range []struct {
		sendCtx, recvCtx bool
		sendBits, recv   uint8
		want             int
	}{
		{true, true, 10, 10, 2048},
		{true, true, 15, 8, 32768 + 256},
		{false, true, 15, 12, 4096 + winLens},
		{true, false, 9, 15, 512},
	} {
		f := uint32(tc.sendBits-8)*fSendBits0 | uint32(tc.recv-8)*fRecvBits0
		if tc.sendCtx {
			f |= fSendCtx
		}
		if tc.recvCtx {
			f |= fRecvCtx
		}
		r, s := windowSizes(f)
		assert.Equal(t, tc.want, r+s+winLens, "%+v", tc)
	}
}

// Context takeover both ways against the standard library's flate as the
// peer, with windows of 2^10 as the server imposes: the client compresses
// each message with its own last bytes as the dictionary (no more than
// the window minus the message, so that no distance passes 2^10), and
// inflates the server's messages with the server's last 1 KiB as the
// dictionary. Every echo inflates to what was sent, and once the context
// is warm both directions send a fraction of a message's size.
func TestTakeoverWindowsAgainstStdlib(t *testing.T) {
	s, obs := deflateServer(t, upgrade.DeflatePolicy{Mode: upgrade.DeflateTakeover, WindowBits: 10}, nil)
	c, err := wstest.Dial(s.Addr().String(), "/echo", "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits")
	require.NoError(t, err)
	defer c.Close()
	require.Equal(t, "permessage-deflate; server_max_window_bits=10; client_max_window_bits=10", c.Extension)
	const window = 1 << 10
	var up, down []byte // each direction's data sent compressed
	var upSizes, downSizes []int
	// Three notes of random words: they compress by themselves to about
	// half, and repeat within the window, where only the context makes a
	// message less than half of that.
	notes := make([][]byte, 2)
	for k := range notes {
		notes[k] = randomWords(35 + 5*k)
	}
	for i := range 40 {
		msg := []byte(fmt.Sprintf(`{"type":"order","n":%d,"note":"%s"}`, i, notes[i%2]))
		require.Less(t, len(msg), window)
		var zbuf bytes.Buffer
		zw, err := flate.NewWriterDict(&zbuf, flate.DefaultCompression, up[max(0, len(up)-(window-len(msg))):])
		require.NoError(t, err)
		zw.Write(msg)
		require.NoError(t, zw.Flush())
		z := bytes.TrimSuffix(zbuf.Bytes(), []byte{0, 0, 0xff, 0xff})
		up = append(up, msg...)
		upSizes = append(upSizes, len(z))
		_, err = c.Write(wstest.MaskedRsv(true, frame.Rsv1, frame.OpText, z))
		require.NoError(t, err)
		f, err := c.ReadFrame(3 * time.Second)
		require.NoError(t, err)
		require.Equal(t, frame.OpText, f.Header.OpCode, "message %d: %q", i, f.Payload)
		got := f.Payload
		if f.Header.Rsv&frame.Rsv1 != 0 {
			r := flate.NewReaderDict(io.MultiReader(bytes.NewReader(got), bytes.NewReader([]byte{0, 0, 0xff, 0xff, 1, 0, 0, 0xff, 0xff})), down[max(0, len(down)-window):])
			got, err = io.ReadAll(r)
			require.NoError(t, err, "message %d", i)
			down = append(down, got...) // only compressed messages are in the window
		} else {
			require.Less(t, i, 2, "message %d came back plain", i)
		}
		downSizes = append(downSizes, len(f.Payload))
		require.Equal(t, string(msg), string(got), "message %d", i)
	}
	require.GreaterOrEqual(t, obs.compressedSent(), 38)
	// The first two are new, every later one repeats one of them: alone
	// a message compresses to about half, with the context to far less
	// (from the fifth on: a first message may go plain if it does not
	// shrink, and then is not in the window).
	for i := 4; i < 40; i++ {
		require.Less(t, upSizes[i]*4, len(up)/40, "the client's message %d refers to its context: %v", i, upSizes)
		require.Less(t, downSizes[i]*4, len(up)/40, "the server's message %d refers to its context: %v", i, downSizes)
	}
}

// randomWords returns n words drawn at random from a small vocabulary.
func randomWords(n int) []byte {
	vocab := strings.Fields("tea cup pot leaf green black oolong jasmine kettle steep brew water hot cold sugar milk lemon honey spoon tray")
	var b []byte
	for _, r := range randomBytes(n) {
		b = append(append(b, vocab[int(r)%len(vocab)]...), ' ')
	}
	return b
}
