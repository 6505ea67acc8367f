package main

import (
	"fmt"
	"sort"
	"strings"
)

// The classic comparison (Lubbers & Greco, "HTML5 WebSocket: A Quantum
// Leap in Scalability for the Web"): 871 bytes of HTTP headers per poll
// against 2 bytes of frame header, one message per client per second.
// Its table is in binary megabits (2^20 bit/s: 871 B × 1,000 × 8 =
// 6,968,000 bit/s, printed as 6.6); here it is recomputed from those
// bytes in the decimal Mbps (10^6 bit/s) of the measured columns.
const classicPollBytes, classicFrameBytes = 871, 2

var classicClients = []int{1000, 10000, 100000}

// classicMbps is the classic table's figure for n clients sending b bytes
// each per second, in decimal Mbps.
func classicMbps(n, b int) float64 { return float64(n*b) * 8 / 1e6 }

func report(rs []result) string {
	var b strings.Builder
	b.WriteString("Measured on loopback; bytes are counted at the client sockets (TCP payload, both directions), packets from TCP_INFO\n")
	b.WriteString("(segments in and out of every client socket), TCP/IP header bytes estimated as packets × 52 (IPv4 20 + TCP 20 +\n")
	b.WriteString("timestamp option 12; no link layer on loopback). Latency is publish time to receipt at the client.\n\n")
	rates := map[float64]bool{}
	var order []float64
	for _, r := range rs {
		if !rates[r.Rate] {
			rates[r.Rate] = true
			order = append(order, r.Rate)
		}
	}
	for _, rate := range order {
		fmt.Fprintf(&b, "### One notification per client every %g s\n\n", 1/rate)
		b.WriteString("| mode | clients | up B/s | down B/s | app Mbps | Mbps with TCP/IP headers | packets/s | requests/s | empty polls | delivered / published | p50 | p99 | max | server CPU | server RSS |\n")
		b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, r := range rs {
			if r.Rate != rate {
				continue
			}
			fmt.Fprintf(&b, "| %s | %d | %.0f | %.0f | %.3f | %.3f | %.0f | %.0f | %d | %d / %d | %s | %s | %s | %.2f s | %.0f MB |\n",
				r.Mode, r.Clients, float64(r.UpBytes)/r.Window, float64(r.DownBytes)/r.Window,
				r.mbps(r.appBytesPerSec()), r.mbps(r.wireBytesPerSec()), float64(r.PacketsUp+r.PacketsDn)/r.Window,
				float64(r.Requests)/r.Window, r.Empty, r.Received, r.Published, msStr(r.P50ms), msStr(r.P99ms), msStr(r.MaxMs),
				r.ServerCPU, float64(r.ServerRSS)/1e6)
		}
		b.WriteString("\n")
		for _, r := range rs {
			if r.Rate == rate && len(r.Negotiated) > 0 {
				var neg []string
				for k, v := range r.Negotiated {
					neg = append(neg, fmt.Sprintf("`%s` (%d)", k, v))
				}
				sort.Strings(neg)
				fmt.Fprintf(&b, "- %s, %d clients: negotiated %s\n", r.Mode, r.Clients, strings.Join(neg, ", "))
			}
		}
		for _, r := range rs {
			if r.Rate == rate && (r.Failed > 0 || r.FailDetail != "") {
				fmt.Fprintf(&b, "- %s, %d clients: %d connected, %d never served: %s\n", r.Mode, r.Clients, r.Connected, r.Failed, r.FailDetail)
			}
		}
		b.WriteString("\n")
	}
	b.WriteString(savings(rs, order))
	b.WriteString("### Beside the classic table (one message per client per second)\n\n")
	b.WriteString("| clients | classic polling (871 B/s each) | measured short poll 1 s (with TCP/IP) | classic WebSocket (2 B/s each) | measured WebSocket (with TCP/IP) |\n|---:|---:|---:|---:|---:|\n")
	for _, n := range classicClients {
		poll, ws := find(rs, "short-1s", n, 1), find(rs, "ws", n, 1)
		fmt.Fprintf(&b, "| %d | %.3f Mbps | %s | %.3f Mbps | %s |\n", n, classicMbps(n, classicPollBytes), mbpsStr(poll), classicMbps(n, classicFrameBytes), mbpsStr(ws))
	}
	b.WriteString("\nAll in decimal Mbps (10^6 bit/s). The classic figures are recomputed from its bytes: its own table, in binary\n")
	b.WriteString("megabits (2^20 bit/s), prints 6.6, 66 and 665 Mbps for polling and 0.015, 0.153 and 1.526 for WebSocket.\n\n")
	return b.String()
}

func find(rs []result, mode string, clients int, rate float64) *result {
	for i := range rs {
		if rs[i].Mode == mode && rs[i].Clients == clients && rs[i].Rate == rate {
			return &rs[i]
		}
	}
	return nil
}

func mbpsStr(r *result) string {
	if r == nil {
		return "not run"
	}
	return fmt.Sprintf("%.3f Mbps (%.3f)", r.mbps(r.appBytesPerSec()), r.mbps(r.wireBytesPerSec()))
}

func msStr(ms float64) string {
	if ms >= 1000 {
		return fmt.Sprintf("%.2f s", ms/1000)
	}
	return fmt.Sprintf("%.1f ms", ms)
}

// savings is, per rate and client count, how many times fewer bytes each
// WebSocket mode puts on the wire per notification than short polling
// every second and long polling: payload alone, and with TCP/IP headers.
// Per notification published in the window, so that a publisher that fell
// behind in one mode's window does not flatter that mode.
func savings(rs []result, rates []float64) string {
	var b strings.Builder
	for _, rate := range rates {
		var rows []string
		for _, r := range rs {
			if r.Rate != rate || !isWS(r.Mode) || r.Published == 0 {
				continue
			}
			cell := func(mode string) string {
				p := find(rs, mode, r.Clients, rate)
				if p == nil || p.Published == 0 {
					return "not run"
				}
				return fmt.Sprintf("%.1f× (%.1f×)", p.appBytesPerNote()/r.appBytesPerNote(), p.wireBytesPerNote()/r.wireBytesPerNote())
			}
			rows = append(rows, fmt.Sprintf("| %d | %s | %.0f B (%.0f) | %s | %s |\n", r.Clients, r.Mode,
				r.appBytesPerNote(), r.wireBytesPerNote(), cell("short-1s"), cell("long")))
		}
		if len(rows) == 0 {
			continue
		}
		fmt.Fprintf(&b, "### Saving over polling, one notification per client every %g s\n\n", 1/rate)
		b.WriteString("Bytes per notification published in the window (both directions, payload alone and with TCP/IP headers); short polling every 1 s and long polling ÷ each WebSocket mode:\n\n")
		b.WriteString("| clients | mode | bytes per notification (with TCP/IP) | short-1s ÷ this | long ÷ this |\n|---:|---|---:|---:|---:|\n")
		for _, row := range rows {
			b.WriteString(row)
		}
		b.WriteString("\n")
	}
	return b.String()
}
