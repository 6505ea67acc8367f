package main

import (
	"fmt"
	"sort"
	"strings"
)

// deflateTable is the deflate rows' own table: what was negotiated, the
// server's CPU per broadcast against the plain wsd of the same run (the
// receivers offered deflate and wsd -deflate=off declined), and the bytes
// a broadcast cost each recipient on the wire.
func deflateTable(rs []result, labels []string) string {
	var b strings.Builder
	base := ""
	for _, l := range labels {
		if strings.HasPrefix(l, "wsd") && strings.Contains(l, "-deflate=off") {
			base = l
			break
		}
	}
	baseOf := map[int]result{} // run → the plain wsd row of that run
	for _, r := range rs {
		if r.Label == base {
			baseOf[r.Run] = r
		}
	}
	fmt.Fprintf(&b, "Broadcast of a %d-byte JSON notification; every receiver offers permessage-deflate (wsload -deflate: `permessage-deflate; client_max_window_bits`). "+
		"Wire bytes per recipient are the receivers' frames over the run (the hello and pings included) divided by receivers × broadcasts (%d timed + %d during publishes).\n\n",
		*deflateSize, *broadcasts, max(*broadcasts/2, 1))
	b.WriteString("| server | run | negotiated (connections) | receivers | server CPU per broadcast (kernel part) | ÷ " + base + " | fan-out to last, median | client CPU per broadcast | wire B per recipient | payload B per recipient | wire ÷ payload |\n")
	b.WriteString("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rs {
		var neg []string
		for k, v := range r.Negotiated {
			neg = append(neg, fmt.Sprintf("`%s` (%d)", k, v))
		}
		sort.Strings(neg)
		ratio := "–"
		if br, ok := baseOf[r.Run]; ok && br.CPUPerBcastMs > 0 {
			ratio = fmt.Sprintf("%.2f×", r.CPUPerBcastMs/br.CPUPerBcastMs)
		}
		wr := 0.0
		if r.PayloadPerRecipient > 0 {
			wr = r.WirePerRecipient / r.PayloadPerRecipient
		}
		fmt.Fprintf(&b, "| %s | %d | %s | %d | %.1f ms (%.1f) | %s | %.1f ms | %.1f ms | %.0f | %.0f | %.3f |\n",
			r.Label, r.Run, strings.Join(neg, ", "), r.Receivers, r.CPUPerBcastMs, r.KernelPerBcast, ratio, r.FanoutMedianMs, r.ClientPerBcast,
			r.WirePerRecipient, r.PayloadPerRecipient, wr)
	}
	return b.String()
}
