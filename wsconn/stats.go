package wsconn

import (
	"iter"
	"strconv"
	"sync/atomic"

	"github.com/wsd-dev/wsd/frame"
)

// stats are one loop's counters; each sits with its loop to keep the loops
// off each other's cache lines.
type stats struct {
	accepted, refused, closed, upgrades          atomic.Int64
	msgsIn, msgsOut, bytesIn, bytesOut           atomic.Int64
	queueDrops, slowCloses, protocolErrors       atomic.Int64
	handshakeErrors, handshakeTimeouts, httpReqs atomic.Int64
	pingTimeouts, rateLimited, handshakeLimited  atomic.Int64
	expired                                      atomic.Int64
	refusedBy                                    [len(refusalStatuses) + 1]atomic.Int64
	codes                                        codes
	tlsHandshakes                                atomic.Int64
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
	RateLimited       int64 `json:"rate_limited"`      // connections closed for sending over ClientMsgRate
	HandshakeLimited  int64 `json:"handshake_limited"` // handshakes refused with 429 over HandshakeRate
	Expired           int64 `json:"expired"`           // connections whose expiry passed
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
		st.RateLimited += x.rateLimited.Load()
		st.HandshakeLimited += x.handshakeLimited.Load()
		st.Expired += x.expired.Load()
		st.TLSHandshakes += x.tlsHandshakes.Load()
	}
	return st
}

// The statuses refused handshakes are counted by, and the close codes;
// anything else is counted as "other".
var (
	refusalStatuses = [...]int{400, 401, 403, 404, 405, 409, 413, 426, 429, 431, 500, 503}
	closeCodeNames  = [...]string{"1000", "1001", "1002", "1003", "1004", "1005", "1006", "1007", "1008", "1009",
		"1010", "1011", "1012", "1013", "1014", "1015", "3xxx", "4001", "4xxx", "other"}
)

const numCloseCodes = len(closeCodeNames)

// codeSlot is the counter index of a close code.
func codeSlot(code frame.CloseCode) int {
	switch {
	case code >= 1000 && code <= 1015:
		return int(code - 1000)
	case code >= 3000 && code <= 3999:
		return 16
	case code == 4001:
		return 17
	case code >= 4000 && code <= 4999:
		return 18
	}
	return 19
}

// statusSlot is the counter index of a refusal's status.
func statusSlot(status int) int {
	for i, s := range refusalStatuses {
		if s == status {
			return i
		}
	}
	return len(refusalStatuses)
}

// codes counts close codes, sent and received.
type codes struct {
	sent, received [numCloseCodes]atomic.Int64
}

// Refusals returns the refused handshakes by HTTP status ("other" for
// statuses not listed in refusalStatuses).
func (e *engine) Refusals() map[string]int64 {
	out := map[string]int64{}
	for _, l := range e.loops {
		for i := range l.stats.refusedBy {
			if n := l.stats.refusedBy[i].Load(); n > 0 {
				name := "other"
				if i < len(refusalStatuses) {
					name = strconv.Itoa(refusalStatuses[i])
				}
				out[name] += n
			}
		}
	}
	return out
}

// CloseCodes returns the close codes sent and received ("3xxx", "4xxx",
// "other" group the rest; 4001 is on its own: an expired token).
func (e *engine) CloseCodes() (sent, received map[string]int64) {
	sent, received = map[string]int64{}, map[string]int64{}
	for _, l := range e.loops {
		for i := range numCloseCodes {
			if n := l.stats.codes.sent[i].Load(); n > 0 {
				sent[closeCodeNames[i]] += n
			}
			if n := l.stats.codes.received[i].Load(); n > 0 {
				received[closeCodeNames[i]] += n
			}
		}
	}
	return sent, received
}

// LoopConns is one loop's connections by state.
type LoopConns struct {
	Handshaking, Open, Closing int
}

// ConnsByLoop counts each loop's connections by state, on the loops.
func (e *engine) ConnsByLoop() []LoopConns {
	out := make([]LoopConns, len(e.loops))
	e.OnLoops(func(i int, conns iter.Seq[*Conn]) {
		var lc LoopConns
		for c := range conns {
			switch {
			case c.state < stOpen:
				lc.Handshaking++
			case c.state == stOpen && c.flags.Load()&fSentClose == 0:
				lc.Open++
			default:
				lc.Closing++
			}
		}
		out[i] = lc
	})
	return out
}
