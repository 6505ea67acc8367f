// Command serverbench measures wsd beside the peer servers in one run: RSS
// and fds at 0, 5,000, 10,000 and 19,000 idle connections, on /echo and on
// /ws/{user} with one distinct user per connection (a notification
// backend's connections, each with its registry entry), echo rate and
// server CPU per echoed message, large-message throughput. Every server
// faces the same load client (wsload, on the project's epoll engine), each
// started as its own process; processes are stopped by PID.
//
// A second build of wsd measures beside the first as "wsd-base" (the
// binary bin/wsd-base, the same flags); -repeat runs every server several
// times, alternating the order, and the tables show the range over runs.
// With -tls (tls.go) the servers that serve TLS are measured again over
// wss://, into the same tables; with -deflate-servers (deflate.go) servers
// with permessage-deflate on every connection, into server-deflate.md.
package main

import (
	crand "crypto/rand"
	"encoding/hex"
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
	"github.com/wsd-dev/wsd/bench/internal/spread"
)

type serverResult struct {
	Name        string  `json:"name"`
	TLS         string  `json:"tls,omitempty"`             // "1.3" (as negotiated) or "1.2" (clients stop there); "" for ws://
	Steps       []step  `json:"idle_steps"`                // on /echo
	ClientBPC   float64 `json:"client_rss_bytes_per_conn"` // the wsload processes holding the /echo steps
	BytesPerCon float64 `json:"rss_bytes_per_conn"`
	FDsPerConn  float64 `json:"fds_per_conn"`
	MaxHeld     int     `json:"max_conns_held"`
	// Idle connections on /ws/{user}, one distinct user each, measured on
	// a fresh process of the same server.
	UserSteps       []step    `json:"ws_user_idle_steps,omitempty"`
	UserBytesPerCon float64   `json:"ws_user_rss_bytes_per_conn,omitempty"`
	UserFDsPerConn  float64   `json:"ws_user_fds_per_conn,omitempty"`
	UserMaxHeld     int       `json:"ws_user_max_conns_held,omitempty"`
	EchoRuns        []echoRun `json:"echo_runs"`
	EchoRate        float64   `json:"echo_msgs_per_s_median"`
	CPUPerMsg       float64   `json:"server_cpu_us_per_msg_median"`
	BigMBps         float64   `json:"big_mb_per_s"`
	Errors          []string  `json:"errors,omitempty"`
	// With -repeat > 1: every run of this server; the figures above are
	// then medians over the runs (the echo figures over all echo runs).
	Repeats []serverResult `json:"repeats,omitempty"`
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
	binDir     = flag.String("bin", "bin", "directory with wsd, wsload and the peer servers (and wsd-base, for -servers wsd,wsd-base,…)")
	servers    = flag.String("servers", "wsd,wsd+auth,gorilla,gobwas,gws,nbio", "servers to measure without compression (empty: none): binaries in -bin; wsd-base is a second wsd build, run with wsd's flags; flags of one entry's own after colons (wsd:-loops=1); wsd+auth is wsd with signed tokens and every limit on (-auth-flags), its /ws/{user} clients sending tokens")
	authFlags  = flag.String("auth-flags", "-client-msg-rate=1000000:-handshake-rate=1000000:-max-conns-per-user=10", "wsd+auth: the limits it runs with besides -jwt-secret-file (on, set high enough not to refuse the benchmark's own load)")
	wsdFlags   = flag.String("wsd-flags", "", "extra flags for wsd and wsd-base (e.g. \"-loops 1\")")
	stepsFlag  = flag.String("steps", "5000,10000,19000", "idle connection counts")
	userPath   = flag.String("user-path", "/ws/u{i}", "path of the /ws/{user} idle steps ({i}: the connection's index, distinct over all steps); empty: skip them")
	settle     = flag.Duration("settle", 3*time.Second, "settle time after each idle step before reading RSS")
	echoConns  = flag.Int("echo-conns", 100, "echo: connections")
	echoMsgs   = flag.Int("echo-msgs", 5000, "echo: messages per connection")
	echoSize   = flag.Int("echo-size", 64, "echo: message size")
	echoWindow = flag.Int("echo-window", 1, "echo: messages in flight per connection")
	runs       = flag.Int("runs", 3, "echo runs per server (the median is reported, with the range)")
	repeat     = flag.Int("repeat", 1, "measure every server this many times (order alternating), to show the run-to-run spread")
	bigMsgs    = flag.Int("big-msgs", 100, "large-message echo: 1 MiB messages on one connection")
	outDir     = flag.String("out", "results", "where server.md and server.json go (with the TLS rows; and server-deflate.md and .json)")
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
	var given []string
	if *servers != "" {
		given = strings.Split(*servers, ",")
	}
	names := slices.Clone(given)
	for i, n := range names {
		if n == "wsd+auth" {
			names[i] = authSpec()
		}
	}
	os.MkdirAll(*outDir, 0o755)
	if len(names) > 0 {
		tlsNames, cleanup := tlsRows(given, names)
		plainRows(names, tlsNames, steps)
		cleanup()
	}
	if *deflateServers != "" {
		deflateRows(strings.Split(*deflateServers, ","), steps)
	}
}

