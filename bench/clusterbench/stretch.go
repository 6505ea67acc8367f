package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/wsd-dev/wsd/bench/internal/proc"
	"github.com/wsd-dev/wsd/load"
)

// stretchResult is the 1,000,000-connection attempt.
type stretchResult struct {
	Nodes          int               `json:"nodes"`
	Target         int64             `json:"target_connections"`
	Connected      int64             `json:"connected"`
	ConnectSeconds float64           `json:"connect_seconds"`
	HeldSeconds    float64           `json:"held_seconds"`
	OpenAfterHold  int64             `json:"open_after_hold"` // the nodes' hub connections summed
	NodesRSSMiB    float64           `json:"nodes_rss_mib"`
	NodeRSSMinMiB  float64           `json:"node_rss_min_mib"`
	NodeRSSMaxMiB  float64           `json:"node_rss_max_mib"`
	FixedRSSMiB    float64           `json:"nodes_rss_before_clients_mib"`
	ClientsRSSMiB  float64           `json:"clients_rss_mib"`
	Sockstat       map[string]string `json:"sockstat"` // before and after: the TCP line
	SlabMiB        map[string]string `json:"slab_mib"` // before → after, per cache
	MemAvailMiB    [2]float64        `json:"mem_available_mib"`
	FanoutMs       float64           `json:"fanout_ms"`
	Delivered      int64             `json:"broadcast_frames_received"`
	DeliveryP99Ms  float64           `json:"delivery_p99_ms"`
	Errors         []string          `json:"errors,omitempty"`
}

func sockstat() string {
	b, _ := os.ReadFile("/proc/net/sockstat")
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "TCP:") {
			return strings.TrimSpace(l)
		}
	}
	return ""
}

// slab returns the bytes of the caches a TCP socket costs.
func slab() map[string]float64 {
	out := map[string]float64{}
	f, err := os.Open("/proc/slabinfo")
	if err != nil {
		return out
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 4 {
			continue
		}
		switch fs[0] {
		case "TCP", "sock_inode_cache", "tcp_bind_bucket", "filp", "eventpoll_epi", "dentry", "request_sock_TCP":
			n, _ := strconv.ParseFloat(fs[1], 64)
			size, _ := strconv.ParseFloat(fs[3], 64)
			out[fs[0]] += n * size
		}
	}
	return out
}

func memAvailable() float64 {
	b, _ := os.ReadFile("/proc/meminfo")
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "MemAvailable:") {
			kb, _ := strconv.ParseFloat(strings.Fields(l)[1], 64)
			return kb / 1024
		}
	}
	return 0
}

func openConns(ns []*node) (total int64) {
	for _, nd := range ns {
		var st struct {
			Conns int64 `json:"hub_connections"`
		}
		resp, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://" + nd.addr + "/stats")
		if err != nil {
			continue
		}
		json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		total += st.Conns
	}
	return total
}

