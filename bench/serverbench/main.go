// Command serverbench measures wsd beside the peer servers in one run: RSS
// and fds at 0, 5,000, 10,000 and 19,000 idle connections, echo rate and
// server CPU per echoed message, large-message throughput. Every server
// faces the same load client (wsload, on the project's epoll engine), each
// started as its own process; processes are stopped by PID.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wsd-dev/wsd/bench/internal/proc"
)

type serverResult struct {
	Name        string         `json:"name"`
	Steps       []step         `json:"idle_steps"`
	BytesPerCon float64        `json:"rss_bytes_per_conn"`
	FDsPerConn  float64        `json:"fds_per_conn"`
	MaxHeld     int            `json:"max_conns_held"`
	EchoRuns    []echoRun      `json:"echo_runs"`
	EchoRate    float64        `json:"echo_msgs_per_s_median"`
	CPUPerMsg   float64        `json:"server_cpu_us_per_msg_median"`
	BigMBps     float64        `json:"big_mb_per_s"`
	Errors      []string       `json:"errors,omitempty"`
	Extra       map[string]any `json:"extra,omitempty"`
}

type step struct {
	Conns int   `json:"conns"`
	RSS   int64 `json:"rss"`
	FDs   int   `json:"fds"`
}

type echoRun struct {
	MsgsPerSec float64 `json:"msgs_per_s"`
	CPUus      float64 `json:"server_cpu_us_per_msg"`
	Received   int64   `json:"received"`
}

var (
	binDir     = flag.String("bin", "bin", "directory with wsd, wsload and the peer servers")
	servers    = flag.String("servers", "wsd,gorilla,gobwas,gws,nbio", "servers to measure")
	stepsFlag  = flag.String("steps", "5000,10000,19000", "idle connection counts")
	settle     = flag.Duration("settle", 3*time.Second, "wait after each idle step before reading RSS")
	echoConns  = flag.Int("echo-conns", 100, "echo: connections")
	echoMsgs   = flag.Int("echo-msgs", 5000, "echo: messages per connection")
	echoSize   = flag.Int("echo-size", 64, "echo: message size")
	echoWindow = flag.Int("echo-window", 1, "echo: messages in flight per connection")
	runs       = flag.Int("runs", 3, "echo runs per server (the median is reported)")
	bigMsgs    = flag.Int("big-msgs", 100, "large-message echo: 1 MiB messages on one connection")
	outDir     = flag.String("out", "results", "where server.md and server.json go")
)

func main() {
	flag.Parse()
	log.SetFlags(log.Ltime)
	var steps []int
	for _, s := range strings.Split(*stepsFlag, ",") {
		n, err := strconv.Atoi(s)
		if err != nil {
			log.Fatalf("-steps: %v", err)
		}
		steps = append(steps, n)
	}
	var results []serverResult
	for i, name := range strings.Split(*servers, ",") {
		addr := fmt.Sprintf("127.0.0.1:%d", 62101+i)
		r := measure(name, addr, steps)
		results = append(results, r)
		log.Printf("%s: %.0f B/conn, %.2f fds/conn, echo %.0f msgs/s, %.2f µs CPU/msg, 1 MiB %.0f MB/s %v",
			name, r.BytesPerCon, r.FDsPerConn, r.EchoRate, r.CPUPerMsg, r.BigMBps, r.Errors)
	}
	os.MkdirAll(*outDir, 0o755)
	b, _ := json.MarshalIndent(results, "", "  ")
	os.WriteFile(filepath.Join(*outDir, "server.json"), b, 0o644)
	md := table(results, steps)
	os.WriteFile(filepath.Join(*outDir, "server.md"), []byte(md), 0o644)
	fmt.Print(md)
}

func bin(name string) string { return filepath.Join(*binDir, name) }

