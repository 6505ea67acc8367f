package hub

import (
	"encoding/json"
	"math"
	"sync"
	"time"

	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/wsconn"
)

// The dashboard's samples. A sampler goroutine runs only while at least
// one dashboard socket is open: the first viewer starts it, the last one
// to close stops it, and nothing is read or counted for the dashboard
// otherwise. Each second it reads the counters wsd keeps anyway (the
// server's Stats and ConnsByLoop, the hub's Counts, the broadcast group's
// fan-out times, /proc's RSS), turns the counters into rates over the time
// since the previous sample, encodes the sample once and sends the same
// frame to every viewer. The last DashboardHistory samples are kept for a
// page that opens: {"type":"history","samples":[…]} first, then
// {"type":"sample",…} each second.

// dashboard is the hub's viewers and its recent samples.
type dashboard struct {
	mu      sync.Mutex
	viewers []*wsconn.Conn
	stop    chan struct{} // the running sampler's; nil when none runs
	history [][]byte      // encoded samples, oldest first, at most DashboardHistory
}

// sample is what a dashboard gets each second. Totals are since wsd
// started; Rate is nil in the first sample after the sampler starts.
type sample struct {
	Type        string  `json:"type"` // "sample"
	T           int64   `json:"t"`    // Unix milliseconds
	Loops       []int   `json:"loops"`
	Conns       int     `json:"conns"` // open WebSocket connections, every loop, dashboards included
	Handshaking int     `json:"handshaking"`
	Closing     int     `json:"closing"`
	UserConns   int64   `json:"user_conns"` // connections of users (/ws/…)
	Viewers     int     `json:"viewers"`    // open dashboards
	UsersOnline int64   `json:"users_online"`
	MsgsIn      int64   `json:"msgs_in"`
	MsgsOut     int64   `json:"msgs_out"`
	BytesIn     int64   `json:"bytes_in"`
	BytesOut    int64   `json:"bytes_out"`
	Broadcasts  int64   `json:"broadcasts"`
	Deliveries  int64   `json:"deliveries"`
	QueueDrops  int64   `json:"queue_drops"`
	SlowCloses  int64   `json:"slow_closes"`
	Fanouts     int64   `json:"fanouts"`        // broadcasts whose fan-out was timed
	FanoutLast  float64 `json:"fanout_last_ms"` // the latest one's time
	RSS         int64   `json:"rss"`
	RSSPerConn  float64 `json:"rss_per_conn"` // over every connection, as wsd_rss_bytes_per_connection
	Rate        *rates  `json:"rate"`

	fanoutSum time.Duration
	at        time.Time
}

// rates are per second over Dt seconds, up to this sample.
type rates struct {
	Dt         float64  `json:"dt"`
	MsgsIn     float64  `json:"msgs_in"`
	MsgsOut    float64  `json:"msgs_out"`
	BytesIn    float64  `json:"bytes_in"`
	BytesOut   float64  `json:"bytes_out"`
	Broadcasts float64  `json:"broadcasts"`
	Deliveries float64  `json:"deliveries"`
	QueueDrops float64  `json:"queue_drops"`
	FanoutMean *float64 `json:"fanout_ms"` // mean fan-out time of the broadcasts timed in Dt; nil without any
}

// viewer is a dashboard socket's handler.
type viewer struct{}

func (viewer) OnOpen(c *wsconn.Conn) { hubOf(c).dash.add(hubOf(c), c) }

// OnMessage ignores what a page sends: it has nothing to say.
func (viewer) OnMessage(*wsconn.Conn, frame.Opcode, []byte) {}

func (viewer) OnClose(c *wsconn.Conn, _ frame.CloseCode, _ string) { hubOf(c).dash.remove(c) }

// add sends the history to a new viewer and starts the sampler for the
// first one. It runs on the connection's loop and must not wait for the
// loops: the sampler reads them in its own goroutine.
func (d *dashboard) add(h *Hub, c *wsconn.Conn) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.viewers = append(d.viewers, c)
	msg := append([]byte(`{"type":"history","interval_ms":`), []byte(jsonInt(DashboardInterval.Milliseconds())+`,"samples":[`)...)
	for i, s := range d.history {
		if i > 0 {
			msg = append(msg, ',')
		}
		msg = append(msg, s...)
	}
	c.Send(frame.OpText, append(msg, "]}"...))
	if d.stop == nil {
		d.stop = make(chan struct{})
		go d.run(h, d.stop)
	}
}

