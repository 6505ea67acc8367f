package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"strconv"
	"sync"

	"github.com/wsd-dev/wsd/load"
)

// Several client processes: each worker (this binary with -worker) runs a
// share of the clients and answers commands on stdin with one JSON line
// on stdout, so that the parent reads every counter at the same moments.

type snapshot struct {
	Up, Down, SegIn, SegOut, Requests, Empty int64
}

type connInfo struct {
	OK, Failed int64
	Detail     string
}

// runWorker is the worker side.
func runWorker(fix []byte) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var c clients
	var err error
	if isWS(*wMode) {
		c, err = startWS(ctx, *wMode, *wAddr, *wFirst, *wN)
	} else {
		c, err = startPolling(ctx, *wMode, *wAddr, *wFirst, *wN, fix)
	}
	out := json.NewEncoder(os.Stdout)
	if err != nil {
		out.Encode(map[string]string{"error": err.Error()})
		return
	}
	out.Encode(map[string]string{"ready": "1"})
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		switch in.Text() {
		case "snap":
			var s snapshot
			s.Up, s.Down = c.bytes()
			s.SegIn, s.SegOut = c.segments()
			s.Requests, s.Empty = c.polls()
			out.Encode(s)
		case "measure on", "measure off":
			c.measure(in.Text() == "measure on")
			out.Encode(map[string]string{"ok": "1"})
		case "hist":
			out.Encode(c.latency().Export())
		case "conn":
			ok, failed, detail := c.connected()
			out.Encode(connInfo{ok, failed, detail})
		case "ext":
			out.Encode(c.extensions())
		case "quit":
			c.stop()
			out.Encode(map[string]string{"ok": "1"})
			return
		}
	}
	c.stop()
}

// workers is the parent side: clients spread over processes.
type workers struct {
	procs []*workerProc
}

type workerProc struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *json.Decoder
}

func startWorkers(mode, addr string, n, procs int) (*workers, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	w := &workers{}
	first := 0
	for k := range procs {
		share := n / procs
		if k < n%procs {
			share++
		}
		cmd := exec.Command(self, "-worker", "-worker-mode", mode, "-worker-addr", addr,
			"-worker-first", strconv.Itoa(first), "-worker-n", strconv.Itoa(share),
			"-fixture", *fixture, "-cookie-bytes", strconv.Itoa(*cookieBytes))
		first += share
		cmd.Stderr = os.Stderr
		in, _ := cmd.StdinPipe()
		outPipe, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			w.stop()
			return nil, err
		}
		p := &workerProc{cmd: cmd, in: in, out: json.NewDecoder(outPipe)}
		w.procs = append(w.procs, p)
	}
	for k, p := range w.procs {
		var hello map[string]string
		if err := p.out.Decode(&hello); err != nil || hello["error"] != "" {
			w.stop()
			return nil, fmt.Errorf("worker %d: %v %s", k, err, hello["error"])
		}
	}
	return w, nil
}

// ask sends a command to every worker at once and decodes each answer.
func (w *workers) ask(cmd string, into func(k int, d *json.Decoder) error) {
	for _, p := range w.procs {
		fmt.Fprintln(p.in, cmd)
	}
	var wg sync.WaitGroup
	for k, p := range w.procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := into(k, p.out); err != nil {
				log.Printf("worker %d, %s: %v", k, cmd, err)
			}
		}()
	}
	wg.Wait()
}

func (w *workers) snap() snapshot {
	var total snapshot
	var mu sync.Mutex
	w.ask("snap", func(_ int, d *json.Decoder) error {
		var s snapshot
		err := d.Decode(&s)
		mu.Lock()
		total.Up, total.Down = total.Up+s.Up, total.Down+s.Down
		total.SegIn, total.SegOut = total.SegIn+s.SegIn, total.SegOut+s.SegOut
		total.Requests, total.Empty = total.Requests+s.Requests, total.Empty+s.Empty
		mu.Unlock()
		return err
	})
	return total
}

func (w *workers) bytes() (int64, int64)    { s := w.snap(); return s.Up, s.Down }
func (w *workers) segments() (int64, int64) { s := w.snap(); return s.SegIn, s.SegOut }
func (w *workers) polls() (int64, int64)    { s := w.snap(); return s.Requests, s.Empty }

func (w *workers) measure(on bool) {
	cmd := "measure off"
	if on {
		cmd = "measure on"
	}
	w.ask(cmd, func(_ int, d *json.Decoder) error { var x map[string]string; return d.Decode(&x) })
}

func (w *workers) latency() *load.Histogram {
	var h load.Histogram
	var mu sync.Mutex
	w.ask("hist", func(_ int, d *json.Decoder) error {
		var x load.HistogramData
		err := d.Decode(&x)
		mu.Lock()
		h.Import(x)
		mu.Unlock()
		return err
	})
	return &h
}

func (w *workers) connected() (ok, failed int64, detail string) {
	var mu sync.Mutex
	w.ask("conn", func(_ int, d *json.Decoder) error {
		var c connInfo
		err := d.Decode(&c)
		mu.Lock()
		ok, failed = ok+c.OK, failed+c.Failed
		if c.Detail != "" {
			detail = c.Detail
		}
		mu.Unlock()
		return err
	})
	return ok, failed, detail
}

func (w *workers) extensions() map[string]int64 {
	all := map[string]int64{}
	var mu sync.Mutex
	w.ask("ext", func(_ int, d *json.Decoder) error {
		var m map[string]int64
		err := d.Decode(&m)
		mu.Lock()
		for k, v := range m {
			all[k] += v
		}
		mu.Unlock()
		return err
	})
	return all
}

func (w *workers) stop() {
	for _, p := range w.procs {
		fmt.Fprintln(p.in, "quit")
		p.in.Close()
	}
	for _, p := range w.procs {
		p.cmd.Wait()
	}
}
