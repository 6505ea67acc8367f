// Command hubbench measures notification fan-out on wsd's hub beside the
// peer servers, in one run: 19,000 receivers held by wsload processes (the
// project's epoll client, the same for every server), broadcasts through
// each server's POST /broadcast with a timestamp in the body, then
// publishes to single users under that load (users held by a third, small
// wsload process, so that the receiver is not what delays them), then
// publishes again while broadcasts go on. Per server: the time until the last receiver has a
// broadcast, p50/p99 of all deliveries, publish latency in both phases, the
// server's own CPU (utime+stime from /proc, and its kernel part) per
// broadcast and per million delivered frames, and the receivers' CPU.
//
// A second build of wsd measures beside the first as "wsd-base" (the
// binary bin/wsd-base, the same flags, -wsd-flags included); -repeat runs
// every server several times, alternating the order, and the tables show
// each run and the range over runs; -cc sets the congestion control of
// every connection the server holds before the broadcasts, one row per
// algorithm. With -tls (tls.go) the -tls-servers are measured again with
// every connection over TLS: rows "<server> TLS". With -deflate-servers
// (deflate.go) the receivers offer permessage-deflate, into hub-deflate.md.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wsd-dev/wsd/bench/internal/proc"
	"github.com/wsd-dev/wsd/bench/internal/spread"
	"github.com/wsd-dev/wsd/load"
)

var (
	binDir     = flag.String("bin", "bin", "directory with wsd, wsload and the peer servers")
	servers    = flag.String("servers", "wsd,gorilla,gobwas,gws,nbio", "servers to measure with -size byte messages and plain receivers (empty: none): binaries in -bin; wsd-base is a second wsd build, run with wsd's flags; flags of one entry's own after colons (wsd:-loops=1)")
	wsdFlags   = flag.String("wsd-flags", "", "extra flags for wsd and wsd-base (e.g. \"-loops 1\")")
	repeat     = flag.Int("repeat", 1, "measure every server this many times (order alternating), to show the run-to-run spread")
	ccFlag     = flag.String("cc", "", "TCP congestion control to set on every socket the server holds once the receivers are connected (setsockopt TCP_CONGESTION from outside, through pidfd_getfd; root): a comma list, e.g. reno,cubic,bbr, measures each server once per algorithm; empty: leave the system's default")
	conns      = flag.Int("conns", 19000, "receivers")
	procs      = flag.Int("procs", 2, "wsload processes holding the receivers")
	broadcasts = flag.Int("broadcasts", 20, "broadcasts per server")
	gap        = flag.Duration("gap", 800*time.Millisecond, "pause after each broadcast (longer than a fan-out)")
	publishes  = flag.Int("publishes", 300, "publishes to single users")
	pubRate    = flag.Float64("publish-rate", 100, "publishes per second")
	size       = flag.Int("size", 64, "message size")
	probes     = flag.Int("probes", 100, "of the receivers, users in a separate wsload process that publishes go to: a receiver the broadcast does not saturate, so that publish latency is the server's")
	outDir     = flag.String("out", "results", "where hub.md and hub.json go (with the TLS rows; and hub-deflate.md and .json)")

	deflateServers = flag.String("deflate-servers", "wsd:-deflate=off,wsd:-deflate=on,wsd:-deflate=takeover:-deflate-window-bits=10,gws:-deflate,gorilla:-deflate",
		"servers measured with receivers that offer permessage-deflate (wsload -deflate) and a JSON notification of -deflate-size bytes, written to hub-deflate.md (empty: none); wsd -deflate=off declines the offer: the plain row of the same run")
	deflateSize = flag.Int("deflate-size", 1024, "deflate rows: size of the JSON notification broadcast")
)

// capConns is the most receivers a server can hold under this machine's
// 20,000-fd limit: netpoll dups every fd (two per connection).
var capConns = map[string]int{"gobwas": 9000}

