package load

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestHistogramPercentilesWithinPrecision(t *testing.T) {
	var h Histogram
	rng := rand.New(rand.NewPCG(1, 1))
	vals := make([]int64, 100000)
	for i := range vals {
		vals[i] = int64(rng.ExpFloat64() * 2e6) // ~2 ms mean
		h.Record(time.Duration(vals[i]))
	}
	slices.Sort(vals)
	for _, p := range []float64{50, 90, 99, 99.9, 100} {
		want := vals[min(int(p/100*float64(len(vals)))-1, len(vals)-1)]
		got := int64(h.Percentile(p))
		assert.InDelta(t, want, got, float64(want)/64+1, "p%v", p)
		assert.GreaterOrEqual(t, got, want, "p%v never understates", p)
	}
	assert.Equal(t, time.Duration(vals[len(vals)-1]), h.Max())
	var a, b Histogram
	a.Record(time.Millisecond)
	b.Record(3 * time.Millisecond)
	a.Merge(&b)
	assert.Equal(t, uint64(2), a.Count())
	assert.Equal(t, 2*time.Millisecond, a.Mean())
}

func TestBucketRoundTrip(t *testing.T) {
	for v := int64(0); v < 1<<22; v += 1 + v/1000 {
		i := bucket(v)
		assert.GreaterOrEqual(t, bucketValue(i), v, "v=%d", v)
		if i > 0 {
			assert.Less(t, bucketValue(i-1), v, "v=%d lands in the first bucket that holds it", v)
		}
	}
}

func TestBucketBoundsTileTheValues(t *testing.T) {
	// Up to the last bucket an int64 reaches (2^63-1 is in bucket 3711).
	for i := 1; i < subBuckets+(63-subBits)*subBuckets/2; i++ {
		lo, hi := BucketBounds(i)
		_, prevHi := BucketBounds(i - 1)
		if prevHi+1 != lo || bucket(lo) != i || bucket(hi) != i {
			t.Fatalf("bucket %d: [%d, %d] after %d; bucket(lo) %d, bucket(hi) %d", i, lo, hi, prevHi, bucket(lo), bucket(hi))
		}
	}
}
