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
// algorithm. With -tls the -tls-servers are measured again with every
// connection over TLS (receivers and echo clients on wss://, publishes
// on https://, one self-signed certificate made for the run): rows
// "<server> TLS".
package main

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wsd-dev/wsd/bench/internal/proc"
	"github.com/wsd-dev/wsd/bench/internal/spread"
	"github.com/wsd-dev/wsd/internal/testcert"
	"github.com/wsd-dev/wsd/load"
)

var (
	binDir     = flag.String("bin", "bin", "directory with wsd, wsload and the peer servers")
	servers    = flag.String("servers", "wsd,gorilla,gobwas,gws,nbio", "servers to measure: binaries in -bin; wsd-base is a second wsd build, run with wsd's flags; flags of one entry's own after colons (wsd:-loops=1)")
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
	outDir     = flag.String("out", "results", "where hub.md and hub.json go")
	tlsOn      = flag.Bool("tls", false, "measure the -tls-servers again over TLS (wss:// and https://)")
	tlsServers = flag.String("tls-servers", "wsd,gorilla,gws,nbio", "servers measured over TLS (they take -tls-cert and -tls-key)")
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
	EchoQuietP99Ms float64  `json:"echo_quiet_p99_ms"`
	EchoBusyP99Ms  float64  `json:"echo_during_broadcasts_p99_ms"`
	Errors         []string `json:"errors,omitempty"`
}

func main() {
	flag.Parse()
	log.SetFlags(log.Ltime)
	ccs := []string{""}
	if *ccFlag != "" {
		ccs = strings.Split(*ccFlag, ",")
	}
	names := strings.Split(*servers, ",")
	if *tlsOn {
		dir, err := os.MkdirTemp("", "hubbench-tls")
		if err != nil {
			log.Fatal(err)
		}
		defer os.RemoveAll(dir)
		pair, err := testcert.New("hubbench")
		if err != nil {
			log.Fatal(err)
		}
		if certFile, keyFile, err = pair.Write(dir); err != nil {
			log.Fatal(err)
		}
		for _, n := range strings.Split(*tlsServers, ",") {
			if slices.Contains(names, n) {
				names = append(names, n+"@tls")
			}
		}
	}
	var rs []result
	port := 62201
	for rep := range max(*repeat, 1) {
		order := slices.Clone(names)
		if rep%2 == 1 {
			slices.Reverse(order) // no server always first, or always right after another
		}
		for _, name := range order {
			for _, cc := range ccs {
				r := measure(name, cc, fmt.Sprintf("127.0.0.1:%d", port))
				port++
				r.Run, r.Label = rep+1, label(name)
				if cc != "" {
					r.Label += " cc=" + cc
				}
				log.Printf("%s (run %d): %d receivers, fan-out median %.1f ms (max %.1f), p50 %.1f p99 %.1f ms, CPU %.1f ms/broadcast, %.2f s per million frames, publish p50 %.2f p99 %.2f ms %v",
					r.Label, r.Run, r.Receivers, r.FanoutMedianMs, r.FanoutMaxMs, r.DeliveryP50Ms, r.DeliveryP99Ms, r.CPUPerBcastMs, r.CPUPerMillionS, r.PublishP50Ms, r.PublishP99Ms, r.Errors)
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
	os.MkdirAll(*outDir, 0o755)
	b, _ := json.MarshalIndent(rs, "", "  ")
	os.WriteFile(filepath.Join(*outDir, "hub.json"), b, 0o644)
	md := table(rs, labels)
	os.WriteFile(filepath.Join(*outDir, "hub.md"), []byte(md), 0o644)
	fmt.Print(md)
}

// certFile and keyFile are the run's certificate, with -tls.
var certFile, keyFile string

// label names a row: "nbio@tls" is "nbio TLS".
func label(name string) string {
	spec, tls := strings.CutSuffix(name, "@tls")
	l := proc.ParseServer(spec).Label()
	if tls {
		l += " TLS"
	}
	return l
}

func measure(spec, cc, addr string) (r result) {
	spec, overTLS := strings.CutSuffix(spec, "@tls")
	ws, http_, insecure := "ws://", "http://", []string(nil)
	server := proc.ParseServer(spec)
	args := server.Args(addr, *wsdFlags)
	if overTLS {
		ws, http_, insecure = "wss://", "https://", []string{"-insecure"}
		args = append(args, "-tls-cert", certFile, "-tls-key", keyFile)
	}
	name := server.Name
	r.Name, r.CC = name, cc
	srv, err := proc.Start(server.Label(), filepath.Join(*binDir, name), io.Discard, args...)
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
		lp, n, line, err := proc.StartReady(filepath.Join(*binDir, "wsload"), 3*time.Minute, append([]string{
			"-url", ws + addr + path, "-scenario", "push", "-c", strconv.Itoa(c),
			"-src", src, "-loops", "1", "-json", "-duration", "30m", "-connect-timeout", "30s"}, insecure...)...)
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
			"-url", ws + addr + "/echo", "-scenario", "echo", "-c", "20", "-msg-rate", "50", "-size", "64",
			"-duration", d.String(), "-loops", "1", "-src", "127.0.38.1-127.0.38.2", "-json"}, insecure...)...)
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
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	post := func(path string, body []byte) error {
		resp, err := client.Post(http_+addr+path, "text/plain", bytes.NewReader(body))
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
		if err := post("/broadcast", pad(load.PushStamp("B", int64(k), time.Now()))); err != nil {
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
		if err := post("/broadcast", pad(load.PushStamp("X", int64(k), time.Now()))); err != nil {
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
	for _, lp := range loads {
		lp.Cmd.Process.Signal(os.Interrupt)
		var out strings.Builder
		for lp.Out.Scan() {
			if !strings.HasPrefix(lp.Out.Text(), "READY") {
				out.WriteString(lp.Out.Text())
			}
		}
		lp.Cmd.Wait()
		var res struct {
			Push *load.PushResult `json:"push"`
		}
		if err := json.Unmarshal([]byte(out.String()), &res); err != nil || res.Push == nil {
			r.Errors = append(r.Errors, fmt.Sprintf("wsload output: %v %.200q", err, out.String()))
			continue
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