type result struct {
	Name            string    `json:"name"`
	Label           string    `json:"label"`                        // the row: name, and the algorithm with -cc
	Run             int       `json:"run"`                          // 1, 2, … with -repeat
	CC              string    `json:"congestion_control,omitempty"` // -cc
	CCSockets       int       `json:"congestion_control_sockets,omitempty"`
	Receivers       int64     `json:"receivers"`
	FanoutMs        []float64 `json:"fanout_ms"` // per broadcast: last arrival
	FanoutMedianMs  float64   `json:"fanout_median_ms"`
	FanoutMaxMs     float64   `json:"fanout_max_ms"`
	DeliveryP50Ms   float64   `json:"delivery_p50_ms"`
	DeliveryP99Ms   float64   `json:"delivery_p99_ms"`
	Delivered       int64     `json:"broadcast_frames_received"`
	CPUPerBcastMs   float64   `json:"server_cpu_ms_per_broadcast"`
	CPUPerMillionS  float64   `json:"server_cpu_s_per_million_frames"`
	KernelPerBcast  float64   `json:"server_kernel_cpu_ms_per_broadcast"` // of CPUPerBcastMs
	ClientPerBcast  float64   `json:"client_cpu_ms_per_broadcast"`        // all wsload processes
	PublishP50Ms    float64   `json:"publish_p50_ms"`
	PublishP99Ms    float64   `json:"publish_p99_ms"`
	PublishReceived int64     `json:"publish_received"`
	// Publishes to single users while broadcasts are under way.
	BusyP50Ms    float64 `json:"publish_during_broadcasts_p50_ms"`
	BusyP99Ms    float64 `json:"publish_during_broadcasts_p99_ms"`
	BusyReceived int64   `json:"publish_during_broadcasts_received"`
	BusySent     int64   `json:"publish_during_broadcasts_sent"`
	// Echo round trips of 20 other connections on /echo, quiet and while
	// broadcasts go on: does a fan-out hold up the server's other traffic?
	EchoQuietP99Ms float64 `json:"echo_quiet_p99_ms"`
	EchoBusyP99Ms  float64 `json:"echo_during_broadcasts_p99_ms"`
	// Deflate rows: the receivers offered permessage-deflate; how many
	// connections agreed what (the receivers' reports), and what a
	// broadcast cost each of them on the wire (frames) against its payload.
	Deflate             bool             `json:"deflate,omitempty"`
	Negotiated          map[string]int64 `json:"negotiated,omitempty"`
	WirePerRecipient    float64          `json:"wire_bytes_per_recipient_per_broadcast,omitempty"`
	PayloadPerRecipient float64          `json:"payload_bytes_per_recipient_per_broadcast,omitempty"`
	Errors              []string         `json:"errors,omitempty"`
}

func main() {
	flag.Parse()
	log.SetFlags(log.Ltime)
	ccs := []string{""}
	if *ccFlag != "" {
		ccs = strings.Split(*ccFlag, ",")
	}
	os.MkdirAll(*outDir, 0o755)
	if *servers != "" {
		names, cleanup := withTLS(strings.Split(*servers, ","))
		rows(names, ccs, false, "hub", 62201)
		cleanup()
	}
	if *deflateServers != "" {
		rows(strings.Split(*deflateServers, ","), ccs, true, "hub-deflate", 62251)
	}
}

