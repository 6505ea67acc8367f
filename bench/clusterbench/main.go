// Command clusterbench measures wsd nodes joined into a cluster (embedded
// NATS, JetStream) on this machine, beside one wsd node alone, in one run:
//
//   - a single node (no cluster flags) with -per-node receivers: fan-out to
//     the last receiver and server CPU per recipient of a broadcast;
//   - -nodes nodes with -per-node receivers each (one wsload process per
//     node, over its own source addresses): the same broadcast figures (the
//     broadcast posted to node 1 travels once to each node through NATS),
//     the sum of the nodes' RSS per connection and each node's fixed cost
//     (RSS before any client connected), publish-to-user latency across
//     nodes (posted to node k, received on node k+1) at -publish-rate, and
//     what NATS moved per broadcast and per publish (the embedded servers'
//     message and byte counters, summed over nodes) with the nodes' CPU.
//
// With -stretch the nodes join an existing NATS (-nats, e.g. Debian's
// nats-server) instead of embedding one each (a 53-member JetStream meta
// group is not how one would run it), hold their receivers -hold with
// pings, and one broadcast goes to all; it reports the RSS, the kernel's
// socket memory (/proc/net/sockstat, slab) and the fan-out time, or where
// it broke.
package main

import (
	"bytes"
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
	"github.com/wsd-dev/wsd/load"
)

var (
	binDir     = flag.String("bin", "bin", "directory with wsd and wsload")
	nodes      = flag.Int("nodes", 5, "cluster nodes (processes)")
	perNode    = flag.Int("per-node", 19000, "receivers per node")
	broadcasts = flag.Int("broadcasts", 10, "broadcasts (cluster and single node each)")
	gap        = flag.Duration("gap", 2*time.Second, "pause after each broadcast (longer than a fan-out)")
	publishes  = flag.Int("publishes", 5000, "publishes to single users, across nodes")
	pubRate    = flag.Float64("publish-rate", 1000, "publishes per second")
	probes     = flag.Int("probes", 200, "users per node that publishes go to (their own wsload process per node)")
	size       = flag.Int("size", 64, "message size")
	single     = flag.Bool("single", true, "measure one node alone first, for the per-recipient figures beside")
	stretch    = flag.Bool("stretch", false, "the stretch: -nodes nodes on -nats, held -hold with pings, one broadcast")
	natsURL    = flag.String("nats", "", "with -stretch: the NATS the nodes join (nats://127.0.0.1:P)")
	hold       = flag.Duration("hold", 60*time.Second, "with -stretch: how long the receivers are held before the broadcast")
	ping       = flag.Duration("ping-interval", 20*time.Second, "the nodes' -ping-interval")
	minAvail   = flag.Float64("min-available", 3072, "with -stretch: stop adding receivers when MemAvailable falls under this many MiB")
	natsBcasts = flag.Int("nats-broadcasts", 500, "broadcasts sent before the receivers connect, to measure NATS per broadcast")
	outDir     = flag.String("out", "results", "where cluster.md and cluster.json (stretch: cluster-1m.md/json) go")
	basePort   = flag.Int("port", 62400, "nodes listen on 127.0.0.1:port+i, routes on 127.0.0.1:port+200+i")
)

func main() {
	flag.Parse()
	log.SetFlags(log.Ltime)
	os.MkdirAll(*outDir, 0o755)
	if *stretch {
		r := runStretch()
		write("cluster-1m", r, stretchTable(r))
		return
	}
	var rs []result
	if *single {
		rs = append(rs, run(1, false))
	}
	rs = append(rs, run(*nodes, true))
	write("cluster", rs, table(rs))
}

func write(name string, v any, md string) {
	b, _ := json.MarshalIndent(v, "", "  ")
	os.WriteFile(filepath.Join(*outDir, name+".json"), b, 0o644)
	os.WriteFile(filepath.Join(*outDir, name+".md"), []byte(md), 0o644)
	fmt.Print(md)
}

