// Command wsload is a load generator for any WebSocket server, on the
// project's own poller and frame code: tens of thousands of connections
// per process at a few hundred bytes each, scenarios ramp/hold/echo/push/
// churn, failures by cause, HDR-style latency histograms corrected for
// coordinated omission, thresholds for CI, and -procs to spread the
// connections over worker processes.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/wsd-dev/wsd/load"
)

// Exit codes.
const (
	exitOK        = 0
	exitFailures  = 1 // connections failed or echoes were wrong
	exitUsage     = 2
	exitThreshold = 3 // a -max-p99 or -min-success threshold failed
)

func main() {
	code, err := run(os.Args[1:], os.Stdout, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "wsload:", err)
	}
	os.Exit(code)
}

func run(args []string, stdout, stderr io.Writer) (int, error) {
	o, err := parseOptions(args, stderr)
	if err != nil {
		return exitUsage, err
	}
	var res result
	if o.procs > 1 && !o.worker {
		res, err = runProcs(o, args, stdout, stderr)
	} else {
		res, err = runOne(o, stdout, stderr)
	}
	if err != nil {
		return exitFailures, err
	}
	res.checkThresholds(o)
	if err := writeReport(o, &res); err != nil {
		return exitFailures, err
	}
	if o.jsonOut {
		res.writeJSON(stdout)
	} else {
		res.print(stdout)
	}
	switch {
	case len(res.ThresholdsFailed) > 0:
		return exitThreshold, nil
	case res.Echo != nil && res.Echo.Mismatched > 0:
		return exitFailures, nil
	case res.Stats.Failed() > 0 && o.minSuccess == 0:
		return exitFailures, nil
	}
	return exitOK, nil
}

// runOne runs the scenario in this process.
func runOne(o *options, stdout, stderr io.Writer) (result, error) {
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(o.loops + 1) // as in wsd: a spare P beside the loops
	}
	baseRSS := selfRSS()
	sc, echo, push := o.scenarioFor()
	e, err := load.New(o.engineConfig(), sc)
	if err != nil {
		return result{}, err
	}
	e.Start()
	rec := e.RecordSeries()
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, o.duration)
	defer cancelT()
	stopProgress := startProgress(o, e, echo, stderr)
	defer stopProgress()

	start := time.Now()
	n := o.conns
	if o.scenario == "churn" && n == 0 {
		n = 1 << 30 // until -duration
	}
	dialDone := make(chan struct{})
	go func() { e.Dial(ctx, o.first, n, o.rate); close(dialDone) }()
	if o.scenario != "churn" {
		<-dialDone
	}
	connected := time.Since(start)
	heldRSS, held := selfRSS(), e.Stats().Open
	ready := func() {
		if o.ready {
			st := e.Stats()
			fmt.Fprintf(stdout, "READY %d failed=%d rss_base=%d rss=%d %v %v\n", st.Open, st.Failed(), baseRSS, heldRSS, st.Failures, st.Errors)
		}
	}
	holdAfterEcho := echo != nil && o.msgs > 0 && o.thenHold
	if !holdAfterEcho {
		ready()
	}
	scStart := time.Now()
	var published publishStats
	switch {
	case push != nil && o.publishURL != "":
		published = publish(ctx, o, e.Stats().Opened)
		time.Sleep(time.Second) // the last ones arrive
	case echo != nil && o.msgs > 0:
		for ctx.Err() == nil && echo.Stats().ConnsDone < e.Stats().Opened {
			time.Sleep(2 * time.Millisecond)
		}
		if holdAfterEcho {
			ready() // every connection has had its echoes
			<-ctx.Done()
		}
	case o.scenario == "churn" && o.conns > 0:
		<-dialDone
		for ctx.Err() == nil && e.Stats().Open > 0 {
			time.Sleep(5 * time.Millisecond)
		}
	default:
		<-ctx.Done()
	}
	cancelT()
	<-dialDone
	elapsed := time.Since(scStart)
	if echo != nil {
		echo.Stop()
	}
	seconds, connH, hsH, latH := rec.Stop() // the last second; the histograms as it saw them
	tlsH := e.CollectTLS()
	var pr load.PushResult
	if push != nil {
		pr = push.Collect(e) // before Close: it runs on the loops
	}
	wire, exts := e.Wire(), e.Extensions() // before Close: the closing handshakes are not the scenario's
	e.Close(2 * time.Second)

	res := result{Extensions: exts, Wire: wireOf(wire), Scenario: o.scenario, Connections: o.conns, Procs: 1, Elapsed: elapsed.Seconds(), ConnectPhase: connected.Seconds(),
		Stats: e.Stats(), ConnectHist: connH.Export(), TLSHist: tlsH.Export(), HandshakeHist: hsH.Export(),
		RSSBase: baseRSS, RSSHeld: heldRSS, HeldConns: held}
	res.Series = seriesOf(seconds)
	if echo != nil {
		st := echo.Stats()
		res.Echo = &echoResult{Sent: st.Sent, Received: st.Received, Bytes: st.Bytes, Mismatched: st.Mismatched,
			FirstMismatch: st.FirstMismatch, Hist: latH.Export()}
	}
	if push != nil {
		res.Push = &pushResult{PushResult: pr, Published: published}
	}
	res.summarize()
	return res, nil
}

// selfRSS reads this process's resident set size.
func selfRSS() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	var size, rss int64
	fmt.Sscan(string(b), &size, &rss)
	return rss * int64(os.Getpagesize())
}
