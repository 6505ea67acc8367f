package wsconn

import "sync/atomic"

// stats are one loop's counters; each sits with its loop to keep the loops
// off each other's cache lines.
type stats struct {
	accepted, refused, closed, upgrades          atomic.Int64
	msgsIn, msgsOut, bytesIn, bytesOut           atomic.Int64
	queueDrops, slowCloses, protocolErrors       atomic.Int64
	handshakeErrors, handshakeTimeouts, httpReqs atomic.Int64
	pingTimeouts, tlsHandshakes                  atomic.Int64
	_                                            [64]byte
}

// Stats are the server's counters since it started.
type Stats struct {
	Connections       int64 `json:"connections"`
	Accepted          int64 `json:"accepted"`
	Refused           int64 `json:"refused"`
	Upgrades          int64 `json:"upgrades"`
	Closed            int64 `json:"closed"`
	MessagesIn        int64 `json:"messages_in"`
	MessagesOut       int64 `json:"messages_out"`
	BytesIn           int64 `json:"bytes_in"`
	BytesOut          int64 `json:"bytes_out"`
	QueueDrops        int64 `json:"queue_drops"`
	SlowConsumerClose int64 `json:"slow_consumer_closes"`
	ProtocolErrors    int64 `json:"protocol_errors"`
	HandshakeErrors   int64 `json:"handshake_errors"`
	HandshakeTimeouts int64 `json:"handshake_timeouts"`
	PingTimeouts      int64 `json:"ping_timeouts"`
	HTTPRequests      int64 `json:"http_connections"`
	TLSHandshakes     int64 `json:"tls_handshakes"`
	MessageMemory     int64 `json:"message_memory"`
}

// Stats sums the loops' counters. For a client, Accepted counts dials and
// Upgrades the handshakes that succeeded.
func (e *engine) Stats() Stats {
	st := Stats{Connections: e.conns.Load(), MessageMemory: e.budget.held.Load()}
	for _, l := range e.loops {
		x := &l.stats
		st.Accepted += x.accepted.Load()
		st.Refused += x.refused.Load()
		st.Upgrades += x.upgrades.Load()
		st.Closed += x.closed.Load()
		st.MessagesIn += x.msgsIn.Load()
		st.MessagesOut += x.msgsOut.Load()
		st.BytesIn += x.bytesIn.Load()
		st.BytesOut += x.bytesOut.Load()
		st.QueueDrops += x.queueDrops.Load()
		st.SlowConsumerClose += x.slowCloses.Load()
		st.ProtocolErrors += x.protocolErrors.Load()
		st.HandshakeErrors += x.handshakeErrors.Load()
		st.HandshakeTimeouts += x.handshakeTimeouts.Load()
		st.PingTimeouts += x.pingTimeouts.Load()
		st.HTTPRequests += x.httpReqs.Load()
		st.TLSHandshakes += x.tlsHandshakes.Load()
	}
	return st
}
