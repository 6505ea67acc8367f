// Command polling measures WebSocket push against Ajax polling on the same
// hub: N clients, notifications published at a rate per client, modes short
// polling (0.5 s, 1 s, 5 s), long polling and WebSocket, all against one wsd.
// Per mode it counts application bytes at the client sockets, packets from
// TCP_INFO, an estimate of TCP/IP header bytes, delivery latency, empty polls,
// requests per second, and the server's CPU and RSS; it writes a markdown
// table and SVG charts to bench/results/.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsd-dev/wsd/bench/internal/proc"
	"github.com/wsd-dev/wsd/load"
)

var (
	binDir      = flag.String("bin", "bin", "directory with wsd")
	clientsFlag = flag.String("clients", "1000,10000", "client counts")
	ratesFlag   = flag.String("rates", "1,0.1", "notifications per client per second")
	modesFlag   = flag.String("modes", "short-0.5s,short-1s,short-5s,long,ws,ws+deflate,ws+deflate-takeover", "modes: short-<interval>, long, ws, ws+deflate (wsd -deflate on), ws+deflate-takeover (wsd -deflate takeover, windows of 2^10)")
	window      = flag.Duration("window", 20*time.Second, "measurement window")
	warmup      = flag.Duration("warmup", 3*time.Second, "time after the clients are connected before the window")
	cookieBytes = flag.Int("cookie-bytes", 160, "size of the session cookie each poll carries")
	size        = flag.Int("size", 64, "notification body size")
	fixture     = flag.String("fixture", "polling/testdata/chromium-fetch.txt", "Chromium's fetch request head")
	outDir      = flag.String("out", "results", "where polling.md, polling.json and the SVG charts go")
	from        = flag.String("from", "", "only render polling.md and the charts again from a saved polling.json")
	procsFlag   = flag.Int("procs", 0, "client processes (0: one per 15,000 clients)")
	worker      = flag.Bool("worker", false, "internal: run one share of the clients, driven over stdin")
	wMode       = flag.String("worker-mode", "", "internal")
	wAddr       = flag.String("worker-addr", "", "internal")
	wFirst      = flag.Int("worker-first", 0, "internal")
	wN          = flag.Int("worker-n", 0, "internal")
)

// perProc is how many clients one process holds by default.
const perProc = 15000

// tcpIPHeader is the estimate of header bytes per packet: IPv4 20 + TCP 20
// + the timestamp option 12 that Linux sends on every segment. Link-layer
// framing (Ethernet 14 + FCS 4, more on the wire) is not counted:
// loopback has none.
const tcpIPHeader = 52

type result struct {
	Mode       string  `json:"mode"`
	Clients    int     `json:"clients"`
	Rate       float64 `json:"notifications_per_client_per_s"`
	Connected  int64   `json:"connected"`
	Failed     int64   `json:"failed"`
	FailDetail string  `json:"fail_detail,omitempty"`
	Window     float64 `json:"window_s"`
	Published  int64   `json:"published"`
	Received   int64   `json:"received"`
	UpBytes    int64   `json:"bytes_client_to_server"`
	DownBytes  int64   `json:"bytes_server_to_client"`
	PacketsUp  int64   `json:"packets_client_to_server"`
	PacketsDn  int64   `json:"packets_server_to_client"`
	Requests   int64   `json:"requests"`
	Empty      int64   `json:"empty_polls"`
	P50ms      float64 `json:"latency_p50_ms"`
	P99ms      float64 `json:"latency_p99_ms"`
	MaxMs      float64 `json:"latency_max_ms"`
	ServerCPU  float64 `json:"server_cpu_s"`
	ServerRSS  int64   `json:"server_rss_bytes"`
	// WebSocket modes: connections by the server's extension answer.
	Negotiated map[string]int64 `json:"negotiated,omitempty"`
}

