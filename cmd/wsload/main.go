// Command wsload is a load generator for any WebSocket server, on the
// project's own poller and frame code.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/wsd-dev/wsd/load"
)

func main() {
	code, err := run(os.Args[1:], os.Stdout, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "wsload:", err)
	}
	os.Exit(code)
}

type options struct {
	url, src, scenario string
	conns              int
	rate               float64
	loops              int
	duration           time.Duration
	connectTimeout     time.Duration
	size               int
	msgs               int64
	window             int64
	msgRate            float64
	binary, jsonOut    bool
	ready              bool
	publishURL         string
	publishRate        float64
	publishCount       int
	publishToken       string
}

func run(args []string, stdout, stderr io.Writer) (int, error) {
	fs := flag.NewFlagSet("wsload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.url, "url", "ws://127.0.0.1:8080/echo", "server URL; {i} becomes the connection's index")
	fs.StringVar(&o.src, "src", "", "source addresses: a range 127.0.0.2-127.0.0.50 or a comma list")
	fs.StringVar(&o.scenario, "scenario", "echo", "hold | echo | push")
	fs.IntVar(&o.conns, "c", 100, "connections")
	fs.Float64Var(&o.rate, "rate", 0, "new connections per second (0: as fast as possible)")
	fs.IntVar(&o.loops, "loops", 2, "event loops")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "how long the scenario runs at most")
	fs.DurationVar(&o.connectTimeout, "connect-timeout", 10*time.Second, "connect + handshake limit")
	fs.IntVar(&o.size, "size", 64, "echo: message size in bytes (at least 32)")
	fs.Int64Var(&o.msgs, "msgs", 0, "echo: messages per connection (0: until -duration)")
	fs.Int64Var(&o.window, "window", 1, "echo: messages in flight per connection")
	fs.Float64Var(&o.msgRate, "msg-rate", 0, "echo: messages per second per connection (0: closed loop)")
	fs.BoolVar(&o.binary, "binary", false, "echo: binary frames")
	fs.BoolVar(&o.jsonOut, "json", false, "print the result as JSON")
	fs.BoolVar(&o.ready, "ready", false, "print READY <n> on stdout once every connection is open")
	fs.StringVar(&o.publishURL, "publish-url", "", "push: POST stamped messages here (e.g. http://127.0.0.1:8080/broadcast or …/publish/u{i})")
	fs.Float64Var(&o.publishRate, "publish-rate", 10, "push: messages published per second")
	fs.IntVar(&o.publishCount, "publish-count", 0, "push: messages to publish (0: until -duration)")
	fs.StringVar(&o.publishToken, "publish-token", "", "push: Bearer token for the publish URL")
	if err := fs.Parse(args); err != nil {
		return 2, err
	}
	u, err := url.Parse(o.url)
	if err != nil || u.Scheme != "ws" {
		return 2, fmt.Errorf("-url %q: want ws://host:port/path", o.url)
	}
	target, err := netip.ParseAddrPort(u.Host)
	if err != nil {
		return 2, fmt.Errorf("-url host %q: want an IP address and port: %v", u.Host, err)
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	path = strings.ReplaceAll(path, "%7Bi%7D", "{i}")
	if u.RawQuery != "" {
		path += "?" + strings.ReplaceAll(u.RawQuery, "%7Bi%7D", "{i}")
	}
	sources, err := load.ParseSources(o.src)
	if err != nil {
		return 2, err
	}
	var sc load.Scenario
	var echo *load.Echo
	var push *load.Push
	switch o.scenario {
	case "hold":
		sc = load.Hold{}
	case "push":
		push = &load.Push{}
		sc = push
	case "echo":
		echo = &load.Echo{Size: o.size, PerConn: o.msgs, Window: o.window, Rate: o.msgRate, Binary: o.binary}
		sc = echo
	default:
		return 2, fmt.Errorf("-scenario %q: want hold, echo or push", o.scenario)
	}
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(o.loops + 1) // as in wsd: a spare P beside the loops
	}
	tick := 10 * time.Millisecond
	if o.msgRate > 0 {
		tick = time.Millisecond
	}
	e, err := load.New(load.Config{Target: target, Path: path, Sources: sources, Loops: o.loops, ConnectTimeout: o.connectTimeout, Tick: tick}, sc)
	if err != nil {
		return 1, err
	}
	e.Start()

	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, o.duration)
	defer cancelT()
	start := time.Now()
	e.Dial(ctx, 0, o.conns, o.rate)
	connected := time.Since(start)
	if o.ready {
		st := e.Stats()
		fmt.Fprintf(stdout, "READY %d failed=%d %v %v\n", st.Open, st.Failed(), st.Failures, st.Errors)
	}
	scStart := time.Now()
	var published publishStats
	if push != nil && o.publishURL != "" {
		published = publish(ctx, o, e.Stats().Opened)
		time.Sleep(time.Second) // let the last ones arrive
		cancelT()
	}
	if echo != nil && o.msgs > 0 {
		for ctx.Err() == nil && echo.Stats().ConnsDone < e.Stats().Opened {
			time.Sleep(2 * time.Millisecond)
		}
	} else {
		<-ctx.Done()
	}
	elapsed := time.Since(scStart)
	if echo != nil {
		echo.Stop()
	}
	connH, hsH, latH := e.Collect()
	var pr load.PushResult
	if push != nil {
		pr = push.Collect(e) // before Close: it runs on the loops
	}
	e.Close(2 * time.Second)

	res := result{Connections: o.conns, Elapsed: elapsed.Seconds(), ConnectPhase: connected.Seconds(), Stats: e.Stats(),
		ConnectMs: pcts(&connH), HandshakeMs: pcts(&hsH)}
	if echo != nil {
		st := echo.Stats()
		res.Echo = &echoResult{Sent: st.Sent, Received: st.Received, Mismatched: st.Mismatched, FirstMismatch: st.FirstMismatch,
			MsgsPerSec: float64(st.Received) / elapsed.Seconds(), MBPerSec: float64(st.Bytes) / elapsed.Seconds() / 1e6,
			LatencyMs: pcts(&latH)}
	}
	if push != nil {
		res.Push = &pushResult{PushResult: pr, Published: published, Summary: map[string]map[string]float64{}}
		for k, d := range pr.Kinds {
			var h load.Histogram
			h.Import(d)
			res.Push.Summary[k] = pcts(&h)
		}
	}
	if o.jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(res)
	} else {
		res.print(stdout)
	}
	if res.Stats.Failed() > 0 || (res.Echo != nil && res.Echo.Mismatched > 0) {
		return 1, nil
	}
	return 0, nil
}