// rows measures a set of servers (-repeat times, alternating order) and
// writes <file>.md and <file>.json.
func rows(names, ccs []string, deflate bool, file string, port int) {
	var rs []result
	for rep := range max(*repeat, 1) {
		order := slices.Clone(names)
		if rep%2 == 1 {
			slices.Reverse(order) // no server always first, or always right after another
		}
		for _, name := range order {
			for _, cc := range ccs {
				r := measure(name, cc, fmt.Sprintf("127.0.0.1:%d", port), deflate)
				port++
				r.Run, r.Label = rep+1, label(name)
				if cc != "" {
					r.Label += " cc=" + cc
				}
				log.Printf("%s (run %d): %d receivers, fan-out median %.1f ms (max %.1f), p50 %.1f p99 %.1f ms, CPU %.1f ms/broadcast, %.2f s per million frames, publish p50 %.2f p99 %.2f ms %v %v",
					r.Label, r.Run, r.Receivers, r.FanoutMedianMs, r.FanoutMaxMs, r.DeliveryP50Ms, r.DeliveryP99Ms, r.CPUPerBcastMs, r.CPUPerMillionS, r.PublishP50Ms, r.PublishP99Ms, r.Negotiated, r.Errors)
				rs = append(rs, r)
			}
		}
	}
	// Rows in the order of -servers (and -cc), each server's runs together.
	var labels []string
	for _, name := range names {
		for _, cc := range ccs {
			l := label(name)
			if cc != "" {
				l += " cc=" + cc
			}
			labels = append(labels, l)
		}
	}
	slices.SortStableFunc(rs, func(a, b result) int { return slices.Index(labels, a.Label) - slices.Index(labels, b.Label) })
	b, _ := json.MarshalIndent(rs, "", "  ")
	os.WriteFile(filepath.Join(*outDir, file+".json"), b, 0o644)
	md := table(rs, labels)
	if deflate {
		md = deflateTable(rs, labels) + "\n" + md
	}
	os.WriteFile(filepath.Join(*outDir, file+".md"), []byte(md), 0o644)
	fmt.Print(md)
}