// Derived figures.
func (r result) appBytesPerSec() float64 { return float64(r.UpBytes+r.DownBytes) / r.Window }
func (r result) wireBytesPerSec() float64 {
	return float64(r.UpBytes+r.DownBytes+(r.PacketsUp+r.PacketsDn)*tcpIPHeader) / r.Window
}
func (r result) mbps(bytesPerSec float64) float64 { return bytesPerSec * 8 / 1e6 }

// Bytes per notification published in the window (both directions).
func (r result) appBytesPerNote() float64 {
	return r.appBytesPerSec() * r.Window / float64(r.Published)
}
func (r result) wireBytesPerNote() float64 {
	return r.wireBytesPerSec() * r.Window / float64(r.Published)
}

func main() {
	flag.Parse()
	log.SetFlags(log.Ltime)
	if *from != "" {
		b, err := os.ReadFile(*from)
		if err != nil {
			log.Fatal(err)
		}
		var rs []result
		if err := json.Unmarshal(b, &rs); err != nil {
			log.Fatalf("%s: %v", *from, err)
		}
		render(rs)
		return
	}
	fix, err := os.ReadFile(*fixture)
	if err != nil {
		log.Fatal(err)
	}
	if *worker {
		runWorker(fix)
		return
	}
	var results []result
	port := 62401
	for _, n := range ints(*clientsFlag) {
		for _, rate := range floats(*ratesFlag) {
			for _, mode := range strings.Split(*modesFlag, ",") {
				r := runOne(mode, n, rate, fix, fmt.Sprintf("127.0.0.1:%d", port))
				port++
				log.Printf("%-10s N=%-6d rate=%-4g %8.3f Mbps app (%8.3f with TCP/IP), p50 %7.1f ms p99 %7.1f ms, %d/%d received, %.0f req/s, %d empty, CPU %.2fs, failed %d %s",
					r.Mode, r.Clients, r.Rate, r.mbps(r.appBytesPerSec()), r.mbps(r.wireBytesPerSec()), r.P50ms, r.P99ms,
					r.Received, r.Published, float64(r.Requests)/r.Window, r.Empty, r.ServerCPU, r.Failed, r.FailDetail)
				results = append(results, r)
			}
		}
	}
	os.MkdirAll(*outDir, 0o755)
	b, _ := json.MarshalIndent(results, "", "  ")
	os.WriteFile(filepath.Join(*outDir, "polling.json"), b, 0o644)
	render(results)
}

func render(rs []result) {
	os.MkdirAll(*outDir, 0o755)
	md := report(rs)
	os.WriteFile(filepath.Join(*outDir, "polling.md"), []byte(md), 0o644)
	writeCharts(rs, *outDir)
	fmt.Print(md)
}

func ints(s string) (out []int) {
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(f)
		if err != nil {
			log.Fatalf("%q: %v", s, err)
		}
		out = append(out, n)
	}
	return out
}

func floats(s string) (out []float64) {
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.ParseFloat(f, 64)
		if err != nil {
			log.Fatalf("%q: %v", s, err)
		}
		out = append(out, n)
	}
	return out
}

