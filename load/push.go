package load

import (
	"bytes"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsd-dev/wsd/frame"
)

// Push measures server-pushed messages: every message carrying a stamp
// "T=<unix ns>;k=<kind>;id=<n>;" anywhere in its payload is timed from the
// stamp to its arrival (sender and receivers share this machine's clock).
// Latencies are kept per kind, and per id the latest arrival: the time
// until the last receiver had a broadcast. Messages without a stamp (a
// server's greeting) are counted and ignored.
type Push struct {
	received, stamped atomic.Int64
}

type pushLoop struct {
	hists map[string]*Histogram
	maxBy map[int64]time.Duration // id → latest arrival
}

// PushStamp formats the stamp Push looks for.
func PushStamp(kind string, id int64, at time.Time) []byte {
	b := append([]byte("T="), strconv.FormatInt(at.UnixNano(), 10)...)
	b = append(append(append(b, ";k="...), kind...), ";id="...)
	return append(strconv.AppendInt(b, id, 10), ';')
}

func (*Push) Open(*Conn)                {}
func (*Push) Tick(*Loop, time.Duration) {}

func (s *Push) Message(c *Conn, op frame.Opcode, p []byte) {
	now := time.Now().UnixNano()
	s.received.Add(1)
	i := bytes.Index(p, []byte("T="))
	if i < 0 {
		return
	}
	t, kind, id, ok := parseStamp(p[i:])
	if !ok {
		return
	}
	s.stamped.Add(1)
	l := c.l
	pl, _ := l.Data.(*pushLoop)
	if pl == nil {
		pl = &pushLoop{hists: map[string]*Histogram{}, maxBy: map[int64]time.Duration{}}
		l.Data = pl
	}
	h := pl.hists[kind]
	if h == nil {
		h = &Histogram{}
		pl.hists[string(kind)] = h
	}
	lat := time.Duration(now - t)
	h.Record(lat)
	l.Hist.Record(lat) // every kind: the engine's latency, which its series takes per second
	if kind == "B" {
		pl.maxBy[id] = max(pl.maxBy[id], lat)
	}
}

func parseStamp(p []byte) (t int64, kind string, id int64, ok bool) {
	field := func(prefix string) ([]byte, bool) {
		if !bytes.HasPrefix(p, []byte(prefix)) {
			return nil, false
		}
		p = p[len(prefix):]
		j := bytes.IndexByte(p, ';')
		if j < 0 {
			return nil, false
		}
		v := p[:j]
		p = p[j+1:]
		return v, true
	}
	tv, ok1 := field("T=")
	kv, ok2 := field("k=")
	iv, ok3 := field("id=")
	if !ok1 || !ok2 || !ok3 {
		return 0, "", 0, false
	}
	var err1, err2 error
	t, err1 = strconv.ParseInt(string(tv), 10, 64)
	id, err2 = strconv.ParseInt(string(iv), 10, 64)
	return t, string(kv), id, err1 == nil && err2 == nil
}

// PushResult is what a Push measured, mergeable across processes.
type PushResult struct {
	Received int64                    `json:"received"`
	Stamped  int64                    `json:"stamped"`
	Kinds    map[string]HistogramData `json:"kinds"`
	LastByID map[int64]int64          `json:"last_arrival_ns_by_id"`
}

// Collect merges the loops' measurements.
func (s *Push) Collect(e *Engine) PushResult {
	r := PushResult{Received: s.received.Load(), Stamped: s.stamped.Load(), Kinds: map[string]HistogramData{}, LastByID: map[int64]int64{}}
	merged := map[string]*Histogram{}
	var mu sync.Mutex
	e.OnLoops(func(l *Loop) {
		pl, _ := l.Data.(*pushLoop)
		if pl == nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		for k, h := range pl.hists {
			if merged[k] == nil {
				merged[k] = &Histogram{}
			}
			merged[k].Merge(h)
		}
		for id, d := range pl.maxBy {
			r.LastByID[id] = max(r.LastByID[id], int64(d))
		}
	})
	for k, h := range merged {
		r.Kinds[k] = h.Export()
	}
	return r
}
