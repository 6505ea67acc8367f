package hub

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/wsd-dev/wsd/wsconn"
)

// fanoutHistogram is the broadcasts' fan-out times (wsconn.Group.Fanout of
// the group every user connection is in) as a Prometheus histogram.
func fanoutHistogram(st wsconn.FanoutStats) prometheus.Metric {
	buckets := make(map[float64]uint64, len(st.Buckets))
	for i, n := range st.Buckets {
		buckets[wsconn.FanoutBuckets[i].Seconds()] = uint64(n)
	}
	return prometheus.MustNewConstHistogram(descFanout, uint64(st.Count), st.Sum.Seconds(), buckets)
}
