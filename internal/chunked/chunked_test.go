package chunked

import (
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A List behaves as a slice under any sequence of pushes, pops and swap
// removals, and frees chunks it no longer needs.
func TestListLikeASlice(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var l List[int]
	var ref []*int
	for op := range 20000 {
		switch k := rng.IntN(10); {
		case k < 6 || len(ref) == 0:
			v := new(int)
			*v = op
			l.Push(v)
			ref = append(ref, v)
		case k < 8:
			l.Pop()
			ref = ref[:len(ref)-1]
		default:
			i := rng.IntN(len(ref))
			l.SwapRemove(i)
			ref[i] = ref[len(ref)-1]
			ref = ref[:len(ref)-1]
		}
		require.Equal(t, len(ref), l.Len(), "op %d", op)
		if op%97 == 0 {
			var got []*int
			l.All(func(p *int) bool { got = append(got, p); return true })
			require.Equal(t, ref, append([]*int{}, got...), "op %d", op)
		}
		require.LessOrEqual(t, len(l.chunks), l.Len()/Len+2, "op %d: chunks kept", op)
	}
	for l.Len() > 0 {
		l.Pop()
	}
	assert.LessOrEqual(t, len(l.chunks), 2, "an empty list keeps at most a spare chunk")
	for _, c := range l.chunks {
		for _, p := range c {
			assert.Nil(t, p, "popped elements are cleared for the collector")
		}
	}
}

// A Table's chunks appear on first store, from many goroutines at once,
// and nothing stored is lost.
func TestTableConcurrentStores(t *testing.T) {
	tb := NewTable[int](10 * Len)
	assert.Equal(t, 10*Len, tb.Size())
	vals := make([]int, tb.Size())
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < tb.Size(); i += 8 {
				tb.Store(i, &vals[i])
			}
		}()
	}
	wg.Wait()
	for i := range tb.Size() {
		require.Same(t, &vals[i], tb.Load(i), "index %d", i)
	}
	tb.Store(3, nil)
	assert.Nil(t, tb.Load(3))
	empty := NewTable[int](Len * 4)
	empty.Store(Len*2, nil) // a nil store does not make a chunk
	assert.Nil(t, empty.chunks[2].Load())
	assert.Nil(t, empty.Load(Len*3+1))
}

func TestArray(t *testing.T) {
	a := NewArray[int](300)
	assert.Equal(t, 2*Len, a.Len(), "a whole number of chunks")
	v := 7
	a.Set(299, &v)
	assert.Same(t, &v, a.At(299))
	assert.Nil(t, a.At(0))
}
