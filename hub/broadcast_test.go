package hub

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
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