func measure(name, addr string, steps []int) (r serverResult) {
	r.Name = name
	args := []string{"-addr", addr}
	srv, err := proc.Start(name, bin(name), io.Discard, args...)
	if err != nil {
		r.Errors = append(r.Errors, err.Error())
		return
	}
	defer srv.Stop(5 * time.Second)
	if err := proc.WaitPort(addr, 10*time.Second); err != nil {
		r.Errors = append(r.Errors, err.Error())
		return
	}
	time.Sleep(500 * time.Millisecond)
	pid := srv.PID()
	sample := func(conns int) {
		rss, _ := proc.RSS(pid)
		fds, _ := proc.FDs(pid)
		r.Steps = append(r.Steps, step{conns, rss, fds})
	}
	sample(0)

	// Idle steps: each load process adds its share from its own source
	// addresses and holds it.
	var loads []*proc.Process
	held := 0
	for i, target := range steps {
		add := target - held
		src := fmt.Sprintf("127.0.%d.1-127.0.%d.12", 10+i, 10+i)
		lp, n, line, err := proc.StartReady(bin("wsload"), 3*time.Minute, "-url", "ws://"+addr+"/echo", "-scenario", "hold",
			"-c", strconv.Itoa(add), "-src", src, "-loops", "1", "-duration", "30m", "-connect-timeout", "30s")
		if err != nil {
			r.Errors = append(r.Errors, err.Error())
			break
		}
		loads = append(loads, lp)
		held += n
		if n < add {
			r.Errors = append(r.Errors, fmt.Sprintf("step %d: only %d of %d connections opened: %s", target, n, add, line))
		}
		time.Sleep(*settle)
		sample(held)
		if n < add {
			break
		}
	}
	r.MaxHeld = held
	if last := r.Steps[len(r.Steps)-1]; last.Conns > 0 {
		first := r.Steps[0]
		r.BytesPerCon = float64(last.RSS-first.RSS) / float64(last.Conns)
		r.FDsPerConn = float64(last.FDs-first.FDs) / float64(last.Conns)
	}
	for _, lp := range loads {
		lp.Stop(20 * time.Second)
	}
	time.Sleep(2 * time.Second)

	// Echo: small messages, several runs; the server's own CPU from /proc.
	var rates, cpus []float64
	for range *runs {
		cpu0, _ := proc.CPU(pid)
		res, err := wsload(addr, "-c", strconv.Itoa(*echoConns), "-msgs", strconv.Itoa(*echoMsgs),
			"-size", strconv.Itoa(*echoSize), "-window", strconv.Itoa(*echoWindow), "-duration", "2m")
		cpu1, _ := proc.CPU(pid)
		if err != nil {
			r.Errors = append(r.Errors, err.Error())
			continue
		}
		run := echoRun{MsgsPerSec: res.Echo.MsgsPerSec, Received: res.Echo.Received,
			CPUus: float64(cpu1-cpu0) / float64(time.Microsecond) / float64(res.Echo.Received)}
		r.EchoRuns = append(r.EchoRuns, run)
		rates = append(rates, run.MsgsPerSec)
		cpus = append(cpus, run.CPUus)
	}
	r.EchoRate, r.CPUPerMsg = median(rates), median(cpus)
	res, err := wsload(addr, "-c", "1", "-msgs", strconv.Itoa(*bigMsgs), "-size", strconv.Itoa(1<<20), "-binary", "-duration", "2m")
	if err != nil {
		r.Errors = append(r.Errors, err.Error())
	} else {
		r.BigMBps = res.Echo.MBPerSec
	}
	return r
}

type wsloadResult struct {
	Stats struct {
		Failures map[string]int64 `json:"failures"`
	} `json:"stats"`
	Echo struct {
		Received   int64   `json:"received"`
		Mismatched int64   `json:"mismatched"`
		MsgsPerSec float64 `json:"msgs_per_s"`
		MBPerSec   float64 `json:"mb_per_s"`
	} `json:"echo"`
}

func wsload(addr string, args ...string) (wsloadResult, error) {
	var res wsloadResult
	err := proc.RunJSON("wsload", bin("wsload"), os.Stderr, &res, append([]string{"-url", "ws://" + addr + "/echo", "-json", "-binary"}, args...)...)
	if err == nil && (len(res.Stats.Failures) > 0 || res.Echo.Mismatched > 0) {
		err = fmt.Errorf("wsload: failures %v, %d mismatched", res.Stats.Failures, res.Echo.Mismatched)
	}
	return res, err
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

func table(rs []serverResult, steps []int) string {
	var b strings.Builder
	b.WriteString("| server | RSS idle | ")
	for _, s := range steps {
		fmt.Fprintf(&b, "RSS @%d | ", s)
	}
	b.WriteString("RSS B/conn | fds/conn | held | echo msgs/s (median) | server CPU µs/msg | 1 MiB echo MB/s |\n|---|")
	for range len(steps) + 1 {
		b.WriteString("---:|")
	}
	b.WriteString("---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rs {
		fmt.Fprintf(&b, "| %s |", r.Name)
		for i := range len(steps) + 1 {
			if i < len(r.Steps) {
				fmt.Fprintf(&b, " %.1f MB |", float64(r.Steps[i].RSS)/1e6)
			} else {
				b.WriteString(" – |")
			}
		}
		fmt.Fprintf(&b, " %.0f | %.2f | %d | %.0f | %.2f | %.0f |\n", r.BytesPerCon, r.FDsPerConn, r.MaxHeld, r.EchoRate, r.CPUPerMsg, r.BigMBps)
	}
	for _, r := range rs {
		for _, e := range r.Errors {
			fmt.Fprintf(&b, "\n- %s: %s", r.Name, e)
		}
	}
	b.WriteString("\n")
	return b.String()
}
