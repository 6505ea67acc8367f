package wsconn

import (
	"bytes"
	"math/rand/v2"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/internal/wstest"
	"github.com/wsd-dev/wsd/upgrade"
)

// Members join and leave between the chunks of a send: whoever had the
// frame stays before the cursor and whoever had not stays after it, so
// that nobody gets it twice or is skipped.
func TestGroupRemoveKeepsSendOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	l := &loop{}
	for round := range 200 {
		g := &Group{id: 1, loops: make([]groupLoop, 1)}
		gl := &g.loops[0]
		members := map[*Conn]bool{} // member → already has the frame
		add := func() *Conn {
			c := &Conn{l: l}
			c.gslot = int32(gl.list.Len())
			c.gid = g.id
			gl.list.Push(c)
			return c
		}
		for range rng.IntN(40) {
			add()
		}
		gl.pos = rng.IntN(gl.list.Len() + 1)
		for i := range gl.list.Len() {
			members[gl.list.At(i)] = i < gl.pos
		}
		for op := range 60 {
			if gl.list.Len() > 0 && rng.IntN(3) > 0 {
				c := gl.list.At(rng.IntN(gl.list.Len()))
				g.remove(c)
				delete(members, c)
				require.Zero(t, c.gid, "a removed member forgets its group")
			} else {
				members[add()] = false // joins after the cursor: gets the frame
			}
			require.Equal(t, gl.list.Len(), len(members), "round %d op %d", round, op)
			require.LessOrEqual(t, gl.pos, gl.list.Len())
			for i := range gl.list.Len() {
				c := gl.list.At(i)
				require.Equal(t, int32(i), c.gslot, "round %d op %d: slot", round, op)
				sent, ok := members[c]
				require.True(t, ok, "round %d op %d: a removed member is still listed", round, op)
				require.Equal(t, sent, i < gl.pos, "round %d op %d: member at %d, cursor %d", round, op, i, gl.pos)
			}
		}
	}
}

// groupHandler puts every connection in g and greets it once it is in.
type groupHandler struct {
	g   *Group
	rec *closeRecorder
}

func (h groupHandler) OnOpen(c *Conn) {
	if err := h.g.Add(c); err != nil {
		c.Close(frame.CloseInternalError, err.Error())
		return
	}
	c.Send(frame.OpText, []byte("in"))
}
func (groupHandler) OnMessage(*Conn, frame.Opcode, []byte) {}
func (h groupHandler) OnClose(c *Conn, code frame.CloseCode, reason string) {
	h.rec.add(code, reason)
}