// plainRows measures the servers without compression, then again over
// TLS (tlsNames: "<spec>@<version>"), and writes server.md and
// server.json.
func plainRows(names, tlsNames []string, steps []int) {
	runsOf := map[string][]serverResult{}
	port := 62101
	all := append(slices.Clone(names), tlsNames...)
	for rep := range max(*repeat, 1) {
		order := slices.Clone(all)
		if rep%2 == 1 {
			slices.Reverse(order) // no server always first, or always right after another
		}
		for _, name := range order {
			r := measure(name, fmt.Sprintf("127.0.0.1:%d", port), fmt.Sprintf("127.0.0.1:%d", port+1), steps)
			port += 2
			runsOf[name] = append(runsOf[name], r)
			log.Printf("%s (run %d): /echo %.0f B/conn, %.2f fds/conn, client %.0f B/conn; /ws/{user} %.0f B/conn; echo %.0f msgs/s, %.2f µs CPU/msg, 1 MiB %.0f MB/s %v",
				name, rep+1, r.BytesPerCon, r.FDsPerConn, r.ClientBPC, r.UserBytesPerCon, r.EchoRate, r.CPUPerMsg, r.BigMBps, r.Errors)
		}
	}
	var results []serverResult
	for _, name := range all {
		results = append(results, combine(runsOf[name]))
	}
	b, _ := json.MarshalIndent(results, "", "  ")
	os.WriteFile(filepath.Join(*outDir, "server.json"), b, 0o644)
	md := table(results, steps)
	os.WriteFile(filepath.Join(*outDir, "server.md"), []byte(md), 0o644)
	fmt.Print(md)
}

func bin(name string) string { return filepath.Join(*binDir, name) }

// authSpec is the -servers entry of wsd+auth: wsd with a token secret
// (made in -bin once) and the limits of -auth-flags.
func authSpec() string {
	secret := bin("jwt-secret")
	if _, err := os.Stat(secret); err != nil {
		b := make([]byte, 32)
		crand.Read(b)
		if err := os.WriteFile(secret, []byte(hex.EncodeToString(b)), 0o600); err != nil {
			log.Fatal(err)
		}
	}
	return "wsd:-jwt-secret-file=" + secret + ":" + *authFlags
}

// tokenArgs are the wsload flags that give clients tokens when the server
// requires them (its flags name a secret).
func tokenArgs(spec string) []string {
	for _, f := range proc.ParseServer(spec).Flags {
		if v, ok := strings.CutPrefix(f, "-jwt-secret-file="); ok {
			return []string{"-jwt-secret-file", v}
		}
	}
	return nil
}

// start runs a server (a -servers entry, with extra flags of the row's:
// tlsArgs) and waits until it accepts connections.
func start(spec, addr string, extra ...string) (*proc.Process, error) {
	s := proc.ParseServer(spec)
	srv, err := proc.Start(s.Label(), bin(s.Name), io.Discard, append(s.Args(addr, *wsdFlags), extra...)...)
	if err != nil {
		return nil, err
	}
	if err := proc.WaitPort(addr, 10*time.Second); err != nil {
		srv.Stop(5 * time.Second)
		return nil, err
	}
	proc.Window(500 * time.Millisecond) // settle time before the idle reading
	return srv, nil
}