// runOne measures one mode against a fresh wsd.
func runOne(mode string, n int, rate float64, fix []byte, addr string) (r result) {
	r = result{Mode: mode, Clients: n, Rate: rate}
	srv, err := proc.Start("wsd", filepath.Join(*binDir, "wsd"), io.Discard, append([]string{"-addr", addr}, serverFlags(mode)...)...)
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Stop(5 * time.Second)
	if err := proc.WaitPort(addr, 10*time.Second); err != nil {
		log.Fatal(err)
	}
	// Everything stops by itself: the clients at the end of the window,
	// whatever the server does.
	ctx, cancel := context.WithTimeout(context.Background(), *warmup+*window+30*time.Second)
	defer cancel()
	var c clients
	procs := *procsFlag
	if procs <= 0 {
		procs = (n + perProc - 1) / perProc // this machine: 20,000 open files per process
	}
	switch {
	case procs > 1:
		c, err = startWorkers(mode, addr, n, procs)
	case isWS(mode):
		c, err = startWS(ctx, mode, addr, 0, n)
	default:
		c, err = startPolling(ctx, mode, addr, 0, n, fix)
	}
	if err != nil {
		r.FailDetail = err.Error()
		return r
	}
	defer c.stop()
	proc.Window(*warmup) // the warm-up window

	pid := srv.PID()
	up0, down0 := c.bytes()
	sin0, sout0 := c.segments()
	req0, empty0 := c.polls()
	cpu0, _ := proc.CPU(pid)
	c.measure(true)
	start := time.Now()
	pubCtx, stopPub := context.WithTimeout(ctx, *window)
	published := publish(pubCtx, addr, n, rate)
	stopPub()
	proc.Window(time.Until(start.Add(*window))) // the rest of the measurement window
	r.Window = time.Since(start).Seconds()
	cpu1, _ := proc.CPU(pid)
	up1, down1 := c.bytes()
	sin1, sout1 := c.segments()
	req1, empty1 := c.polls()
	r.ServerRSS, _ = proc.RSS(pid)
	// Traffic is counted in the window; latencies also for the messages
	// published at its end, which a poller fetches up to an interval later.
	proc.Window(drain(mode)) // the drain window
	c.measure(false)
	r.ServerCPU = (cpu1 - cpu0).Seconds()
	r.UpBytes, r.DownBytes = up1-up0, down1-down0
	r.PacketsDn, r.PacketsUp = sin1-sin0, sout1-sout0 // at the client: in = from the server
	r.Requests, r.Empty = req1-req0, empty1-empty0
	r.Published = published
	h := c.latency()
	r.Received = int64(h.Count())
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	r.P50ms, r.P99ms, r.MaxMs = ms(h.Percentile(50)), ms(h.Percentile(99)), ms(h.Max())
	r.Connected, r.Failed, r.FailDetail = c.connected()
	if isWS(mode) {
		r.Negotiated = c.extensions()
		want := mode != modeWS
		for k, v := range r.Negotiated {
			if (k == "none") == want {
				r.FailDetail += fmt.Sprintf("; %d connections negotiated %q", v, k)
			}
		}
	}
	return r
}

// drain is how long after the window the last notifications may take.
func drain(mode string) time.Duration {
	if d, err := time.ParseDuration(strings.TrimPrefix(mode, "short-")); err == nil && strings.HasPrefix(mode, "short-") {
		return d + 2*time.Second
	}
	return 2 * time.Second
}

// clients is one mode's client side.
type clients interface {
	bytes() (up, down int64)
	segments() (in, out int64)
	polls() (requests, empty int64)
	measure(on bool)
	latency() *load.Histogram
	connected() (ok, failed int64, detail string)
	extensions() map[string]int64 // WebSocket: connections by extension answer
	stop()
}

// publish sends stamped notifications for n users at rate per user per
// second, in batches every 100 ms, until ctx ends; it returns how many.
func publish(ctx context.Context, addr string, n int, rate float64) int64 {
	var published atomic.Int64
	client := &http.Client{Timeout: 5 * time.Second}
	perTick := float64(n) * rate / 10
	carry, next, id := 0.0, 0, int64(0)
	pad := strings.Repeat("x", max(*size-40, 0))
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	var wg sync.WaitGroup
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return published.Load()
		case <-t.C:
		}
		carry += perTick
		k := int(carry)
		carry -= float64(k)
		if k == 0 {
			continue
		}
		type entry struct {
			User    string `json:"user"`
			Message string `json:"message"`
		}
		batch := make([]entry, 0, k)
		now := time.Now()
		for range k {
			id++
			batch = append(batch, entry{User: "u" + strconv.Itoa(next), Message: string(load.PushStamp("U", id, now)) + pad})
			next = (next + 1) % n
		}
		body, _ := json.Marshal(batch)
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := client.Post("http://"+addr+"/publish", "application/json", bytes.NewReader(body))
			if err != nil {
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				published.Add(int64(len(batch)))
			}
		}()
	}
}