type result struct {
	Label          string    `json:"label"`
	Nodes          int       `json:"nodes"`
	Receivers      int64     `json:"receivers"`
	FanoutMs       []float64 `json:"fanout_ms"`
	FanoutMedianMs float64   `json:"fanout_median_ms"`
	FanoutMaxMs    float64   `json:"fanout_max_ms"`
	DeliveryP99Ms  float64   `json:"delivery_p99_ms"`
	Delivered      int64     `json:"broadcast_frames_received"`
	CPUPerBcastMs  float64   `json:"server_cpu_ms_per_broadcast"`    // all nodes
	CPUPerRecipUs  float64   `json:"server_cpu_us_per_recipient"`    // all nodes
	RSSFixedMiB    []float64 `json:"node_rss_before_clients_mib"`    // each node's fixed cost
	RSSMiB         []float64 `json:"node_rss_with_clients_mib"`      // each node
	RSSPerConnB    float64   `json:"rss_per_connection_bytes"`       // sum of (with - before) / receivers
	RSSTotalPerB   float64   `json:"rss_total_per_connection_bytes"` // sum of with / receivers
	PublishSent    int64     `json:"publishes"`
	PublishFailed  int64     `json:"publishes_failed"`
	PublishRecv    int64     `json:"publishes_received"`
	PublishP50Ms   float64   `json:"publish_p50_ms"`
	PublishP99Ms   float64   `json:"publish_p99_ms"`
	CPUPerPubMs    float64   `json:"server_cpu_ms_per_publish"` // all nodes
	NATSBcast      natsCost  `json:"nats_per_broadcast"`
	NATSPub        natsCost  `json:"nats_per_publish"`
	Errors         []string  `json:"errors,omitempty"`
}

// natsPerBroadcast measures what NATS moves for one broadcast, which does
// not depend on the recipients: -nats-broadcasts back to back before any
// receiver connected, less the background over as long an idle window.
func natsPerBroadcast(ns []*node, r *result) natsCost {
	k := *natsBcasts
	a := natsNow(ns)
	t0 := time.Now()
	for i := range k {
		if err := post(ns[i%len(ns)].addr, "/broadcast", pad([]byte("nats cost"))); err != nil {
			r.Errors = append(r.Errors, err.Error())
			break
		}
	}
	d := time.Since(t0)
	b := natsNow(ns)
	time.Sleep(d)
	c := natsNow(ns)
	bg := c.per(b, 1)
	return natsCost{b.InMsgs - a.InMsgs - bg.InMsgs, b.OutMsgs - a.OutMsgs - bg.OutMsgs,
		b.InBytes - a.InBytes - bg.InBytes, b.OutBytes - a.OutBytes - bg.OutBytes}.per(natsCost{}, k)
}

// natsCost is what the embedded NATS servers moved, summed over nodes.
type natsCost struct {
	InMsgs   float64 `json:"in_msgs"`
	OutMsgs  float64 `json:"out_msgs"`
	InBytes  float64 `json:"in_bytes"`
	OutBytes float64 `json:"out_bytes"`
}

// node is one wsd process.
type node struct {
	p    *proc.Process
	addr string
}

func startNodes(n int, clustered bool, dir string, extra ...string) ([]*node, error) {
	var ns []*node
	for i := range n {
		addr := fmt.Sprintf("127.0.0.1:%d", *basePort+i)
		args := []string{"-addr", addr, "-ping-interval", ping.String()}
		if clustered {
			name := fmt.Sprintf("n%d", i+1)
			args = append(args, "-node", name)
			if *natsURL != "" {
				args = append(args, "-nats", *natsURL)
			} else {
				var peers []string
				for j := range n {
					if j != i {
						peers = append(peers, fmt.Sprintf("127.0.0.1:%d", *basePort+200+j))
					}
				}
				args = append(args, "-cluster-listen", fmt.Sprintf("127.0.0.1:%d", *basePort+200+i),
					"-cluster-peers", strings.Join(peers, ","), "-data", filepath.Join(dir, name))
			}
		}
		p, err := proc.Start(fmt.Sprintf("wsd %d", i+1), filepath.Join(*binDir, "wsd"), io.Discard, append(args, extra...)...)
		if err != nil {
			return ns, err
		}
		ns = append(ns, &node{p: p, addr: addr})
	}
	for _, nd := range ns {
		if err := proc.WaitPort(nd.addr, 30*time.Second); err != nil {
			return ns, err
		}
	}
	if clustered {
		deadline := time.Now().Add(3 * time.Minute)
		for _, nd := range ns {
			for {
				h, code := health(nd.addr)
				if code == 200 && len(h.Cluster.Nodes) == n {
					break
				}
				if time.Now().After(deadline) {
					return ns, fmt.Errorf("node %s not ready: %d %+v", nd.addr, code, h)
				}
				time.Sleep(200 * time.Millisecond)
			}
		}
	}
	return ns, nil
}

type healthz struct {
	Cluster struct {
		Nodes []any `json:"nodes"`
		Stats struct {
			InMsgs   int64 `json:"in_msgs"`
			OutMsgs  int64 `json:"out_msgs"`
			InBytes  int64 `json:"in_bytes"`
			OutBytes int64 `json:"out_bytes"`
		} `json:"nats_server_stats"`
	} `json:"cluster"`
}