func (d *dashboard) remove(c *wsconn.Conn) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i, v := range d.viewers {
		if v == c {
			d.viewers[i] = d.viewers[len(d.viewers)-1]
			d.viewers[len(d.viewers)-1] = nil
			d.viewers = d.viewers[:len(d.viewers)-1]
			break
		}
	}
	if len(d.viewers) == 0 && d.stop != nil {
		close(d.stop)
		d.stop = nil
	}
}

// Viewers returns the number of open dashboards.
func (h *Hub) Viewers() int {
	h.dash.mu.Lock()
	defer h.dash.mu.Unlock()
	return len(h.dash.viewers)
}

// run samples now and every DashboardInterval until stop is closed.
func (d *dashboard) run(h *Hub, stop chan struct{}) {
	t := time.NewTicker(DashboardInterval)
	defer t.Stop()
	var prev *sample
	for {
		s := h.takeSample(prev)
		d.mu.Lock()
		if d.stop != stop { // stopped (and perhaps restarted) meanwhile
			d.mu.Unlock()
			return
		}
		s.Viewers = len(d.viewers)
		b, err := json.Marshal(s)
		if err != nil {
			panic("hub: encoding a dashboard sample: " + err.Error()) // plain numbers: cannot fail
		}
		if len(d.history) == DashboardHistory {
			copy(d.history, d.history[1:])
			d.history = d.history[:DashboardHistory-1]
		}
		d.history = append(d.history, b)
		p := wsconn.Prepare(frame.OpText, b)
		for _, c := range d.viewers {
			c.SendPrepared(p) // never blocks: queued up to the queue cap
		}
		d.mu.Unlock()
		prev = s
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}

// takeSample reads the counters; with the previous sample, the rates too.
func (h *Hub) takeSample(prev *sample) *sample {
	now := time.Now()
	st := h.srv.Stats()
	hc := h.Counts()
	fo := h.everyone.Fanout()
	s := &sample{Type: "sample", T: now.UnixMilli(), at: now,
		UserConns: hc.Connections, UsersOnline: hc.UsersOnline,
		MsgsIn: st.MessagesIn, MsgsOut: st.MessagesOut, BytesIn: st.BytesIn, BytesOut: st.BytesOut,
		Broadcasts: hc.Broadcasts, Deliveries: hc.Delivered, QueueDrops: st.QueueDrops, SlowCloses: st.SlowConsumerClose,
		Fanouts: fo.Count, FanoutLast: ms(fo.Last), fanoutSum: fo.Sum, RSS: rssBytes()}
	for _, lc := range h.srv.ConnsByLoop() {
		s.Loops = append(s.Loops, lc.Open)
		s.Conns += lc.Open
		s.Handshaking += lc.Handshaking
		s.Closing += lc.Closing
	}
	if st.Connections > 0 {
		s.RSSPerConn = math.Round(float64(s.RSS) / float64(st.Connections))
	}
	if prev == nil {
		return s
	}
	dt := now.Sub(prev.at).Seconds()
	per := func(cur, old int64) float64 { return round3(float64(cur-old) / dt) }
	s.Rate = &rates{Dt: round3(dt),
		MsgsIn: per(s.MsgsIn, prev.MsgsIn), MsgsOut: per(s.MsgsOut, prev.MsgsOut),
		BytesIn: per(s.BytesIn, prev.BytesIn), BytesOut: per(s.BytesOut, prev.BytesOut),
		Broadcasts: per(s.Broadcasts, prev.Broadcasts), Deliveries: per(s.Deliveries, prev.Deliveries),
		QueueDrops: per(s.QueueDrops, prev.QueueDrops)}
	if n := s.Fanouts - prev.Fanouts; n > 0 {
		mean := ms((s.fanoutSum - prev.fanoutSum) / time.Duration(n))
		s.Rate.FanoutMean = &mean
	}
	return s
}

// ms is d in milliseconds, to the microsecond.
func ms(d time.Duration) float64 { return round3(float64(d) / float64(time.Millisecond)) }

func round3(x float64) float64 { return math.Round(x*1000) / 1000 }

func jsonInt(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
