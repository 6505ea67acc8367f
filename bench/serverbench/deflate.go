package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/wsd-dev/wsd/bench/internal/proc"
	"github.com/wsd-dev/wsd/bench/internal/spread"
)

// The deflate rows: permessage-deflate (RFC 7692) negotiated on every
// connection. wsload -deflate offers what browsers offer
// ("permessage-deflate; client_max_window_bits") and each server answers
// in its own mode: wsd -deflate on (no context kept), wsd -deflate
// takeover (windows of 2^bits kept per connection and direction), gws
// with context takeover (as its README configures it), gorilla with
// EnableCompression (no context takeover, all it supports). Idle: every
// connection first exchanges one JSON message, so that context takeover
// windows really hold data, then idles; the answers are counted from the
// clients' reports and must be one and the same for every connection.
// Echo: JSON text messages, compressed both ways.

var (
	deflateServers = flag.String("deflate-servers", "wsd:-deflate=on,wsd:-deflate=takeover:-deflate-window-bits=10,gws:-deflate,gorilla:-deflate",
		"servers measured with permessage-deflate negotiated on every connection, written to server-deflate.md (empty: none)")
	deflateSize = flag.Int("deflate-size", 1024, "deflate rows: size of the JSON message each idle connection exchanges before idling, and of the echo's messages")
	deflateMsgs = flag.Int("deflate-echo-msgs", 2000, "deflate rows: echo messages per connection (-echo-conns connections, -runs runs)")
)

type deflateResult struct {
	Name        string           `json:"name"`
	Negotiated  map[string]int64 `json:"negotiated"` // idle connections by the server's extension answer
	Steps       []step           `json:"idle_steps"`
	BytesPerCon float64          `json:"rss_bytes_per_conn"`
	MaxHeld     int              `json:"max_conns_held"`
	EchoRuns    []deflateRun     `json:"echo_runs"`
	EchoRate    float64          `json:"echo_msgs_per_s_median"`
	CPUPerMsg   float64          `json:"server_cpu_us_per_msg_median"`
	RatioUp     float64          `json:"wire_to_payload_client_to_server_median"`
	RatioDown   float64          `json:"wire_to_payload_server_to_client_median"`
	Errors      []string         `json:"errors,omitempty"`
	Repeats     []deflateResult  `json:"repeats,omitempty"`
}

type deflateRun struct {
	echoRun
	RatioUp   float64 `json:"wire_to_payload_client_to_server"`
	RatioDown float64 `json:"wire_to_payload_server_to_client"`
}

// deflateRows measures the deflate servers, -repeat times in alternating
// order, and writes server-deflate.md and server-deflate.json.
func deflateRows(names []string, steps []int) {
	runsOf := map[string][]deflateResult{}
	port := 62151
	for rep := range max(*repeat, 1) {
		order := slices.Clone(names)
		if rep%2 == 1 {
			slices.Reverse(order)
		}
		for _, name := range order {
			r := measureDeflate(name, fmt.Sprintf("127.0.0.1:%d", port), steps)
			port++
			runsOf[name] = append(runsOf[name], r)
			log.Printf("%s (run %d): %v; %.0f B/conn idle; echo %.0f msgs/s, %.2f µs CPU/msg, wire/payload %.3f up %.3f down %v",
				r.Name, rep+1, r.Negotiated, r.BytesPerCon, r.EchoRate, r.CPUPerMsg, r.RatioUp, r.RatioDown, r.Errors)
		}
	}
	var results []deflateResult
	for _, name := range names {
		results = append(results, combineDeflate(runsOf[name]))
	}
	b, _ := json.MarshalIndent(results, "", "  ")
	os.WriteFile(filepath.Join(*outDir, "server-deflate.json"), b, 0o644)
	md := deflateTable(names, results, steps)
	os.WriteFile(filepath.Join(*outDir, "server-deflate.md"), []byte(md), 0o644)
	fmt.Print(md)
}