// startGroup runs a server whose /g connections all join one group.
func startGroup(t testing.TB, mod func(*Options)) (*Server, *Group, *closeRecorder) {
	t.Helper()
	o := Options{Addr: "127.0.0.1:0"}
	if mod != nil {
		mod(&o)
	}
	s, err := New(o)
	require.NoError(t, err)
	g, rec := s.NewGroup(), &closeRecorder{}
	require.NoError(t, s.Start(Routes{Upgrade: func(*Conn, *upgrade.Request) (Handler, *upgrade.Error) { return groupHandler{g, rec}, nil }}))
	t.Cleanup(func() {
		ctx, cancel := contextTimeout(3 * time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return s, g, rec
}

// joinGroup opens n members and waits until each is in.
func joinGroup(t testing.TB, s *Server, n int) []*wstest.Client {
	t.Helper()
	var cs []*wstest.Client
	for range n {
		c, err := wstest.Dial(s.Addr().String(), "/g", "")
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		_, p, err := c.ReadMessage(3 * time.Second)
		require.NoError(t, err)
		require.Equal(t, "in", string(p))
		cs = append(cs, c)
	}
	return cs
}

// Every member gets the very same frame, text or binary; members that
// close leave the group by themselves.
func TestGroupSameBytesToAll(t *testing.T) {
	s, g, _ := startGroup(t, nil)
	cs := joinGroup(t, s, 50)
	assert.Equal(t, 50, g.Send(Prepare(frame.OpText, []byte("to everyone 📣"))))
	for _, c := range cs {
		f, err := c.ReadFrame(3 * time.Second)
		require.NoError(t, err)
		assert.Equal(t, frame.OpText, f.Header.OpCode)
		assert.Equal(t, "to everyone 📣", string(f.Payload))
	}
	g.Send(Prepare(frame.OpBinary, []byte{0, 1}))
	f, err := cs[0].ReadFrame(time.Second)
	require.NoError(t, err)
	assert.Equal(t, frame.OpBinary, f.Header.OpCode)
	eventually(t, 3*time.Second, func() bool { return g.Sent() == 100 }, "sent %d frames, want 100", g.Sent())

	for _, c := range cs[:20] {
		c.Close()
	}
	eventually(t, 3*time.Second, func() bool { return g.Len() == 30 }, "closed members still in the group: %d", g.Len())
}

// Sends made faster than the loops write them queue up and go out whole
// and in order. One connection per chunk makes every send take several
// steps, so that hundreds wait at once.
func TestGroupSendBurstInOrder(t *testing.T) {
	s, g, _ := startGroup(t, nil)
	for i := range g.loops {
		g.loops[i].chunk = 1 // before any send: the loops read it after a Post
	}
	cs := joinGroup(t, s, 3)
	// Hold the loops so that all the sends wait in the queues at once.
	release := make(chan struct{})
	for _, l := range s.loops {
		l.pl.Post(func() { <-release })
	}
	const n = 500
	for i := range n {
		g.Send(Prepare(frame.OpText, []byte(strconv.Itoa(i))))
	}
	close(release)
	for _, c := range cs {
		for i := range n {
			_, p, err := c.ReadMessage(3 * time.Second)
			require.NoError(t, err)
			require.Equal(t, strconv.Itoa(i), string(p))
		}
	}
}

// A send allocates per call (one task per loop), never per member: ten
// times the members, the same allocations. Under the race detector,
// which allocates on its own, `make test` runs this test again without it.
func TestGroupSendAllocsDoNotGrowWithMembers(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates on its own; make test runs the allocation tests without it")
	}
	s, g, _ := startGroup(t, nil)
	p := Prepare(frame.OpText, []byte("same bytes for all"))
	allocs := func(n int) float64 {
		joinGroup(t, s, n-g.Len()) // their sockets keep the frames unread
		return testing.AllocsPerRun(100, func() {
			want := g.Sent() + int64(n)
			g.Send(p)
			for g.Sent() < want {
				runtime.Gosched()
			}
		})
	}
	few, many := allocs(10), allocs(100)
	t.Logf("allocations per send: %.1f for 10 members, %.1f for 100", few, many)
	assert.LessOrEqual(t, many, few+0.5, "allocations per send: %.1f for 10 members, %.1f for 100", few, many)
	assert.LessOrEqual(t, many, float64(len(s.loops)), "one task per loop at most")
}

// A slow member meets its queue cap and is closed with 1008; the others
// keep getting every frame.
func TestGroupSlowMember(t *testing.T) {
	// The close timeout is long: the Close waits behind what the slow
	// client's socket holds until it reads, and on a loaded machine the
	// sends take seconds more (the default 5 s ended it first there).
	s, g, rec := startGroup(t, func(o *Options) { o.QueueCap = 1 << 20; o.CloseTimeout = time.Minute })
	cs := joinGroup(t, s, 2)
	slow, fast := cs[0], cs[1]
	// slow never reads. (Its socket buffer is left alone: a receive buffer
	// shrunk below the MSS on loopback stalls TCP itself, both ways.)
	big := bytes.Repeat([]byte("b"), 16<<10)
	got := make(chan int)
	var read atomic.Int64
	go func() {
		for {
			op, _, err := fast.ReadMessage(2 * time.Second)
			if err != nil || op != frame.OpText {
				got <- int(read.Load())
				return
			}
			read.Add(1)
		}
	}()
	const n = 1500 // 24 MB: past the slow client's socket buffers (autotuned to several MB) and its 1 MiB queue
	p := Prepare(frame.OpText, big)
	for i := range n {
		// A stream the fast client keeps up with however slow this machine
		// is: at most 32 messages (512 KiB) ahead of it.
		for deadline := time.Now().Add(5 * time.Second); read.Load() < int64(i-32) && time.Now().Before(deadline); {
			runtime.Gosched()
		}
		g.Send(p)
	}
	assert.Equal(t, n, <-got, "the fast client got every frame")
	eventually(t, 5*time.Second, func() bool { return s.Stats().SlowConsumerClose == 1 }, "slow member not closed")
	// The slow client reads at last (within the close timeout): the frames
	// that were on their way, then the Close with 1008.
	var code frame.CloseCode
	for {
		f, err := slow.ReadFrame(3 * time.Second)
		require.NoError(t, err)
		if f.Header.OpCode == frame.OpClose {
			code, _ = f.Close()
			break
		}
	}
	assert.Equal(t, frame.ClosePolicyViolation, code)
	slow.Write(wstest.CloseFrame(code, ""))
	eventually(t, 3*time.Second, func() bool { return g.Len() == 1 }, "the slow member is still in the group")
	assert.Equal(t, []frame.CloseCode{frame.ClosePolicyViolation}, rec.list(), "OnClose reports 1008")
}
