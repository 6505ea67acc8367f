package wsconn

import (
	"math/bits"
	"sync"
	"sync/atomic"
)

// budget lends the buffers of partly received messages: it caps the bytes
// lent across all connections (Options.MaxMessageMemory) and keeps given
// back buffers in power-of-two classes for reuse, so that a stream of large
// messages does not churn the garbage collector.
type budget struct {
	max     int64
	held    atomic.Int64 // lent out now
	pooled  atomic.Int64 // kept for reuse
	classes [numClasses]bufClass
}

type bufClass struct {
	mu   sync.Mutex
	free [][]byte
}

const (
	minClassShift = 12 // 4 KiB
	maxClassShift = 24 // 16 MiB
	numClasses    = maxClassShift - minClassShift + 1
	maxPooled     = 32 << 20 // bytes kept for reuse at most
)

func classOf(n int) (int, int) {
	shift := max(bits.Len(uint(n-1)), minClassShift)
	return shift - minClassShift, 1 << shift
}

// Get implements frame.Buffers.
func (b *budget) Get(n int) []byte {
	c, size := classOf(n)
	if c >= numClasses {
		size = n
	}
	if b.held.Add(int64(size)) > b.max {
		b.held.Add(-int64(size))
		return nil
	}
	if c < numClasses {
		bc := &b.classes[c]
		bc.mu.Lock()
		if k := len(bc.free); k > 0 {
			p := bc.free[k-1]
			bc.free[k-1] = nil
			bc.free = bc.free[:k-1]
			bc.mu.Unlock()
			b.pooled.Add(-int64(size))
			return p
		}
		bc.mu.Unlock()
	}
	return make([]byte, 0, size)
}

// Put implements frame.Buffers.
func (b *budget) Put(p []byte) {
	size := cap(p)
	b.held.Add(-int64(size))
	c, csize := classOf(size)
	if c >= numClasses || csize != size || b.pooled.Load()+int64(size) > maxPooled {
		return // the GC takes it
	}
	b.pooled.Add(int64(size))
	bc := &b.classes[c]
	bc.mu.Lock()
	bc.free = append(bc.free, p[:0])
	bc.mu.Unlock()
}