func measureDeflate(spec, addr string, steps []int) (r deflateResult) {
	r.Name = proc.ParseServer(spec).Label()
	srv, err := start(spec, addr)
	if err != nil {
		r.Errors = append(r.Errors, err.Error())
		return
	}
	defer srv.Stop(5 * time.Second)
	pid := srv.PID()
	size := strconv.Itoa(*deflateSize)

	steps0, held, _, reports, errs := idle(pid, addr, "/echo", "", steps, 30,
		"-deflate", "-scenario", "echo", "-msgs", "1", "-size", size, "-payload", "json", "-then-hold")
	r.Steps, r.MaxHeld, r.Errors = steps0, held, append(r.Errors, errs...)
	r.BytesPerCon, _ = perConn(r.Steps)
	r.Negotiated = map[string]int64{}
	var agreed, exchanged int64
	for _, rep := range reports {
		for k, v := range rep.Extensions {
			r.Negotiated[k] += v
			if k != "none" {
				agreed += v
			}
		}
		exchanged += rep.Echo.Received
	}
	if len(r.Negotiated) != 1 || agreed != int64(held) {
		r.Errors = append(r.Errors, fmt.Sprintf("deflate not negotiated alike on every one of the %d idle connections: %v", held, r.Negotiated))
	}
	if exchanged != int64(held) {
		r.Errors = append(r.Errors, fmt.Sprintf("%d of %d idle connections exchanged their JSON message", exchanged, held))
	}

	var rates, cpus, ups, downs spread.Of
	for range *runs {
		cpu0, _ := proc.CPU(pid)
		res, err := wsloadRun(addr, "", "-deflate", "-payload", "json", "-c", strconv.Itoa(*echoConns), "-msgs", strconv.Itoa(*deflateMsgs),
			"-size", size, "-window", strconv.Itoa(*echoWindow), "-duration", "2m")
		cpu1, _ := proc.CPU(pid)
		if err == nil && (res.Extensions["none"] > 0 || len(res.Extensions) != 1) {
			err = fmt.Errorf("echo connections negotiated %v", res.Extensions)
		}
		if err != nil {
			r.Errors = append(r.Errors, err.Error())
			continue
		}
		run := deflateRun{echoRun: echoRun{MsgsPerSec: res.Echo.MsgsPerSec, Received: res.Echo.Received,
			CPUus: float64(cpu1-cpu0) / float64(time.Microsecond) / float64(res.Echo.Received)},
			RatioUp: res.Wire.RatioOut, RatioDown: res.Wire.RatioIn}
		r.EchoRuns = append(r.EchoRuns, run)
		rates, cpus = append(rates, run.MsgsPerSec), append(cpus, run.CPUus)
		ups, downs = append(ups, run.RatioUp), append(downs, run.RatioDown)
	}
	r.EchoRate, r.CPUPerMsg, r.RatioUp, r.RatioDown = rates.Median(), cpus.Median(), ups.Median(), downs.Median()
	return r
}

// combineDeflate makes one row from a server's runs: medians, runs kept.
func combineDeflate(rs []deflateResult) deflateResult {
	if len(rs) == 1 {
		return rs[0]
	}
	c := deflateResult{Name: rs[0].Name, Repeats: rs, MaxHeld: rs[0].MaxHeld, Negotiated: rs[0].Negotiated}
	var bpc, rates, cpus, ups, downs spread.Of
	asSteps := make([]serverResult, len(rs))
	for i, r := range rs {
		bpc = append(bpc, r.BytesPerCon)
		c.MaxHeld = min(c.MaxHeld, r.MaxHeld)
		asSteps[i].Steps = r.Steps
		for _, e := range r.EchoRuns {
			c.EchoRuns = append(c.EchoRuns, e)
			rates, cpus = append(rates, e.MsgsPerSec), append(cpus, e.CPUus)
			ups, downs = append(ups, e.RatioUp), append(downs, e.RatioDown)
		}
		for _, e := range r.Errors {
			c.Errors = append(c.Errors, fmt.Sprintf("run %d: %s", i+1, e))
		}
	}
	c.BytesPerCon, c.EchoRate, c.CPUPerMsg, c.RatioUp, c.RatioDown = bpc.Median(), rates.Median(), cpus.Median(), ups.Median(), downs.Median()
	c.Steps = medianSteps(asSteps, func(r serverResult) []step { return r.Steps })
	return c
}

// deflateMode reads a wsd spec's mode and window bits from its flags
// ("" for a peer).
func deflateMode(spec string) (mode string, bits int) {
	s := proc.ParseServer(spec)
	if !proc.IsWsd(s.Name) {
		return "", 0
	}
	mode, bits = "on", 10 // wsd's defaults
	for _, f := range s.Flags {
		if v, ok := strings.CutPrefix(f, "-deflate="); ok {
			mode = v
		}
		if v, ok := strings.CutPrefix(f, "-deflate-window-bits="); ok {
			bits, _ = strconv.Atoi(v)
		}
	}
	return mode, bits
}