// measure takes a row: a -servers entry, with "@tls" over TLS.
func measure(row, cc, addr string, deflate bool) (r result) {
	spec, via := transportOf(row)
	server := proc.ParseServer(spec)
	name := server.Name
	r.Name, r.CC, r.Deflate = name, cc, deflate
	srv, err := proc.Start(server.Label(), filepath.Join(*binDir, name), io.Discard, append(server.Args(addr, *wsdFlags), via.serverArgs...)...)
	if err != nil {
		r.Errors = append(r.Errors, err.Error())
		return
	}
	defer srv.Stop(5 * time.Second)
	if err := proc.WaitPort(addr, 10*time.Second); err != nil {
		r.Errors = append(r.Errors, err.Error())
		return
	}
	var loads []*proc.Process
	defer func() { // on an early return: no receiver outlives its server
		for _, lp := range loads {
			if lp.Cmd.ProcessState == nil {
				lp.Stop(5 * time.Second)
			}
		}
	}()
	total := *conns
	if c, ok := capConns[name]; ok && c < total {
		total = c
		r.Errors = append(r.Errors, fmt.Sprintf("measured with %d receivers: two fds per connection", c))
	}
	per := (total - *probes) / *procs
	for p := range *procs + 1 {
		path, c, src := fmt.Sprintf("/ws/p%du{i}", p), per, fmt.Sprintf("127.0.%d.1-127.0.%d.12", 40+p, 40+p)
		if p == *procs {
			path, c, src = "/ws/q{i}", *probes, "127.0.39.1-127.0.39.2"
		}
		args := append([]string{"-url", via.ws + addr + path, "-scenario", "push", "-c", strconv.Itoa(c),
			"-src", src, "-loops", "1", "-json", "-duration", "30m", "-connect-timeout", "30s"}, via.loadArgs...)
		if deflate {
			args = append(args, "-deflate")
		}
		lp, n, line, err := proc.StartReady(filepath.Join(*binDir, "wsload"), 3*time.Minute, args...)
		if err != nil {
			r.Errors = append(r.Errors, err.Error())
			return
		}
		loads = append(loads, lp)
		r.Receivers += int64(n)
		if n < c {
			r.Errors = append(r.Errors, fmt.Sprintf("process %d: %d of %d receivers connected: %s", p, n, c, line))
		}
	}
	proc.Window(2 * time.Second) // settle time after the receivers connected
	pid := srv.PID()
	if cc != "" {
		// Every connection is open now (receivers and probes); the echo
		// clients below connect later and keep the default.
		if r.CCSockets, err = proc.SetCongestion(pid, cc); err != nil {
			r.Errors = append(r.Errors, err.Error())
			return
		}
		if r.CCSockets < int(r.Receivers) {
			r.Errors = append(r.Errors, fmt.Sprintf("congestion control %s set on %d sockets, fewer than the %d receivers", cc, r.CCSockets, r.Receivers))
		}
	}
	echo := func(d time.Duration) (p99 float64, err error) {
		var res struct {
			Echo *struct {
				Sent, Received int64
				Latency        struct {
					P99 float64 `json:"p99"`
				} `json:"latency_ms"`
			} `json:"echo"`
		}
		err = proc.RunJSON("wsload echo", filepath.Join(*binDir, "wsload"), io.Discard, &res, append([]string{
			"-url", via.ws + addr + "/echo", "-scenario", "echo", "-c", "20", "-msg-rate", "50", "-size", "64",
			"-duration", d.String(), "-loops", "1", "-src", "127.0.38.1-127.0.38.2", "-json"}, via.loadArgs...)...)
		if err == nil && (res.Echo == nil || res.Echo.Received == 0 || res.Echo.Received < res.Echo.Sent*99/100) {
			err = fmt.Errorf("echo during the hub benchmark: %+v", res.Echo)
		}
		if err != nil {
			return 0, err
		}
		return res.Echo.Latency.P99, nil
	}
	var err2 error
	if r.EchoQuietP99Ms, err2 = echo(4 * time.Second); err2 != nil {
		r.Errors = append(r.Errors, err2.Error())
	}
	post := func(path string, body []byte) error {
		resp, err := via.client.Post(via.http+addr+path, "text/plain", bytes.NewReader(body))
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 300 {
			return fmt.Errorf("%s: %s", path, resp.Status)
		}
		return nil
	}
	pad := func(b []byte) []byte { return append(b, bytes.Repeat([]byte("x"), max(*size-len(b), 0))...) }
	bcastBody := pad
	if deflate {
		// A notification as a backend sends one: orders and a note in JSON,
		// each broadcast its own (seeded by its stamp's length and time).
		bcastBody = func(stamp []byte) []byte {
			return load.JSONNotification(stamp, *deflateSize, uint64(time.Now().UnixNano()))
		}
	}

	clients := func() (d time.Duration) {
		for _, lp := range loads {
			c, _ := proc.CPU(lp.PID())
			d += c
		}
		return d
	}
	u0, k0, _ := proc.Times(pid)
	c0 := clients()
	for k := 1; k <= *broadcasts; k++ {
		if err := post("/broadcast", bcastBody(load.PushStamp("B", int64(k), time.Now()))); err != nil {
			r.Errors = append(r.Errors, err.Error())
		}
		time.Sleep(*gap)
	}
	u1, k1, _ := proc.Times(pid)
	c1 := clients()
	interval := time.Duration(float64(time.Second) / *pubRate)
	for j := 1; j <= *publishes; j++ {
		u := fmt.Sprintf("/publish/q%d", rand.IntN(*probes))
		if err := post(u, pad(load.PushStamp("U", int64(j), time.Now()))); err != nil {
			r.Errors = append(r.Errors, err.Error())
			break
		}
		time.Sleep(interval)
	}
	time.Sleep(time.Second)

	// Publishes to single users at the same rate while broadcasts (kind X,
	// outside the fan-out figures) go on: a notification's latency in a storm.
	stop := make(chan struct{})
	busyDone := make(chan int64)
	go func() {
		var sent int64
		defer func() { busyDone <- sent }()
		for j := int64(1); ; j++ {
			select {
			case <-stop:
				return
			case <-time.After(interval):
			}
			u := fmt.Sprintf("/publish/q%d", rand.IntN(*probes))
			if err := post(u, pad(load.PushStamp("M", j, time.Now()))); err != nil {
				return
			}
			sent++
		}
	}()
	busyBroadcasts := max(*broadcasts/2, 1)
	echoDone := make(chan error, 1)
	go func() {
		var err error
		r.EchoBusyP99Ms, err = echo(time.Duration(busyBroadcasts) * *gap)
		echoDone <- err
	}()
	for k := 1; k <= busyBroadcasts; k++ {
		if err := post("/broadcast", bcastBody(load.PushStamp("X", int64(k), time.Now()))); err != nil {
			r.Errors = append(r.Errors, err.Error())
		}
		time.Sleep(*gap)
	}
	close(stop)
	r.BusySent = <-busyDone
	if err := <-echoDone; err != nil {
		r.Errors = append(r.Errors, err.Error())
	}
	time.Sleep(time.Second)

	// Stop the receivers; each prints what it measured.
	var bcast, pub, busy load.Histogram
	last := map[int64]int64{}
	var framesIn, payloadIn int64
	for i, lp := range loads {
		lp.Cmd.Process.Signal(os.Interrupt)
		var out strings.Builder
		for lp.Out.Scan() {
			if !strings.HasPrefix(lp.Out.Text(), "READY") {
				out.WriteString(lp.Out.Text())
			}
		}
		lp.Cmd.Wait()
		var res struct {
			Push       *load.PushResult `json:"push"`
			Extensions map[string]int64 `json:"extensions"`
			Wire       struct {
				FramesIn  int64 `json:"wire_bytes_in"`
				PayloadIn int64 `json:"payload_bytes_in"`
			} `json:"wire"`
		}
		if err := json.Unmarshal([]byte(out.String()), &res); err != nil || res.Push == nil {
			r.Errors = append(r.Errors, fmt.Sprintf("wsload output: %v %.200q", err, out.String()))
			continue
		}
		if deflate {
			if r.Negotiated == nil {
				r.Negotiated = map[string]int64{}
			}
			for k, v := range res.Extensions {
				r.Negotiated[k] += v
			}
			if i < *procs { // the receivers; the probes also got the publishes
				framesIn, payloadIn = framesIn+res.Wire.FramesIn, payloadIn+res.Wire.PayloadIn
			}
		}
		if d, ok := res.Push.Kinds["B"]; ok {
			bcast.Import(d)
		}
		if d, ok := res.Push.Kinds["U"]; ok {
			pub.Import(d)
		}
		if d, ok := res.Push.Kinds["M"]; ok {
			busy.Import(d)
		}
		for id, ns := range res.Push.LastByID {
			last[id] = max(last[id], ns)
		}
	}
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	for k := 1; k <= *broadcasts; k++ {
		r.FanoutMs = append(r.FanoutMs, float64(last[int64(k)])/1e6)
	}
	s := slices.Clone(r.FanoutMs)
	slices.Sort(s)
	r.FanoutMedianMs, r.FanoutMaxMs = s[len(s)/2], s[len(s)-1]
	r.Delivered = int64(bcast.Count())
	r.DeliveryP50Ms, r.DeliveryP99Ms = ms(bcast.Percentile(50)), ms(bcast.Percentile(99))
	r.PublishReceived = int64(pub.Count())
	r.PublishP50Ms, r.PublishP99Ms = ms(pub.Percentile(50)), ms(pub.Percentile(99))
	r.BusyReceived = int64(busy.Count())
	r.BusyP50Ms, r.BusyP99Ms = ms(busy.Percentile(50)), ms(busy.Percentile(99))
	if r.BusyReceived != r.BusySent {
		r.Errors = append(r.Errors, fmt.Sprintf("%d of %d publishes during broadcasts received", r.BusyReceived, r.BusySent))
	}
	cpu := u1 - u0 + k1 - k0
	r.CPUPerBcastMs = ms(cpu) / float64(*broadcasts)
	r.KernelPerBcast = ms(k1-k0) / float64(*broadcasts)
	r.ClientPerBcast = ms(c1-c0) / float64(*broadcasts)
	if r.Delivered > 0 {
		r.CPUPerMillionS = cpu.Seconds() / float64(r.Delivered) * 1e6
	}
	if deflate {
		// Every broadcast (B and X) reached every receiver; their frames
		// also hold the hello (wsd) and any ping: a few bytes per
		// connection over the run, counted with the broadcasts.
		if recv := r.Receivers - int64(*probes); recv > 0 {
			per := float64(recv) * float64(*broadcasts+busyBroadcasts)
			r.WirePerRecipient, r.PayloadPerRecipient = float64(framesIn)/per, float64(payloadIn)/per
		}
		if len(r.Negotiated) != 1 {
			r.Errors = append(r.Errors, fmt.Sprintf("not one answer for every connection: %v", r.Negotiated))
		}
	}
	if want := int64(*broadcasts) * r.Receivers; r.Delivered != want {
		r.Errors = append(r.Errors, fmt.Sprintf("%d broadcast frames received, want %d", r.Delivered, want))
	}
	return r
}