func runStretch() (r stretchResult) {
	r.Nodes, r.Target = *nodes, int64(*nodes**perNode)
	if *natsURL == "" {
		r.Errors = append(r.Errors, "-stretch needs -nats")
		return
	}
	r.Sockstat = map[string]string{"before": sockstat()}
	slab0 := slab()
	r.MemAvailMiB[0] = memAvailable()
	ns, err := startNodes(*nodes, true, "")
	defer func() {
		for _, nd := range ns {
			nd.p.Stop(30 * time.Second)
		}
	}()
	if err != nil {
		r.Errors = append(r.Errors, "starting nodes: "+err.Error())
		return
	}
	_, fixed := rssMiB(ns)
	r.FixedRSSMiB = float64(fixed) / (1 << 20)
	var rr result
	t0 := time.Now()
	loads := receivers(ns, "n", *perNode, 40, &rr)
	defer func() {
		for _, lp := range loads {
			if lp.Cmd.ProcessState == nil {
				lp.Stop(10 * time.Second)
			}
		}
	}()
	r.Errors = append(r.Errors, rr.Errors...)
	r.Connected = rr.Receivers
	r.ConnectSeconds = time.Since(t0).Seconds()
	log.Printf("stretch: %d of %d connected in %.0f s", r.Connected, r.Target, r.ConnectSeconds)
	t1 := time.Now()
	time.Sleep(*hold)
	r.HeldSeconds = time.Since(t1).Seconds()
	r.OpenAfterHold = openConns(ns)
	per, total := rssMiB(ns)
	r.NodesRSSMiB = float64(total) / (1 << 20)
	r.NodeRSSMinMiB, r.NodeRSSMaxMiB = per[0], per[0]
	for _, v := range per {
		r.NodeRSSMinMiB, r.NodeRSSMaxMiB = min(r.NodeRSSMinMiB, v), max(r.NodeRSSMaxMiB, v)
	}
	for _, lp := range loads {
		if rss, err := proc.RSS(lp.PID()); err == nil {
			r.ClientsRSSMiB += float64(rss) / (1 << 20)
		}
	}
	r.Sockstat["after"] = sockstat()
	slab1 := slab()
	r.SlabMiB = map[string]string{}
	for k, v := range slab1 {
		r.SlabMiB[k] = fmt.Sprintf("%.0f → %.0f", slab0[k]/(1<<20), v/(1<<20))
	}
	r.MemAvailMiB[1] = memAvailable()
	log.Printf("stretch: held %.0f s, %d open; nodes' RSS %.0f MiB; %s", r.HeldSeconds, r.OpenAfterHold, r.NodesRSSMiB, r.Sockstat["after"])
	if err := post(ns[0].addr, "/broadcast", pad(load.PushStamp("B", 1, time.Now()))); err != nil {
		r.Errors = append(r.Errors, "broadcast: "+err.Error())
	}
	time.Sleep(*gap)
	var rc result
	bcast, _, last := collect(loads, &rc)
	r.Errors = append(r.Errors, rc.Errors...)
	r.FanoutMs = float64(last[1]) / 1e6
	r.Delivered = int64(bcast.Count())
	r.DeliveryP99Ms = ms(bcast.Percentile(99))
	if r.Delivered != r.Connected {
		r.Errors = append(r.Errors, fmt.Sprintf("the broadcast reached %d of %d connections", r.Delivered, r.Connected))
	}
	return r
}

func stretchTable(r stretchResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "| nodes | connections (target) | connect time | held | open after the hold | broadcast: fan-out to last | delivery p99 | frames received | nodes' RSS (before clients) | per node | per connection | clients' RSS | MemAvailable before → after |\n")
	b.WriteString("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	perConn := 0.0
	if r.Connected > 0 {
		perConn = (r.NodesRSSMiB - r.FixedRSSMiB) * (1 << 20) / float64(r.Connected)
	}
	fmt.Fprintf(&b, "| %d | %d (%d) | %.0f s | %.0f s | %d | %.0f ms | %.0f ms | %d | %.0f MiB (%.0f) | %.1f–%.1f MiB | %.0f B | %.0f MiB | %.0f → %.0f MiB |\n",
		r.Nodes, r.Connected, r.Target, r.ConnectSeconds, r.HeldSeconds, r.OpenAfterHold, r.FanoutMs, r.DeliveryP99Ms, r.Delivered,
		r.NodesRSSMiB, r.FixedRSSMiB, r.NodeRSSMinMiB, r.NodeRSSMaxMiB, perConn, r.ClientsRSSMiB, r.MemAvailMiB[0], r.MemAvailMiB[1])
	fmt.Fprintf(&b, "\nKernel: /proc/net/sockstat before `%s`, after `%s` (mem is in pages of 4 KiB).\n\nSlab caches (MiB, before → after):", r.Sockstat["before"], r.Sockstat["after"])
	for k, v := range r.SlabMiB {
		fmt.Fprintf(&b, " %s %s;", k, v)
	}
	b.WriteString("\n")
	for _, e := range r.Errors {
		fmt.Fprintf(&b, "\n- %s", e)
	}
	b.WriteString("\n\nCommand: `bench/bin/clusterbench " + strings.Join(os.Args[1:], " ") + "`.\n")
	return b.String()
}