func deflateTable(names []string, rs []deflateResult, steps []int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "permessage-deflate negotiated on every connection (wsload -deflate offers `permessage-deflate; client_max_window_bits`, as browsers do; each server answers in its own mode). "+
		"Idle: every connection first exchanges one %d-byte JSON message (wsload -payload json -msgs 1 -then-hold), so that context takeover windows are filled, then idles. "+
		"Echo: %d connections × %d JSON text messages of %d bytes, %d in flight each, %d runs; median (range):\n\n",
		*deflateSize, *echoConns, *deflateMsgs, *deflateSize, *echoWindow, *runs)
	b.WriteString("| server | negotiated (connections) | RSS idle | ")
	for _, s := range steps {
		fmt.Fprintf(&b, "RSS @%d | ", s)
	}
	b.WriteString("RSS B/conn | held | echo msgs/s | server CPU µs/msg | wire ÷ payload, up / down |\n|---|---|")
	for range len(steps) + 1 {
		b.WriteString("---:|")
	}
	b.WriteString("---:|---:|---:|---:|---:|\n")
	for _, r := range rs {
		var neg []string
		for k, v := range r.Negotiated {
			neg = append(neg, fmt.Sprintf("`%s` (%d)", k, v))
		}
		sort.Strings(neg)
		fmt.Fprintf(&b, "| %s | %s |", r.Name, strings.Join(neg, ", "))
		for i := range len(steps) + 1 {
			if i < len(r.Steps) {
				fmt.Fprintf(&b, " %.1f MB |", float64(r.Steps[i].RSS)/1e6)
			} else {
				b.WriteString(" – |")
			}
		}
		var bpc, rates, cpus spread.Of
		runs := r.Repeats
		if len(runs) == 0 {
			runs = []deflateResult{r}
		}
		for _, x := range runs {
			bpc = append(bpc, x.BytesPerCon)
		}
		for _, e := range r.EchoRuns {
			rates, cpus = append(rates, e.MsgsPerSec), append(cpus, e.CPUus)
		}
		fmt.Fprintf(&b, " %s | %d | %s | %s | %.3f / %.3f |\n", bpc.Format("%.0f"), r.MaxHeld, rates.Format("%.0f"), cpus.Format("%.2f"), r.RatioUp, r.RatioDown)
	}

	// Against the targets: memory by mode, speed against the best peer.
	bestRate, bestCPU, bestRateName, bestCPUName := 0.0, 0.0, "", ""
	for i, r := range rs {
		if m, _ := deflateMode(names[i]); m != "" || r.EchoRate == 0 {
			continue
		}
		if r.EchoRate > bestRate {
			bestRate, bestRateName = r.EchoRate, r.Name
		}
		if bestCPU == 0 || r.CPUPerMsg < bestCPU {
			bestCPU, bestCPUName = r.CPUPerMsg, r.Name
		}
	}
	b.WriteString("\n| wsd | idle RSS B/conn (target) | echo msgs/s ÷ best peer (target ≥ 1.5×) | server CPU/msg ÷ best peer (target ≤ 0.7×) |\n|---|---:|---:|---:|\n")
	for i, r := range rs {
		mode, bits := deflateMode(names[i])
		if mode == "" {
			continue
		}
		target := 300
		if mode == "takeover" {
			target = 2<<bits + 300 // both directions' windows, plus the connection
		}
		verdict := func(ok bool) string {
			if ok {
				return "met"
			}
			return "missed"
		}
		rateCell, cpuCell := "–", "–"
		if bestRate > 0 {
			rateCell = fmt.Sprintf("%.2f× (vs %s) %s", r.EchoRate/bestRate, bestRateName, verdict(r.EchoRate >= 1.5*bestRate))
			cpuCell = fmt.Sprintf("%.2f× (vs %s) %s", r.CPUPerMsg/bestCPU, bestCPUName, verdict(r.CPUPerMsg <= 0.7*bestCPU))
		}
		fmt.Fprintf(&b, "| %s | %.0f (≤ %d) %s | %s | %s |\n", r.Name, r.BytesPerCon, target, verdict(r.BytesPerCon <= float64(target)), rateCell, cpuCell)
	}
	if several := len(rs) > 0 && len(rs[0].Repeats) > 1; several {
		b.WriteString("\nEach run:\n\n| server | run | RSS B/conn | echo msgs/s | server CPU µs/msg |\n|---|---:|---:|---:|---:|\n")
		for _, r := range rs {
			for i, x := range r.Repeats {
				fmt.Fprintf(&b, "| %s | %d | %.0f | %.0f | %.2f |\n", r.Name, i+1, x.BytesPerCon, x.EchoRate, x.CPUPerMsg)
			}
		}
	}
	for _, r := range rs {
		for _, e := range r.Errors {
			fmt.Fprintf(&b, "\n- %s: %s", r.Name, e)
		}
	}
	b.WriteString("\n")
	return b.String()
}