func health(addr string) (healthz, int) {
	var h healthz
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + addr + "/healthz")
	if err != nil {
		return h, 0
	}
	defer resp.Body.Close()
	json.NewDecoder(resp.Body).Decode(&h)
	return h, resp.StatusCode
}

// natsNow sums the embedded servers' counters.
func natsNow(ns []*node) (c natsCost) {
	for _, nd := range ns {
		h, _ := health(nd.addr)
		c.InMsgs += float64(h.Cluster.Stats.InMsgs)
		c.OutMsgs += float64(h.Cluster.Stats.OutMsgs)
		c.InBytes += float64(h.Cluster.Stats.InBytes)
		c.OutBytes += float64(h.Cluster.Stats.OutBytes)
	}
	return c
}

func (a natsCost) per(b natsCost, n int) natsCost {
	f := float64(max(n, 1))
	return natsCost{(a.InMsgs - b.InMsgs) / f, (a.OutMsgs - b.OutMsgs) / f, (a.InBytes - b.InBytes) / f, (a.OutBytes - b.OutBytes) / f}
}

func cpuOf(ns []*node) (d time.Duration) {
	for _, nd := range ns {
		c, _ := proc.CPU(nd.p.PID())
		d += c
	}
	return d
}

func rssMiB(ns []*node) (out []float64, total int64) {
	for _, nd := range ns {
		r, _ := proc.RSS(nd.p.PID())
		out = append(out, float64(r)/(1<<20))
		total += r
	}
	return out, total
}

// receivers starts one wsload push process per node: c users each,
// /ws/{prefix}{node}u{i}, over source addresses of their own.
func receivers(ns []*node, prefix string, c int, srcBase int, r *result) []*proc.Process {
	var loads []*proc.Process
	for i, nd := range ns {
		if avail := memAvailable(); *stretch && avail < *minAvail {
			r.Errors = append(r.Errors, fmt.Sprintf("stopped before node %d's receivers: MemAvailable %.0f MiB, under -min-available %.0f", i+1, avail, *minAvail))
			break
		}
		a := srcBase + i
		src := fmt.Sprintf("127.%d.%d.1-127.%d.%d.4", a/256, a%256, a/256, a%256)
		lp, n, line, err := proc.StartReady(filepath.Join(*binDir, "wsload"), 5*time.Minute,
			"-url", "ws://"+nd.addr+"/ws/"+prefix+strconv.Itoa(i)+"u{i}", "-scenario", "push", "-c", strconv.Itoa(c),
			"-src", src, "-loops", "1", "-rate", "5000", "-json", "-duration", "60m", "-connect-timeout", "60s")
		if err != nil {
			r.Errors = append(r.Errors, fmt.Sprintf("wsload for %s: %v", nd.addr, err))
			continue
		}
		loads = append(loads, lp)
		if n < c {
			r.Errors = append(r.Errors, fmt.Sprintf("%s: %d of %d connected: %s", nd.addr, n, c, line))
		}
		r.Receivers += int64(n)
	}
	return loads
}

// collect stops the wsload processes and merges what they measured.
func collect(loads []*proc.Process, r *result) (bcast, pub load.Histogram, last map[int64]int64) {
	last = map[int64]int64{}
	for _, lp := range loads { // all at once: each closes its connections in parallel
		lp.Cmd.Process.Signal(os.Interrupt)
	}
	for _, lp := range loads {
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
		for id, ns := range res.Push.LastByID {
			last[id] = max(last[id], ns)
		}
	}
	return
}

var client = &http.Client{Timeout: 30 * time.Second}

