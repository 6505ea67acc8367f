package trace

import (
	"bytes"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/internal/wstest"
)

// recordingTap keeps the lines it is given while on.
type recordingTap struct {
	on    atomic.Bool
	asked atomic.Int64
	lines []string
}

func (r *recordingTap) Watching() bool    { r.asked.Add(1); return r.on.Load() }
func (r *recordingTap) Event(line []byte) { r.lines = append(r.lines, string(line)) }

// tapFrames is a session with a bit of everything (its masks drawn once).
var tapFrames = []segment{
	c2s([]byte(request)),
	s2c(response()),
	c2s(wstest.Masked(true, frame.OpText, []byte("hello"))),
	c2s(wstest.Masked(false, frame.OpText, []byte("Hel"))),
	c2s(wstest.Masked(true, frame.OpPing, []byte("p"))),
	c2s(wstest.Masked(true, frame.OpContinuation, []byte("lo"))),
	c2s(wstest.Unmasked(true, frame.OpText, []byte("unmasked: §5.1"))),
	s2c(wstest.Unmasked(true, frame.OpPong, []byte("p"))),
	c2s(wstest.CloseFrame(1000, "bye")),
}

func tapSession(c *Conn) {
	for _, s := range tapFrames {
		c.Feed(s.d, s.b)
	}
	c.End("test over")
}

// The tap gets the very lines wsdump -json writes, whatever the writer's
// format is, and with no writer at all.
func TestTapGetsTheJSONLines(t *testing.T) {
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return at }
	var js bytes.Buffer
	want := New(&js, Options{JSON: true})
	want.now = clock
	tapSession(want.Conn("127.0.0.1:1", "127.0.0.1:2"))
	wantLines := strings.Split(strings.TrimSuffix(js.String(), "\n"), "\n")
	require.Len(t, wantLines, 11)

	for _, tc := range []struct {
		name string
		w    io.Writer
		opt  Options
	}{
		{"human writer", &bytes.Buffer{}, Options{}},
		{"JSON writer", &bytes.Buffer{}, Options{JSON: true}},
		{"no writer", nil, Options{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tap := &recordingTap{}
			tap.on.Store(true)
			tc.opt.Tap = tap
			tr := New(tc.w, tc.opt)
			tr.now = clock
			tapSession(tr.Conn("127.0.0.1:1", "127.0.0.1:2"))
			assert.Equal(t, wantLines, tap.lines)
			if b, ok := tc.w.(*bytes.Buffer); ok && tc.opt.JSON {
				assert.Equal(t, js.String(), b.String(), "the writer's JSON is unchanged by the tap")
			} else if ok {
				assert.Contains(t, b.String(), "opening handshake: request", "the writer still gets the human dump")
			}
		})
	}
}

// Nobody watching: the tap is asked once per event and given nothing.
func TestTapNotWatching(t *testing.T) {
	tap := &recordingTap{}
	tr := New(nil, Options{Tap: tap})
	assert.False(t, tr.Traces(), "no writer and nobody watching")
	tapSession(tr.Conn("127.0.0.1:1", "127.0.0.1:2"))
	assert.Empty(t, tap.lines)
	assert.Equal(t, int64(11+1), tap.asked.Load(), "one question per event (and Traces')")
	tap.on.Store(true)
	assert.True(t, tr.Traces())
}

// With nobody watching, a tap costs nothing per frame: a tracer with an
// idle tap allocates what one without a tap does (fails if the event is
// rendered for nobody).
func TestTapIdleAllocatesNothingMore(t *testing.T) {
	frameBytes := wstest.Masked(true, frame.OpText, []byte("hello, allocations"))
	allocs := func(tap Tap) float64 {
		tr := New(nil, Options{Tap: tap})
		c := tr.Conn("127.0.0.1:1", "127.0.0.1:2")
		c.Feed(ClientToServer, []byte(request))
		c.Feed(ServerToClient, response())
		return testing.AllocsPerRun(200, func() { c.Feed(ClientToServer, frameBytes) })
	}
	none := allocs(nil)
	idle := allocs(&recordingTap{})
	assert.Equal(t, none, idle, "allocations per frame without a tap and with an idle one")
	watched := &recordingTap{}
	watched.on.Store(true)
	assert.Greater(t, allocs(watched), none, "rendering for a viewer allocates: the comparison can fail")
}

// wsd.header is the header as it crossed (a length in more bytes than it
// needs too) and wsd.payload the payload unmasked, as bytes.
func TestJSONHeaderAndPayloadBytes(t *testing.T) {
	var out bytes.Buffer
	tr := New(&out, Options{JSON: true})
	c := tr.Conn("127.0.0.1:1", "127.0.0.1:2")
	c.Feed(ClientToServer, []byte(request))
	c.Feed(ServerToClient, response())
	// "Hi" with its length 2 in the 16-bit form (§5.2 wants the 7-bit one).
	c.Feed(ClientToServer, unhex(t, "81 fe 00 02 01 02 03 04")) // FIN text, MASK, 126, length 00 02, key
	c.Feed(ClientToServer, []byte{'H' ^ 1, 'i' ^ 2})
	c.Feed(ServerToClient, wstest.Unmasked(true, frame.OpBinary, []byte{0xde, 0xad}))
	fs := ofKind(events(t, &out), "frame")
	require.Len(t, fs, 2)
	assert.Equal(t, "81fe000201020304", fs[0]["wsd.header"])
	assert.Equal(t, "4869", fs[0]["wsd.payload"])
	assert.Equal(t, float64(126), fs[0]["websocket.payload_length"], "the length field as sent")
	assert.Equal(t, "5.2", fs[0]["violations"].([]any)[0].(map[string]any)["section"])
	assert.Equal(t, "8202", fs[1]["wsd.header"])
	assert.Equal(t, "dead", fs[1]["wsd.payload"])
}

// BenchmarkFeedTap: one 64-byte masked text frame through a tracer with no
// writer — no tap, an idle tap, a tap someone watches — and, for scale,
// with wsdump -json's writer.
func BenchmarkFeedTap(b *testing.B) {
	frameBytes := wstest.Masked(true, frame.OpText, bytes.Repeat([]byte("x"), 64))
	for _, bc := range []struct {
		name string
		w    io.Writer
		tap  Tap
	}{
		{"no tap", nil, nil},
		{"idle tap", nil, &recordingTap{}},
		{"watched tap", nil, discardTap{}},
		{"json writer", io.Discard, nil},
	} {
		b.Run(bc.name, func(b *testing.B) {
			tr := New(bc.w, Options{JSON: true, Tap: bc.tap})
			c := tr.Conn("127.0.0.1:1", "127.0.0.1:2")
			c.Feed(ClientToServer, []byte(request))
			c.Feed(ServerToClient, response())
			b.ReportAllocs()
			for b.Loop() {
				c.Feed(ClientToServer, frameBytes)
			}
		})
	}
}

// discardTap watches and keeps nothing.
type discardTap struct{}

func (discardTap) Watching() bool { return true }
func (discardTap) Event([]byte)   {}
