package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/wsd-dev/wsd/bench/internal/spread"
	"github.com/wsd-dev/wsd/internal/testcert"
)

// The TLS rows: with -tls the servers that serve TLS (-tls-servers) are
// measured again over wss:// with one self-signed ECDSA P-256 certificate
// made for the run (the load client accepts it with -insecure): idle
// steps, echo and the large messages, TLS 1.3 as each negotiates it, and
// wsd once more with clients that stop at TLS 1.2 (-tls12). They are
// written into server.md below the plain rows, which they are compared
// with. Beside every idle figure the load client's own RSS per connection
// (wsload, from its READY line) is shown, over ws:// and over wss://.

var (
	tlsOn      = flag.Bool("tls", true, "measure the -tls-servers of -servers again over wss:// (into server.md)")
	tlsServers = flag.String("tls-servers", "wsd,gorilla,gws,nbio", "servers measured over TLS when -servers has them (they take -tls-cert and -tls-key)")
	tls12      = flag.Bool("tls12", true, "with -tls: measure wsd once more with clients that stop at TLS 1.2")
)

// certFile and keyFile are the run's certificate, with -tls.
var certFile, keyFile string

// tlsRows names the TLS rows of a plain run: each -tls-servers entry of
// names (as -servers gave them; specs holds what each became) with its
// version, and "wsd@1.2" for clients that stop at TLS 1.2. When there is a
// row it makes the run's certificate; cleanup removes it.
func tlsRows(names, specs []string) (rows []string, cleanup func()) {
	cleanup = func() {}
	if !*tlsOn {
		return nil, cleanup
	}
	for i, n := range names {
		if slices.Contains(strings.Split(*tlsServers, ","), n) { // its ws:// row is the one to compare with
			rows = append(rows, specs[i]+"@1.3")
		}
	}
	if *tls12 && slices.Contains(names, "wsd") {
		rows = append(rows, "wsd@1.2")
	}
	if len(rows) == 0 {
		return nil, cleanup
	}
	dir, err := os.MkdirTemp("", "serverbench-tls")
	if err != nil {
		log.Fatal(err)
	}
	pair, err := testcert.New("serverbench")
	if err != nil {
		log.Fatal(err)
	}
	if certFile, keyFile, err = pair.Write(dir); err != nil {
		log.Fatal(err)
	}
	return rows, func() { os.RemoveAll(dir) }
}

// splitTLS reads a row name: "nbio@1.3" is nbio over TLS 1.3; a name
// without a version suffix is a ws:// row.
func splitTLS(name string) (spec, version string) {
	for _, v := range []string{"1.3", "1.2"} {
		if s, ok := strings.CutSuffix(name, "@"+v); ok {
			return s, v
		}
	}
	return name, ""
}

// scheme returns the URL scheme and the extra wsload flags of a TLS
// version ("" for ws://).
func scheme(version string) (string, []string) {
	switch version {
	case "":
		return "ws", nil
	case "1.2":
		return "wss", []string{"-insecure", "-tls-max", "1.2"}
	}
	return "wss", []string{"-insecure"}
}

// tlsArgs are a server's extra flags for a row: the run's certificate
// when the row is over TLS.
func tlsArgs(version string) []string {
	if version == "" {
		return nil
	}
	return []string{"-tls-cert", certFile, "-tls-key", keyFile}
}

// readyRSS is what a wsload process's connections cost it: rss - rss_base
// from its READY line (0 when the line has no such fields).
func readyRSS(line string) int64 {
	var base, rss int64
	for _, f := range strings.Fields(line) {
		if v, ok := strings.CutPrefix(f, "rss_base="); ok {
			base, _ = strconv.ParseInt(v, 10, 64)
		} else if v, ok := strings.CutPrefix(f, "rss="); ok {
			rss, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	return max(rss-base, 0)
}

// label names a row in the lists under the tables: the server, and its
// TLS version when over TLS.
func label(r serverResult) string {
	if r.TLS != "" {
		return r.Name + " (TLS " + r.TLS + ")"
	}
	return r.Name
}

// tlsTable writes the TLS rows (trs) with their ratios to the ws:// row
// of the same server (rs).
func tlsTable(b *strings.Builder, rs, trs []serverResult, steps []int) {
	b.WriteString("\nThe same over TLS (wss://, one self-signed ECDSA P-256 certificate; TLS 1.3 as each server negotiates it with wsload, a crypto/tls client; \"1.2\": wsload offers TLS 1.2 at most), with the ratios to the server's row above:\n\n")
	rssHeader(b, steps, "TLS | RSS idle")
	b.WriteString("RSS B/conn | × ws:// | wsload B/conn | held | echo msgs/s, median (range) | × ws:// | server CPU µs/msg, median (range) | × ws:// | 1 MiB echo MB/s |\n|---|---|")
	for range len(steps) + 1 {
		b.WriteString("---:|")
	}
	b.WriteString("---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	ratio := func(a, b float64) string {
		if b == 0 {
			return "–"
		}
		return fmt.Sprintf("%.2f", a/b)
	}
	for _, r := range trs {
		var plain serverResult
		for _, p := range rs {
			if p.Name == r.Name {
				plain = p
			}
		}
		var rates, cpus spread.Of
		for _, e := range r.EchoRuns {
			rates, cpus = append(rates, e.MsgsPerSec), append(cpus, e.CPUus)
		}
		fmt.Fprintf(b, "| %s | %s |", r.Name, r.TLS)
		rssCells(b, steps, r.Steps)
		fmt.Fprintf(b, " %s | %s | %s | %d | %s | %s | %s | %s | %s |\n",
			rangeOf(r, "%.0f", func(x serverResult) float64 { return x.BytesPerCon }), ratio(r.BytesPerCon, plain.BytesPerCon),
			rangeOf(r, "%.0f", func(x serverResult) float64 { return x.ClientBPC }), r.MaxHeld,
			rates.Format("%.0f"), ratio(r.EchoRate, plain.EchoRate), cpus.Format("%.2f"), ratio(r.CPUPerMsg, plain.CPUPerMsg),
			rangeOf(r, "%.0f", func(x serverResult) float64 { return x.BigMBps }))
	}
}