func post(addr, path string, body []byte) error {
	resp, err := client.Post("http://"+addr+path, "text/plain", bytes.NewReader(body))
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

func pad(b []byte) []byte { return append(b, bytes.Repeat([]byte("x"), max(*size-len(b), 0))...) }

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// run measures n nodes (clustered or one alone).
func run(n int, clustered bool) (r result) {
	r.Nodes = n
	r.Label = "1 node alone"
	if clustered {
		r.Label = fmt.Sprintf("%d nodes, embedded NATS", n)
	}
	dir, _ := os.MkdirTemp("", "clusterbench")
	defer os.RemoveAll(dir)
	ns, err := startNodes(n, clustered, dir)
	defer func() {
		for _, nd := range ns {
			nd.p.Stop(10 * time.Second)
		}
	}()
	if err != nil {
		r.Errors = append(r.Errors, err.Error())
		return
	}
	proc.Window(2 * time.Second)
	if clustered {
		r.NATSBcast = natsPerBroadcast(ns, &r)
	}
	fixed, fixedTotal := rssMiB(ns)
	r.RSSFixedMiB = fixed
	loads := receivers(ns, "n", *perNode, 40, &r)
	var probeLoads []*proc.Process
	if clustered {
		probeLoads = receivers(ns, "q", *probes, 100, &r)
		r.Receivers -= int64(n * *probes)
	}
	defer func() {
		for _, lp := range append(loads, probeLoads...) {
			if lp.Cmd.ProcessState == nil {
				lp.Stop(5 * time.Second)
			}
		}
	}()
	proc.Window(5 * time.Second)
	with, total := rssMiB(ns)
	r.RSSMiB = with
	conns := r.Receivers + int64(len(probeLoads)**probes)
	r.RSSPerConnB = float64(total-fixedTotal) / float64(conns)
	r.RSSTotalPerB = float64(total) / float64(conns)
	log.Printf("%s: %d receivers; RSS %.0f → %.0f MiB in all, %.0f B per connection", r.Label, r.Receivers, float64(fixedTotal)/(1<<20), float64(total)/(1<<20), r.RSSPerConnB)

	// The nodes' background (heartbeats, health probes, pings): CPU and
	// NATS traffic over an idle window, subtracted from each phase below.
	idle := min(time.Duration(*broadcasts)**gap, 20*time.Second)
	ci0, ni0 := cpuOf(ns), natsNow(ns)
	time.Sleep(idle)
	ci1, ni1 := cpuOf(ns), natsNow(ns)
	bgCPU := float64(ci1-ci0) / idle.Seconds() // ns of CPU per second
	bgNATS := ni1.per(ni0, 1)
	background := func(c natsCost, d time.Duration) natsCost {
		f := d.Seconds() / idle.Seconds()
		return natsCost{c.InMsgs - bgNATS.InMsgs*f, c.OutMsgs - bgNATS.OutMsgs*f, c.InBytes - bgNATS.InBytes*f, c.OutBytes - bgNATS.OutBytes*f}
	}
	less := func(c time.Duration, d time.Duration) time.Duration {
		return c - time.Duration(bgCPU*d.Seconds())
	}
	c0, n0, t0 := cpuOf(ns), natsNow(ns), time.Now()
	for k := 1; k <= *broadcasts; k++ {
		if err := post(ns[0].addr, "/broadcast", pad(load.PushStamp("B", int64(k), time.Now()))); err != nil {
			r.Errors = append(r.Errors, err.Error())
		}
		time.Sleep(*gap)
	}
	c1, n1, t1 := cpuOf(ns), natsNow(ns), time.Now()
	_ = n0
	bcastCPU := less(c1-c0, t1.Sub(t0))
	if clustered {
		// Publishes to users on the next node, at the rate, from a few
		// concurrent posters (a publish waits for the store's ack).
		interval := time.Duration(float64(time.Second) / *pubRate)
		type job struct {
			j int
		}
		jobs := make(chan job, 1024)
		done := make(chan [2]int64)
		for w := 0; w < 32; w++ {
			go func() {
				var ok, failed int64
				for jb := range jobs {
					from := jb.j % n
					to := (from + 1) % n
					path := fmt.Sprintf("/publish/q%du%d", to, rand.IntN(*probes))
					if err := post(ns[from].addr, path, pad(load.PushStamp("U", int64(jb.j), time.Now()))); err != nil {
						failed++
					} else {
						ok++
					}
				}
				done <- [2]int64{ok, failed}
			}()
		}
		start := time.Now()
		for j := 1; j <= *publishes; j++ {
			if d := time.Until(start.Add(time.Duration(j) * interval)); d > 0 {
				time.Sleep(d)
			}
			jobs <- job{j}
		}
		close(jobs)
		for w := 0; w < 32; w++ {
			d := <-done
			r.PublishSent += d[0]
			r.PublishFailed += d[1]
		}
		time.Sleep(2 * time.Second)
		c2, n2, t2 := cpuOf(ns), natsNow(ns), time.Now()
		r.NATSPub = background(n2, t2.Sub(t1)).per(n1, *publishes)
		r.CPUPerPubMs = ms(less(c2-c1, t2.Sub(t1))) / float64(*publishes)
		log.Printf("%s: %d publishes in %v", r.Label, *publishes, time.Since(start))
	}
	bcast, pub, last := collect(append(loads, probeLoads...), &r)
	for k := 1; k <= *broadcasts; k++ {
		r.FanoutMs = append(r.FanoutMs, float64(last[int64(k)])/1e6)
	}
	s := slices.Clone(r.FanoutMs)
	slices.Sort(s)
	r.FanoutMedianMs, r.FanoutMaxMs = s[len(s)/2], s[len(s)-1]
	r.Delivered = int64(bcast.Count())
	r.DeliveryP99Ms = ms(bcast.Percentile(99))
	r.CPUPerBcastMs = ms(bcastCPU) / float64(*broadcasts)
	if r.Delivered > 0 {
		r.CPUPerRecipUs = float64(bcastCPU) / 1e3 / float64(r.Delivered)
	}
	r.PublishRecv = int64(pub.Count())
	r.PublishP50Ms, r.PublishP99Ms = ms(pub.Percentile(50)), ms(pub.Percentile(99))
	want := int64(*broadcasts) * (r.Receivers + int64(len(probeLoads)**probes))
	if r.Delivered != want {
		r.Errors = append(r.Errors, fmt.Sprintf("%d broadcast frames received, want %d", r.Delivered, want))
	}
	if clustered && r.PublishRecv != r.PublishSent {
		r.Errors = append(r.Errors, fmt.Sprintf("%d of %d acknowledged publishes received", r.PublishRecv, r.PublishSent))
	}
	log.Printf("%s: fan-out median %.1f ms (max %.1f), CPU %.2f µs per recipient, publish p50 %.2f p99 %.2f ms %v",
		r.Label, r.FanoutMedianMs, r.FanoutMaxMs, r.CPUPerRecipUs, r.PublishP50Ms, r.PublishP99Ms, r.Errors)
	return r
}

func table(rs []result) string {
	var b strings.Builder
	b.WriteString("| setup | receivers | broadcast: fan-out to last, median (max) | delivery p99 | server CPU per broadcast (all nodes) | per recipient | RSS per connection (sum of nodes, less fixed) | RSS in all per connection | each node's fixed RSS | publish-to-user across nodes p50 / p99 (sent, failed) | server CPU per publish | NATS per broadcast: msgs in/out, bytes in/out | NATS per publish: msgs in/out, bytes in/out |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rs {
		fixed := "–"
		if len(r.RSSFixedMiB) > 0 {
			lo, hi := slices.Min(r.RSSFixedMiB), slices.Max(r.RSSFixedMiB)
			fixed = fmt.Sprintf("%.1f–%.1f MiB", lo, hi)
		}
		pub, cpuPub, natsPub := "–", "–", "–"
		if r.Nodes > 1 {
			pub = fmt.Sprintf("%.2f / %.2f ms (%d, %d)", r.PublishP50Ms, r.PublishP99Ms, r.PublishSent, r.PublishFailed)
			cpuPub = fmt.Sprintf("%.2f ms", r.CPUPerPubMs)
			natsPub = fmt.Sprintf("%.1f / %.1f, %.0f / %.0f B", r.NATSPub.InMsgs, r.NATSPub.OutMsgs, r.NATSPub.InBytes, r.NATSPub.OutBytes)
		}
		natsB := "–"
		if r.Nodes > 1 {
			natsB = fmt.Sprintf("%.1f / %.1f, %.0f / %.0f B", r.NATSBcast.InMsgs, r.NATSBcast.OutMsgs, r.NATSBcast.InBytes, r.NATSBcast.OutBytes)
		}
		fmt.Fprintf(&b, "| %s | %d | %.1f ms (%.1f) | %.1f ms | %.1f ms | %.2f µs | %.0f B | %.0f B | %s | %s | %s | %s | %s |\n",
			r.Label, r.Receivers, r.FanoutMedianMs, r.FanoutMaxMs, r.DeliveryP99Ms, r.CPUPerBcastMs, r.CPUPerRecipUs,
			r.RSSPerConnB, r.RSSTotalPerB, fixed, pub, cpuPub, natsB, natsPub)
	}
	for _, r := range rs {
		for _, e := range r.Errors {
			fmt.Fprintf(&b, "\n- %s: %s", r.Label, e)
		}
	}
	b.WriteString("\n\nCommand: `make bench-cluster` (bench/clusterbench: " + strings.Join(os.Args[1:], " ") + "). Server CPU is utime+stime of every wsd process over the phase, less the same processes' CPU over an idle window of the same length (heartbeats, health probes); NATS figures are the embedded servers' counters (client and route traffic) summed over nodes, less the idle window's; NATS per broadcast is measured over -nats-broadcasts broadcasts sent before the receivers connect (what NATS moves does not depend on the recipients).\n")
	return b.String()
}
