// Command wsloadbench measures the load client itself against wsd: RSS per
// idle connection with 19,000 connections in one wsload process, and the
// largest echo rate one process drives (over several connection counts and
// windows).
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/wsd-dev/wsd/bench/internal/proc"
)

var (
	binDir = flag.String("bin", "bin", "directory with wsd and wsload")
	outDir = flag.String("out", "results", "where wsload.md goes")
)

type wsloadOut struct {
	Stats struct {
		Opened   int64            `json:"opened"`
		Failures map[string]int64 `json:"failures"`
	} `json:"stats"`
	BytesPerConn float64 `json:"rss_bytes_per_conn"`
	RSSHeld      int64   `json:"rss_held_bytes"`
	Echo         *struct {
		Received   int64              `json:"received"`
		Mismatched int64              `json:"mismatched"`
		MsgsPerSec float64            `json:"msgs_per_s"`
		LatencyMs  map[string]float64 `json:"latency_ms"`
	} `json:"echo"`
}

func wsload(args ...string) (wsloadOut, error) {
	var res wsloadOut
	err := proc.RunJSON("wsload", filepath.Join(*binDir, "wsload"), os.Stderr, &res, append(args, "-json")...)
	return res, err
}

func main() {
	flag.Parse()
	addr := "127.0.0.1:62301"
	srv, err := proc.Start("wsd", filepath.Join(*binDir, "wsd"), io.Discard, "-addr", addr)
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Stop(5 * time.Second)
	if err := proc.WaitPort(addr, 10*time.Second); err != nil {
		log.Fatal(err)
	}
	var md strings.Builder
	md.WriteString("| measurement | command | result |\n|---|---|---|\n")
	for _, loops := range []string{"1", "2"} {
		args := []string{"-url", "ws://" + addr + "/echo", "-scenario", "hold", "-c", "19000", "-loops", loops, "-src", "127.0.95.1-127.0.95.20", "-duration", "6s"}
		res, err := wsload(args...)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Fprintf(&md, "| client RSS per idle connection, 19,000 in one process, %s loop(s) | `wsload %s` | %.0f B (%d opened, %.1f MB RSS, failures %v) |\n",
			loops, strings.Join(args, " "), res.BytesPerConn, res.Stats.Opened, float64(res.RSSHeld)/1e6, res.Stats.Failures)
		time.Sleep(2 * time.Second)
	}
	best := 0.0
	for _, cfg := range [][]string{{"100", "1"}, {"100", "8"}, {"200", "16"}, {"400", "32"}, {"1000", "8"}} {
		args := []string{"-url", "ws://" + addr + "/echo", "-c", cfg[0], "-window", cfg[1], "-size", "64", "-binary", "-duration", "5s"}
		res, err := wsload(args...)
		if err != nil || res.Echo == nil {
			log.Fatal(err)
		}
		best = max(best, res.Echo.MsgsPerSec)
		fmt.Fprintf(&md, "| echo, %s connections × window %s, 64 B | `wsload %s` | %.0f msgs/s, p99 %.2f ms, %d mismatched |\n",
			cfg[0], cfg[1], strings.Join(args, " "), res.Echo.MsgsPerSec, res.Echo.LatencyMs["p99"], res.Echo.Mismatched)
	}
	fmt.Fprintf(&md, "\nLargest echo rate one wsload process drove against wsd in this run: **%.0f msgs/s**.\n", best)
	os.MkdirAll(*outDir, 0o755)
	os.WriteFile(filepath.Join(*outDir, "wsload.md"), []byte(md.String()), 0o644)
	fmt.Print(md.String())
}