// idle opens the idle steps against the server on path, each step from its
// own wsload process on its own source addresses (127.0.<srcBase+i>.*),
// and samples the server's RSS and fds after each. {i} in path runs over
// all steps without repeating: each process starts at -first = the
// connections already held. Each process's report (wsload -json, printed
// when it is stopped) is returned, and what the processes' connections
// cost them (clientBPC, from their READY lines). version is the row's TLS
// version ("" for ws://).
func idle(pid int, addr, path, version string, steps []int, srcBase int, loadArgs ...string) (samples []step, held int, clientBPC float64, reports []wsloadResult, errs []string) {
	sch, tlsLoadArgs := scheme(version)
	var clientRSS int64
	sample := func(conns int) {
		rss, _ := proc.RSS(pid)
		fds, _ := proc.FDs(pid)
		samples = append(samples, step{conns, rss, fds})
	}
	sample(0)
	var loads []*proc.Process
	for i, target := range steps {
		add := target - held
		src := fmt.Sprintf("127.0.%d.1-127.0.%d.12", srcBase+i, srcBase+i)
		args := append([]string{"-url", sch + "://" + addr + path, "-scenario", "hold", "-json",
			"-c", strconv.Itoa(add), "-first", strconv.Itoa(held), "-src", src, "-loops", "1", "-duration", "30m", "-connect-timeout", "30s"}, tlsLoadArgs...)
		args = append(args, loadArgs...)
		lp, n, line, err := proc.StartReady(bin("wsload"), 3*time.Minute, args...)
		if err != nil {
			errs = append(errs, err.Error())
			break
		}
		loads = append(loads, lp)
		held += n
		clientRSS += readyRSS(line)
		if n < add {
			errs = append(errs, fmt.Sprintf("%s step %d: only %d of %d connections opened: %s", path, target, n, add, line))
		}
		proc.Window(*settle)
		sample(held)
		if n < add {
			break
		}
	}
	for _, lp := range loads {
		var rep wsloadResult
		if err := lp.StopJSON(20*time.Second, &rep); err != nil {
			errs = append(errs, err.Error())
		}
		reports = append(reports, rep)
	}
	// The clients are gone once the server has closed their sockets.
	if _, err := proc.WaitFDs(pid, samples[0].FDs+2, 30*time.Second); err != nil {
		log.Print(err)
	}
	if held > 0 {
		clientBPC = float64(clientRSS) / float64(held)
	}
	return samples, held, clientBPC, reports, errs
}

func perConn(samples []step) (bytes, fds float64) {
	if last := samples[len(samples)-1]; last.Conns > 0 {
		first := samples[0]
		return float64(last.RSS-first.RSS) / float64(last.Conns), float64(last.FDs-first.FDs) / float64(last.Conns)
	}
	return 0, 0
}

