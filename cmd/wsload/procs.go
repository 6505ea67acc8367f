package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
)

// runProcs spreads the connections over o.procs worker processes (this
// binary again, with -worker), each with its share of connections, its own
// range of indexes and its own source addresses, and merges their results.
func runProcs(o *options, args []string, stdout, stderr io.Writer) (result, error) {
	self, err := os.Executable()
	if err != nil {
		return result{}, err
	}
	srcs := splitSources(o)
	type out struct {
		res  result
		err  error
		line string
	}
	outs := make([]out, o.procs)
	var wg sync.WaitGroup
	var readyMu sync.Mutex
	ready := 0
	var readyOpen int64
	first := o.first
	for k := range o.procs {
		share := o.conns / o.procs
		if k < o.conns%o.procs {
			share++
		}
		wargs := append(stripFlags(args, "procs", "json", "ready", "first", "c", "src", "progress", "config", "report"),
			"-worker", "-json", "-ready", "-progress", "off", "-first", strconv.Itoa(first), "-c", strconv.Itoa(share))
		if s := srcs[k]; s != "" {
			wargs = append(wargs, "-src", s)
		}
		if cfg := configFlag(args); cfg != "" {
			wargs = append([]string{"-config", cfg}, wargs...)
		}
		first += share
		cmd := exec.Command(self, wargs...)
		cmd.Stderr = stderr
		pipe, err := cmd.StdoutPipe()
		if err != nil {
			return result{}, err
		}
		if err := cmd.Start(); err != nil {
			return result{}, fmt.Errorf("starting worker %d: %w", k, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sc := bufio.NewScanner(pipe)
			sc.Buffer(make([]byte, 1<<20), 64<<20)
			var js strings.Builder
			for sc.Scan() {
				line := sc.Text()
				if rest, ok := strings.CutPrefix(line, "READY "); ok {
					n, _ := strconv.ParseInt(strings.Fields(rest)[0], 10, 64)
					readyMu.Lock()
					ready++
					readyOpen += n
					if ready == o.procs && o.ready {
						fmt.Fprintf(stdout, "READY %d\n", readyOpen)
					}
					readyMu.Unlock()
					continue
				}
				js.WriteString(line)
			}
			werr := cmd.Wait()
			if err := json.Unmarshal([]byte(js.String()), &outs[k].res); err != nil {
				outs[k].err = fmt.Errorf("worker %d (pid %d): %v; wait: %v", k, cmd.Process.Pid, err, werr)
			}
		}()
	}
	wg.Wait()
	var merged result
	merged.Scenario = o.scenario
	for _, w := range outs {
		if w.err != nil {
			return result{}, w.err
		}
		merged.merge(w.res)
	}
	merged.summarize()
	return merged, nil
}

// splitSources gives each worker its own source addresses: the -src list
// dealt out in turn, or for a loopback target 16 addresses per worker.
func splitSources(o *options) []string {
	out := make([]string, o.procs)
	if len(o.srcs) > 0 {
		parts := make([][]string, o.procs)
		for i, a := range o.srcs {
			parts[i%o.procs] = append(parts[i%o.procs], a.String())
		}
		for k := range out {
			out[k] = strings.Join(parts[k], ",")
		}
		return out
	}
	if o.target.Addr().Is4() && o.target.Addr().IsLoopback() {
		for k := range out {
			base := netip.AddrFrom4([4]byte{127, 0, byte(200 + k%50), 1})
			out[k] = base.String() + "-" + netip.AddrFrom4([4]byte{127, 0, byte(200 + k%50), 16}).String()
		}
	}
	return out
}

// stripFlags removes the named flags (and their values) from args.
func stripFlags(args []string, names ...string) []string {
	drop := map[string]bool{}
	for _, n := range names {
		drop[n] = true
	}
	var out []string
	for i := 0; i < len(args); i++ {
		a := strings.TrimLeft(args[i], "-")
		name, _, hasValue := strings.Cut(a, "=")
		if !strings.HasPrefix(args[i], "-") || !drop[name] {
			out = append(out, args[i])
			continue
		}
		if !hasValue && !isBoolFlag(name) && i+1 < len(args) {
			i++ // the value follows
		}
	}
	return out
}

func isBoolFlag(name string) bool {
	switch name {
	case "json", "ready", "worker", "binary", "deflate", "then-hold":
		return true
	}
	return false
}

func configFlag(args []string) string {
	for i, a := range args {
		a = strings.TrimLeft(a, "-")
		if v, ok := strings.CutPrefix(a, "config="); ok {
			return v
		}
		if a == "config" && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}