func table(rs []result, labels []string) string {
	var b strings.Builder
	several := false
	for _, r := range rs {
		several = several || r.Run > 1
	}
	b.WriteString("| server | receivers | fan-out to last, median (max) | delivery p50 | delivery p99 | server CPU per broadcast (kernel part) | server CPU per 10⁶ frames | client CPU per broadcast | publish-to-user p50 / p99 | the same during broadcasts | echo p99 quiet / during broadcasts |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rs {
		name := r.Label
		if several {
			name = fmt.Sprintf("%s #%d", r.Label, r.Run)
		}
		fmt.Fprintf(&b, "| %s | %d | %.1f ms (%.1f) | %.1f ms | %.1f ms | %.1f ms (%.1f) | %.1f s | %.1f ms | %.2f / %.2f ms | %.2f / %.2f ms | %.2f / %.2f ms |\n",
			name, r.Receivers, r.FanoutMedianMs, r.FanoutMaxMs, r.DeliveryP50Ms, r.DeliveryP99Ms, r.CPUPerBcastMs, r.KernelPerBcast, r.CPUPerMillionS, r.ClientPerBcast, r.PublishP50Ms, r.PublishP99Ms, r.BusyP50Ms, r.BusyP99Ms, r.EchoQuietP99Ms, r.EchoBusyP99Ms)
	}
	if several {
		b.WriteString("\nOver the runs above: median (min–max).\n\n")
		b.WriteString("| server | runs | fan-out to last, median | delivery p99 | server CPU per broadcast | kernel part | client CPU per broadcast | publish-to-user p99 | the same during broadcasts | echo p99 during broadcasts |\n")
		b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, l := range labels {
			var runs []result
			for _, r := range rs {
				if r.Label == l {
					runs = append(runs, r)
				}
			}
			of := func(f func(result) float64, format ...string) string {
				var v spread.Of
				for _, r := range runs {
					v = append(v, f(r))
				}
				return v.Format(append(format, "%.1f")[0])
			}
			fmt.Fprintf(&b, "| %s | %d | %s ms | %s ms | %s ms | %s ms | %s ms | %s ms | %s ms | %s ms |\n", l, len(runs),
				of(func(r result) float64 { return r.FanoutMedianMs }), of(func(r result) float64 { return r.DeliveryP99Ms }),
				of(func(r result) float64 { return r.CPUPerBcastMs }), of(func(r result) float64 { return r.KernelPerBcast }),
				of(func(r result) float64 { return r.ClientPerBcast }), of(func(r result) float64 { return r.PublishP99Ms }, "%.2f"),
				of(func(r result) float64 { return r.BusyP99Ms }, "%.2f"), of(func(r result) float64 { return r.EchoBusyP99Ms }, "%.2f"))
		}
	}
	for _, r := range rs {
		if r.CC != "" && r.CCSockets > 0 && r.Run == 1 {
			fmt.Fprintf(&b, "\n- %s: congestion control %s set on %d sockets (run 1)", r.Label, r.CC, r.CCSockets)
		}
	}
	for _, r := range rs {
		for _, e := range r.Errors {
			if several {
				fmt.Fprintf(&b, "\n- %s #%d: %s", r.Label, r.Run, e)
			} else {
				fmt.Fprintf(&b, "\n- %s: %s", r.Label, e)
			}
		}
	}
	b.WriteString("\n")
	return b.String()
}