// measure takes a row: a -servers entry, with "@<version>" over TLS.
func measure(name, addr, userAddr string, steps []int) (r serverResult) {
	spec, version := splitTLS(name)
	r.Name, r.TLS = proc.ParseServer(spec).Label(), version
	srv, err := start(spec, addr, tlsArgs(version)...)
	if err != nil {
		r.Errors = append(r.Errors, err.Error())
		return
	}
	defer srv.Stop(5 * time.Second)
	pid := srv.PID()

	// Idle steps on /echo.
	var errs []string
	r.Steps, r.MaxHeld, r.ClientBPC, _, errs = idle(pid, addr, "/echo", version, steps, 10)
	r.Errors = append(r.Errors, errs...)
	r.BytesPerCon, r.FDsPerConn = perConn(r.Steps)

	// Echo: small messages, several runs; the server's own CPU from /proc.
	var rates, cpus []float64
	for range *runs {
		cpu0, _ := proc.CPU(pid)
		res, err := wsload(addr, version, "-c", strconv.Itoa(*echoConns), "-msgs", strconv.Itoa(*echoMsgs),
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
	r.EchoRate, r.CPUPerMsg = spread.Of(rates).Median(), spread.Of(cpus).Median()
	res, err := wsload(addr, version, "-c", "1", "-msgs", strconv.Itoa(*bigMsgs), "-size", strconv.Itoa(1<<20), "-binary", "-duration", "2m")
	if err != nil {
		r.Errors = append(r.Errors, err.Error())
	} else {
		r.BigMBps = res.Echo.MBPerSec
	}
	srv.Stop(5 * time.Second)

	// Idle steps on /ws/{user}, one distinct user per connection, on a
	// fresh process: what the /echo connections left behind in the heap
	// does not count. (Not over TLS: the TLS rows are about the
	// connection.)
	if *userPath == "" || version != "" {
		return r
	}
	usrv, err := start(spec, userAddr)
	if err != nil {
		r.Errors = append(r.Errors, err.Error())
		return r
	}
	defer usrv.Stop(5 * time.Second)
	r.UserSteps, r.UserMaxHeld, _, _, errs = idle(usrv.PID(), userAddr, *userPath, "", steps, 20, tokenArgs(spec)...)
	r.Errors = append(r.Errors, errs...)
	r.UserBytesPerCon, r.UserFDsPerConn = perConn(r.UserSteps)
	return r
}

// combine makes one server's row from its runs: medians, the runs kept.
func combine(rs []serverResult) serverResult {
	if len(rs) == 1 {
		return rs[0]
	}
	c := serverResult{Name: rs[0].Name, TLS: rs[0].TLS, Repeats: rs, MaxHeld: rs[0].MaxHeld, UserMaxHeld: rs[0].UserMaxHeld}
	var bpc, fpc, ubpc, ufpc, big, rates, cpus, cbpc spread.Of
	for i, r := range rs {
		bpc, fpc, cbpc = append(bpc, r.BytesPerCon), append(fpc, r.FDsPerConn), append(cbpc, r.ClientBPC)
		ubpc, ufpc = append(ubpc, r.UserBytesPerCon), append(ufpc, r.UserFDsPerConn)
		big = append(big, r.BigMBps)
		c.MaxHeld, c.UserMaxHeld = min(c.MaxHeld, r.MaxHeld), min(c.UserMaxHeld, r.UserMaxHeld)
		for _, e := range r.EchoRuns {
			c.EchoRuns = append(c.EchoRuns, e)
			rates, cpus = append(rates, e.MsgsPerSec), append(cpus, e.CPUus)
		}
		for _, e := range r.Errors {
			c.Errors = append(c.Errors, fmt.Sprintf("run %d: %s", i+1, e))
		}
	}
	c.BytesPerCon, c.FDsPerConn, c.UserBytesPerCon, c.UserFDsPerConn = bpc.Median(), fpc.Median(), ubpc.Median(), ufpc.Median()
	c.BigMBps, c.EchoRate, c.CPUPerMsg, c.ClientBPC = big.Median(), rates.Median(), cpus.Median(), cbpc.Median()
	c.Steps, c.UserSteps = medianSteps(rs, func(r serverResult) []step { return r.Steps }), medianSteps(rs, func(r serverResult) []step { return r.UserSteps })
	return c
}

// medianSteps is, step by step, the median RSS and fds over the runs that
// reached that step.
func medianSteps(rs []serverResult, of func(serverResult) []step) []step {
	var out []step
	for i := 0; ; i++ {
		var rss, fds spread.Of
		conns := 0
		for _, r := range rs {
			if s := of(r); i < len(s) {
				rss, fds = append(rss, float64(s[i].RSS)), append(fds, float64(s[i].FDs))
				conns = s[i].Conns
			}
		}
		if len(rss) == 0 {
			return out
		}
		out = append(out, step{conns, int64(rss.Median()), int(fds.Median())})
	}
}

type wsloadResult struct {
	Stats struct {
		Opened   int64            `json:"opened"`
		Failures map[string]int64 `json:"failures"`
	} `json:"stats"`
	Echo struct {
		Received   int64   `json:"received"`
		Mismatched int64   `json:"mismatched"`
		MsgsPerSec float64 `json:"msgs_per_s"`
		MBPerSec   float64 `json:"mb_per_s"`
	} `json:"echo"`
	Extensions map[string]int64 `json:"extensions"`
	Wire       struct {
		RatioOut float64 `json:"wire_to_payload_out"`
		RatioIn  float64 `json:"wire_to_payload_in"`
	} `json:"wire"`
}

// wsload runs a binary-frame echo against addr's /echo to its end, over
// TLS version ("" for ws://).
func wsload(addr, version string, args ...string) (wsloadResult, error) {
	return wsloadRun(addr, version, append([]string{"-binary"}, args...)...)
}

func wsloadRun(addr, version string, args ...string) (wsloadResult, error) {
	var res wsloadResult
	sch, tlsLoadArgs := scheme(version)
	args = append(append([]string{"-url", sch + "://" + addr + "/echo", "-json"}, tlsLoadArgs...), args...)
	err := proc.RunJSON("wsload", bin("wsload"), os.Stderr, &res, args...)
	if err == nil && (len(res.Stats.Failures) > 0 || res.Echo.Mismatched > 0) {
		err = fmt.Errorf("wsload: failures %v, %d mismatched", res.Stats.Failures, res.Echo.Mismatched)
	}
	return res, err
}

// rssCells writes a row's RSS at each idle step ("–" past the last one
// held).
func rssCells(b *strings.Builder, steps []int, samples []step) {
	for i := range len(steps) + 1 {
		if i < len(samples) {
			fmt.Fprintf(b, " %.1f MB |", float64(samples[i].RSS)/1e6)
		} else {
			b.WriteString(" – |")
		}
	}
}

// rssHeader writes a table's first header cells: the server, first, and
// one RSS column per step.
func rssHeader(b *strings.Builder, steps []int, first string) {
	b.WriteString("| server | " + first + " | ")
	for _, s := range steps {
		fmt.Fprintf(b, "RSS @%d | ", s)
	}
}

// rangeOf is " (min–max)" of a figure over the runs, when there are several.
func rangeOf(r serverResult, f string, of func(serverResult) float64) string {
	if len(r.Repeats) < 2 {
		return fmt.Sprintf(f, of(r))
	}
	var v spread.Of
	for _, x := range r.Repeats {
		v = append(v, of(x))
	}
	return v.Format(f)
}

func table(all []serverResult, steps []int) string {
	var b strings.Builder
	var rs, trs []serverResult // ws:// rows, wss:// rows
	for _, r := range all {
		if r.TLS == "" {
			rs = append(rs, r)
		} else {
			trs = append(trs, r)
		}
	}
	several := false
	for _, r := range rs {
		several = several || len(r.Repeats) > 1
	}

	if several {
		b.WriteString("Idle connections on `/echo`, medians over the runs (listed below); echo rate and CPU per message: median over all echo runs, range in parentheses:\n\n")
	} else {
		b.WriteString("Idle connections on `/echo`; echo rate and CPU per message: median over the echo runs, range in parentheses:\n\n")
	}
	rssHeader(&b, steps, "RSS idle")
	b.WriteString("RSS B/conn | wsload B/conn | fds/conn | held | echo msgs/s, median (range) | server CPU µs/msg, median (range) | 1 MiB echo MB/s |\n|---|")
	for range len(steps) + 1 {
		b.WriteString("---:|")
	}
	b.WriteString("---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rs {
		var rates, cpus spread.Of
		for _, e := range r.EchoRuns {
			rates, cpus = append(rates, e.MsgsPerSec), append(cpus, e.CPUus)
		}
		fmt.Fprintf(&b, "| %s |", r.Name)
		rssCells(&b, steps, r.Steps)
		fmt.Fprintf(&b, " %s | %s | %.2f | %d | %s | %s | %s |\n",
			rangeOf(r, "%.0f", func(x serverResult) float64 { return x.BytesPerCon }), rangeOf(r, "%.0f", func(x serverResult) float64 { return x.ClientBPC }),
			r.FDsPerConn, r.MaxHeld, rates.Format("%.0f"), cpus.Format("%.2f"), rangeOf(r, "%.0f", func(x serverResult) float64 { return x.BigMBps }))
	}
	if len(trs) > 0 {
		tlsTable(&b, rs, trs, steps)
	}
	if *userPath != "" {
		fmt.Fprintf(&b, "\nIdle connections on `%s`, one distinct user per connection (each with its registry entry; wsd sends a hello on connect), on a fresh process:\n\n", *userPath)
		rssHeader(&b, steps, "RSS idle")
		b.WriteString("RSS B/conn | fds/conn | held |\n|---|")
		for range len(steps) + 1 {
			b.WriteString("---:|")
		}
		b.WriteString("---:|---:|---:|\n")
		for _, r := range rs {
			fmt.Fprintf(&b, "| %s |", r.Name)
			rssCells(&b, steps, r.UserSteps)
			fmt.Fprintf(&b, " %s | %.2f | %d |\n", rangeOf(r, "%.0f", func(x serverResult) float64 { return x.UserBytesPerCon }), r.UserFDsPerConn, r.UserMaxHeld)
		}
	}
	if several {
		b.WriteString("\nEach run (RSS figures above are medians over these runs, ranges in parentheses):\n\n")
		b.WriteString("| server | run | /echo RSS B/conn | /ws/{user} RSS B/conn | echo msgs/s (median of the run) | server CPU µs/msg | 1 MiB echo MB/s |\n|---|---:|---:|---:|---:|---:|---:|\n")
		for _, r := range all {
			for i, x := range r.Repeats {
				fmt.Fprintf(&b, "| %s | %d | %.0f | %.0f | %.0f | %.2f | %.0f |\n", label(r), i+1, x.BytesPerCon, x.UserBytesPerCon, x.EchoRate, x.CPUPerMsg, x.BigMBps)
			}
		}
	}
	for _, r := range all {
		for _, e := range r.Errors {
			fmt.Fprintf(&b, "\n- %s: %s", label(r), e)
		}
	}
	b.WriteString("\n")
	return b.String()
}
