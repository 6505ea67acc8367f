// Command wsloadbench measures the load client itself against wsd: RSS per
// idle connection with 19,000 connections in one wsload process, and the
// largest echo rate one process drives (over several connection counts and
// windows).
//
// A second build of the client measures beside the first (-clients
// wsload,wsload-base: the binary bin/wsload-base, the same arguments,
// against the same server), measurement by measurement in alternating
// order; -repeat runs every measurement several times and the table shows
// the median and the range over runs.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/wsd-dev/wsd/bench/internal/proc"
	"github.com/wsd-dev/wsd/bench/internal/spread"
)

var (
	binDir      = flag.String("bin", "bin", "directory with wsd and wsload")
	clientsFlag = flag.String("clients", "wsload", "client builds to measure, binaries in -bin (e.g. wsload,wsload-base)")
	server      = flag.String("server", "wsd", "the server they all load, a binary in -bin")
	repeat      = flag.Int("repeat", 1, "runs of every measurement per client (median and range reported)")
	outDir      = flag.String("out", "results", "where wsload.md goes")
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

func wsload(client string, args ...string) (wsloadOut, error) {
	var res wsloadOut
	err := proc.RunJSON(client, filepath.Join(*binDir, client), os.Stderr, &res, append(args, "-json")...)
	return res, err
}

// measurement is one row: a description and wsload's arguments.
type measurement struct {
	what string
	args []string
	hold bool // an idle hold: RSS per connection; else an echo run
}

// outcome is one client's runs of one measurement.
type outcome struct {
	bytesPerConn, rssMB, rate, p99 spread.Of
	opened                         []int64
	failures                       []map[string]int64
	mismatched                     int64
}

func main() {
	flag.Parse()
	log.SetFlags(log.Ltime)
	clients := strings.Split(*clientsFlag, ",")
	addr := "127.0.0.1:62301"
	srv, err := proc.Start(*server, filepath.Join(*binDir, *server), io.Discard, "-addr", addr)
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Stop(5 * time.Second)
	if err := proc.WaitPort(addr, 10*time.Second); err != nil {
		log.Fatal(err)
	}
	var ms []measurement
	for _, loops := range []string{"1", "2"} {
		ms = append(ms, measurement{what: fmt.Sprintf("client RSS per idle connection, 19,000 in one process, %s loop(s)", loops), hold: true,
			args: []string{"-url", "ws://" + addr + "/echo", "-scenario", "hold", "-c", "19000", "-loops", loops, "-src", "127.0.95.1-127.0.95.20", "-duration", "6s"}})
	}
	for _, cfg := range [][]string{{"100", "1"}, {"100", "8"}, {"200", "16"}, {"400", "32"}, {"1000", "8"}} {
		ms = append(ms, measurement{what: fmt.Sprintf("echo, %s connections × window %s, 64 B", cfg[0], cfg[1]),
			args: []string{"-url", "ws://" + addr + "/echo", "-c", cfg[0], "-window", cfg[1], "-size", "64", "-binary", "-duration", "5s"}})
	}
	out := make([]map[string]*outcome, len(ms))
	turn := 0
	for i, m := range ms {
		out[i] = map[string]*outcome{}
		for _, c := range clients {
			out[i][c] = &outcome{}
		}
		for range max(*repeat, 1) {
			order := slices.Clone(clients)
			if turn%2 == 1 {
				slices.Reverse(order) // no build always first
			}
			turn++
			for _, c := range order {
				res, err := wsload(c, m.args...)
				if err != nil {
					log.Fatalf("%s: %v", c, err)
				}
				o := out[i][c]
				if m.hold {
					o.bytesPerConn = append(o.bytesPerConn, res.BytesPerConn)
					o.rssMB = append(o.rssMB, float64(res.RSSHeld)/1e6)
					o.opened = append(o.opened, res.Stats.Opened)
					if len(res.Stats.Failures) > 0 {
						o.failures = append(o.failures, res.Stats.Failures)
					}
					// The server closes 19,000 sockets before the next run.
					proc.WaitFDs(srv.PID(), 64, 30*time.Second)
				} else {
					if res.Echo == nil {
						log.Fatalf("%s printed no echo result", c)
					}
					o.rate = append(o.rate, res.Echo.MsgsPerSec)
					o.p99 = append(o.p99, res.Echo.LatencyMs["p99"])
					o.mismatched += res.Echo.Mismatched
				}
				log.Printf("%s: %s done", c, m.what)
			}
		}
	}
	md := table(ms, clients, out)
	os.MkdirAll(*outDir, 0o755)
	os.WriteFile(filepath.Join(*outDir, "wsload.md"), []byte(md), 0o644)
	fmt.Print(md)
}

func table(ms []measurement, clients []string, out []map[string]*outcome) string {
	var md strings.Builder
	md.WriteString("| measurement | command |")
	for _, c := range clients {
		if len(clients) == 1 {
			md.WriteString(" result |")
		} else {
			md.WriteString(" " + c + " |")
		}
	}
	md.WriteString("\n|---|---|" + strings.Repeat("---|", len(clients)) + "\n")
	best := map[string]float64{}
	for i, m := range ms {
		fmt.Fprintf(&md, "| %s | `wsload %s` |", m.what, strings.Join(m.args, " "))
		for _, c := range clients {
			o := out[i][c]
			if m.hold {
				failures := "map[]"
				if len(o.failures) > 0 {
					failures = fmt.Sprint(o.failures)
				}
				opened := fmt.Sprint(o.opened[0])
				if slices.Min(o.opened) != slices.Max(o.opened) {
					opened = fmt.Sprintf("%d–%d", slices.Min(o.opened), slices.Max(o.opened))
				}
				fmt.Fprintf(&md, " %s B (%s opened, %s MB RSS, failures %s) |", o.bytesPerConn.Format("%.0f"), opened, o.rssMB.Format("%.1f"), failures)
			} else {
				best[c] = max(best[c], o.rate.Median())
				fmt.Fprintf(&md, " %s msgs/s, p99 %s ms, %d mismatched |", o.rate.Format("%.0f"), o.p99.Format("%.2f"), o.mismatched)
			}
		}
		md.WriteString("\n")
	}
	if *repeat > 1 {
		fmt.Fprintf(&md, "\n%d runs of each measurement per client, in alternating order: median (min–max).\n", *repeat)
	}
	for _, c := range clients {
		who := "one wsload process"
		if len(clients) > 1 {
			who = "one " + c + " process"
		}
		fmt.Fprintf(&md, "\nLargest echo rate %s drove against %s in this run: **%.0f msgs/s**.\n", who, *server, best[c])
	}
	return md.String()
}