type result struct {
	Connections  int                `json:"connections"`
	ConnectPhase float64            `json:"connect_phase_s"`
	Elapsed      float64            `json:"elapsed_s"`
	Stats        load.Stats         `json:"stats"`
	ConnectMs    map[string]float64 `json:"connect_ms"`
	HandshakeMs  map[string]float64 `json:"handshake_ms"`
	Echo         *echoResult        `json:"echo,omitempty"`
	Push         *pushResult        `json:"push,omitempty"`
}

type pushResult struct {
	load.PushResult
	Published publishStats                  `json:"published"`
	Summary   map[string]map[string]float64 `json:"latency_ms_by_kind"`
}

type echoResult struct {
	Sent          int64              `json:"sent"`
	Received      int64              `json:"received"`
	Mismatched    int64              `json:"mismatched"`
	FirstMismatch string             `json:"first_mismatch,omitempty"`
	MsgsPerSec    float64            `json:"msgs_per_s"`
	MBPerSec      float64            `json:"mb_per_s"`
	LatencyMs     map[string]float64 `json:"latency_ms"`
}

func pcts(h *load.Histogram) map[string]float64 {
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	return map[string]float64{
		"p50": ms(h.Percentile(50)), "p90": ms(h.Percentile(90)), "p99": ms(h.Percentile(99)),
		"p99.9": ms(h.Percentile(99.9)), "max": ms(h.Max()), "count": float64(h.Count()),
	}
}

func (r result) print(w io.Writer) {
	fmt.Fprintf(w, "connections  %d opened, %d failed %v (connect phase %.2fs)\n", r.Stats.Opened, r.Stats.Failed(), r.Stats.Failures, r.ConnectPhase)
	row := func(name string, m map[string]float64) {
		fmt.Fprintf(w, "%-12s p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f ms (n=%.0f)\n", name, m["p50"], m["p90"], m["p99"], m["p99.9"], m["max"], m["count"])
	}
	row("connect", r.ConnectMs)
	row("handshake", r.HandshakeMs)
	if e := r.Echo; e != nil {
		fmt.Fprintf(w, "echo         %d sent, %d received, %d mismatched in %.2fs: %.0f msgs/s, %.2f MB/s\n", e.Sent, e.Received, e.Mismatched, r.Elapsed, e.MsgsPerSec, e.MBPerSec)
		row("latency", e.LatencyMs)
	}
	if p := r.Push; p != nil {
		fmt.Fprintf(w, "push         %d published (%d failed), %d received, %d stamped\n", p.Published.OK, p.Published.Failed, p.Received, p.Stamped)
		for k, m := range p.Summary {
			row("latency "+k, m)
		}
	}
	for k, v := range r.Stats.Errors {
		fmt.Fprintf(w, "last %s error: %s\n", k, v)
	}
}

type publishStats struct {
	OK     int64  `json:"ok"`
	Failed int64  `json:"failed"`
	Error  string `json:"last_error,omitempty"`
}

// publish POSTs stamped messages to o.publishURL at o.publishRate: kind
// "U" (one user) when the URL names a connection with {i}, else "B".
func publish(ctx context.Context, o options, conns int64) publishStats {
	var st publishStats
	kind := "B"
	if strings.Contains(o.publishURL, "{i}") {
		kind = "U"
	}
	client := &http.Client{Timeout: 10 * time.Second}
	interval := time.Duration(float64(time.Second) / max(o.publishRate, 0.001))
	pad := strings.Repeat("x", max(o.size-48, 0))
	for k := int64(1); o.publishCount == 0 || k <= int64(o.publishCount); k++ {
		if ctx.Err() != nil {
			break
		}
		u := o.publishURL
		if kind == "U" {
			u = load.ExpandPath(u, rand.IntN(int(max(conns, 1))))
		}
		body := append(load.PushStamp(kind, k, time.Now()), pad...)
		req, _ := http.NewRequestWithContext(ctx, "POST", u, bytes.NewReader(body))
		if o.publishToken != "" {
			req.Header.Set("Authorization", "Bearer "+o.publishToken)
		}
		resp, err := client.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode >= 300 {
				err = fmt.Errorf("%s: %s", u, resp.Status)
			}
		}
		if err != nil {
			st.Failed++
			st.Error = err.Error()
		} else {
			st.OK++
		}
		select {
		case <-ctx.Done():
		case <-time.After(interval):
		}
	}
	return st
}
