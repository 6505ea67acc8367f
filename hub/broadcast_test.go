package hub

import (
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/internal/wstest"
)

// Members join and leave between the chunks of a broadcast: whoever had
// the frame stays before the cursor and whoever had not stays after it, so
// that nobody gets it twice or is skipped.
func TestRemoveKeepsBroadcastOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		var lm loopMembers
		members := map[*member]bool{} // member → already has the frame
		for range rng.IntN(40) {
			lm.add(&member{})
		}
		lm.pos = rng.IntN(len(lm.list) + 1)
		for i, m := range lm.list {
			members[m] = i < lm.pos
		}
		for op := range 60 {
			if len(lm.list) > 0 && rng.IntN(3) > 0 {
				m := lm.list[rng.IntN(len(lm.list))]
				lm.remove(m)
				delete(members, m)
			} else {
				m := &member{}
				lm.add(m)
				members[m] = false // joins after the cursor: gets the frame
			}
			require.Len(t, lm.list, len(members), "round %d op %d", round, op)
			require.LessOrEqual(t, lm.pos, len(lm.list))
			for i, m := range lm.list {
				require.Equal(t, int32(i), m.slot, "round %d op %d: slot", round, op)
				sent, ok := members[m]
				require.True(t, ok, "round %d op %d: a removed member is still listed", round, op)
				require.Equal(t, sent, i < lm.pos, "round %d op %d: member at %d, cursor %d", round, op, i, lm.pos)
			}
		}
	}
}

// Broadcasts posted faster than the loops write them queue up and go out
// whole and in order. One connection per chunk makes every broadcast take
// several steps, so that hundreds wait at once.
func TestBroadcastBurstInOrder(t *testing.T) {
	e := start(t, Options{}, nil)
	for i := range e.hub.loops {
		e.hub.loops[i].chunk = 1 // before any broadcast: the loops read it after a Post
	}
	var cs []*wstest.Client
	for i := range 3 {
		c := e.dial("/ws/burst" + strconv.Itoa(i))
		msg(t, c)
		cs = append(cs, c)
	}
	// Hold the loops so that all of them wait in the queues at once.
	release := make(chan struct{})
	for i := range e.srv.NumLoops() {
		e.srv.Post(i, func() { <-release })
	}
	const n = 500
	for i := range n {
		e.hub.Broadcast(frame.OpText, []byte(strconv.Itoa(i)))
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
