package hub

import (
	"bytes"
	"net/http"
	"os"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// GET /metrics: the server's and the hub's counters in the Prometheus text
// format. Nothing is counted for Prometheus on the hot path: the counters
// are the atomics wsconn and the hub keep anyway (per loop, on their own
// cache lines), read at scrape time by a collector; the standard Go and
// process collectors add the runtime's (GC pauses among them).

func (h *Hub) metricsHandler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), &collector{h: h})
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: nil})
}

// collector reads the counters at each scrape.
type collector struct{ h *Hub }

// Describe lists the descriptions (not through Collect: registration
// happens before the loops run, and Collect asks them).
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descConns, descLoopConns, descAccepted, descRefusedAccept, descClosed,
		descHandshakes, descRefusals, descMessages, descBytes, descSends, descDeliveries, descQueueDrops,
		descSlowCloses, descCloseCodes, descAuthFailures, descRateLimited, descProtocolErrors, descPingTimeouts,
		descExpired, descMsgMemory, descUsers, descRooms, descRSS, descRSSPerConn, descFanout} {
		ch <- d
	}
}

var (
	descConns          = prometheus.NewDesc("wsd_connections", "Connections now, by state.", []string{"state"}, nil)
	descLoopConns      = prometheus.NewDesc("wsd_loop_connections", "Connections now, by event loop and state.", []string{"loop", "state"}, nil)
	descAccepted       = prometheus.NewDesc("wsd_connections_accepted_total", "TCP connections accepted.", nil, nil)
	descRefusedAccept  = prometheus.NewDesc("wsd_connections_refused_total", "TCP connections closed at accept (-max-conns, out of fds, shutting down).", nil, nil)
	descClosed         = prometheus.NewDesc("wsd_connections_closed_total", "Connections closed.", nil, nil)
	descHandshakes     = prometheus.NewDesc("wsd_handshakes_total", "Opening handshakes by result.", []string{"result"}, nil)
	descRefusals       = prometheus.NewDesc("wsd_handshake_refusals_total", "Refused handshakes by HTTP status.", []string{"status"}, nil)
	descMessages       = prometheus.NewDesc("wsd_messages_total", "WebSocket messages, by direction.", []string{"direction"}, nil)
	descBytes          = prometheus.NewDesc("wsd_bytes_total", "Bytes read from and written to sockets.", []string{"direction"}, nil)
	descSends          = prometheus.NewDesc("wsd_hub_sends_total", "Hub sends by kind (a broadcast or room send counts once).", []string{"kind"}, nil)
	descDeliveries     = prometheus.NewDesc("wsd_hub_deliveries_total", "Frames handed to connections by the hub's sends.", nil, nil)
	descQueueDrops     = prometheus.NewDesc("wsd_queue_drops_total", "Queued messages dropped at the queue cap (-drop-oldest).", nil, nil)
	descSlowCloses     = prometheus.NewDesc("wsd_slow_consumer_closes_total", "Connections closed with 1008 at the queue cap.", nil, nil)
	descCloseCodes     = prometheus.NewDesc("wsd_close_codes_total", "Close frames by code, sent and received.", []string{"direction", "code"}, nil)
	descAuthFailures   = prometheus.NewDesc("wsd_auth_failures_total", "Refused tokens by reason.", []string{"reason"}, nil)
	descRateLimited    = prometheus.NewDesc("wsd_rate_limited_total", "Connections or handshakes refused by a limit.", []string{"limit"}, nil)
	descProtocolErrors = prometheus.NewDesc("wsd_protocol_errors_total", "Connections failed for breaking RFC 6455.", nil, nil)
	descPingTimeouts   = prometheus.NewDesc("wsd_ping_timeouts_total", "Connections closed for not answering pings.", nil, nil)
	descExpired        = prometheus.NewDesc("wsd_expired_total", "Connections whose token expired.", nil, nil)
	descMsgMemory      = prometheus.NewDesc("wsd_message_memory_bytes", "Bytes held by partly received messages.", nil, nil)
	descUsers          = prometheus.NewDesc("wsd_hub_users", "Users known and online.", []string{"state"}, nil)
	descRooms          = prometheus.NewDesc("wsd_hub_rooms", "Rooms with members.", nil, nil)
	descRSS            = prometheus.NewDesc("wsd_rss_bytes", "Resident memory of the process.", nil, nil)
	descRSSPerConn     = prometheus.NewDesc("wsd_rss_bytes_per_connection", "Resident memory divided by the connections (0 with none).", nil, nil)
	descFanout         = prometheus.NewDesc("wsd_broadcast_fanout_seconds", "Time from a broadcast to the last event loop having written or queued it to all its connections.", nil, nil)
)

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	h := c.h
	st := h.srv.Stats()
	counter := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	var total [3]int
	for i, lc := range h.srv.ConnsByLoop() {
		loop := strconv.Itoa(i)
		for j, n := range [3]int{lc.Handshaking, lc.Open, lc.Closing} {
			gauge(descLoopConns, float64(n), loop, stateNames[j])
			total[j] += n
		}
	}
	for j, n := range total {
		gauge(descConns, float64(n), stateNames[j])
	}
	counter(descAccepted, st.Accepted)
	counter(descRefusedAccept, st.Refused)
	counter(descClosed, st.Closed)
	counter(descHandshakes, st.Upgrades, "upgraded")
	counter(descHandshakes, st.HandshakeErrors, "refused")
	counter(descHandshakes, st.HandshakeTimeouts, "timeout")
	counter(descHandshakes, st.HTTPRequests, "http")
	for status, n := range h.srv.Refusals() {
		counter(descRefusals, n, status)
	}
	counter(descMessages, st.MessagesIn, "in")
	counter(descMessages, st.MessagesOut, "out")
	counter(descBytes, st.BytesIn, "in")
	counter(descBytes, st.BytesOut, "out")
	hc := h.Counts()
	counter(descSends, hc.Published, "publish")
	counter(descSends, hc.Broadcasts, "broadcast")
	counter(descSends, hc.RoomSends, "room")
	counter(descDeliveries, hc.Delivered)
	counter(descQueueDrops, st.QueueDrops)
	counter(descSlowCloses, st.SlowConsumerClose)
	sent, received := h.srv.CloseCodes()
	for code, n := range sent {
		counter(descCloseCodes, n, "sent", code)
	}
	for code, n := range received {
		counter(descCloseCodes, n, "received", code)
	}
	for reason, n := range h.AuthFailures() {
		counter(descAuthFailures, n, reason)
	}
	counter(descRateLimited, st.RateLimited, "client_msg_rate")
	counter(descRateLimited, st.HandshakeLimited, "handshake_rate")
	counter(descRateLimited, h.userCapRefusals.Load(), "conns_per_user")
	counter(descProtocolErrors, st.ProtocolErrors)
	counter(descPingTimeouts, st.PingTimeouts)
	counter(descExpired, st.Expired)
	gauge(descMsgMemory, float64(st.MessageMemory))
	gauge(descUsers, float64(hc.Users), "known")
	gauge(descUsers, float64(hc.UsersOnline), "online")
	gauge(descRooms, float64(hc.Rooms))
	ch <- fanoutHistogram(h.everyone.Fanout())
	if rss := rssBytes(); rss > 0 {
		gauge(descRSS, float64(rss))
		perConn := 0.0
		if st.Connections > 0 {
			perConn = float64(rss) / float64(st.Connections)
		}
		gauge(descRSSPerConn, perConn)
	}
}

var stateNames = [3]string{"handshaking", "open", "closing"}

// rssBytes reads the process's resident set from /proc (0 elsewhere).
func rssBytes() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := bytes.Fields(b)
	if len(f) < 2 {
		return 0
	}
	pages, err := strconv.ParseInt(string(f[1]), 10, 64)
	if err != nil {
		return 0
	}
	return pages * int64(os.Getpagesize())
}
