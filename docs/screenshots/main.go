// Command screenshots makes the pictures in docs/ from real runs: wsd, wsdump and
// wsload as make build leaves them in bin/, photographed with headless
// Chromium (make docs). Each picture is a shot, by name, in shots; a new
// one is a file here that adds itself to shots in an init function and a
// name in the Makefile's DOCS_SHOTS.
//
//	screenshots -bin bin -out docs dashboard   # → docs/dashboard.png
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"syscall"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/wsd-dev/wsd/internal/browser"
)

// shot makes one picture: take returns the PNG's bytes.
type shot struct {
	about string
	take  func(r *run) ([]byte, error)
}

var shots = map[string]shot{}

// run is what a shot works with: the binaries, the browser, and the
// processes it started (stopped by their PIDs when the shot is done).
type run struct {
	bin   string
	tab   context.Context
	procs []*exec.Cmd
	log   *slog.Logger
}

func main() {
	bin := flag.String("bin", "bin", "directory with wsd, wsload and wsdump")
	out := flag.String("out", "docs", "directory the PNGs are written to")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: screenshots [-bin dir] [-out dir] shot...   shots:")
		names := make([]string, 0, len(shots))
		for name := range shots {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			fmt.Fprintf(os.Stderr, "  %-12s %s\n", name, shots[name].about)
		}
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	for _, name := range flag.Args() {
		if err := take(name, *bin, *out, log); err != nil {
			fmt.Fprintf(os.Stderr, "screenshots: %s: %v\n", name, err)
			os.Exit(1)
		}
	}
}

func take(name, bin, out string, log *slog.Logger) error {
	s, ok := shots[name]
	if !ok {
		return errors.New("no such shot (screenshots -h lists them)")
	}
	profile, err := os.MkdirTemp("", "screenshots-chromium-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(profile)
	tab, stop, err := browser.Launch(profile)
	if err != nil {
		return err
	}
	defer stop()
	r := &run{bin: bin, tab: tab, log: log.With("shot", name)}
	defer r.stopAll()
	png, err := s.take(r)
	if err != nil {
		return err
	}
	path := filepath.Join(out, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		return err
	}
	log.Info("wrote", "file", path, "bytes", len(png))
	return nil
}

// start runs one of the binaries in the background.
func (r *run) start(name string, args ...string) (*exec.Cmd, error) {
	cmd := exec.Command(filepath.Join(r.bin, name), args...)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	r.procs = append(r.procs, cmd)
	r.log.Info("started", "cmd", name, "pid", cmd.Process.Pid, "args", args)
	return cmd, nil
}

var listening = regexp.MustCompile(`msg="wsd listening" addr=(\S+)`)

// startWSD runs wsd on a free loopback port and returns its address, read
// from its startup line.
func (r *run) startWSD(args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(r.bin, "wsd"), append([]string{"-addr", "127.0.0.1:0"}, args...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return "", err
	}
	if err := cmd.Start(); err != nil {
		return "", err
	}
	r.procs = append(r.procs, cmd)
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
				break
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	select {
	case addr := <-found:
		r.log.Info("wsd listening", "pid", cmd.Process.Pid, "addr", addr)
		return addr, nil
	case <-time.After(10 * time.Second):
		return "", errors.New("wsd printed no startup line in 10s")
	}
}

// stopAll ends what the shot started, newest first, by PID: SIGTERM, then
// SIGKILL after 5 s.
func (r *run) stopAll() {
	for i := len(r.procs) - 1; i >= 0; i-- {
		cmd := r.procs[i]
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}
	r.procs = nil
}

// screenshot photographs the whole page at a desktop width.
func (r *run) screenshot(width, height int64) ([]byte, error) {
	if err := chromedp.Do(r.tab, chromedp.EmulateViewport(width, height)); err != nil {
		return nil, err
	}
	return chromedp.Run(r.tab, chromedp.FullScreenshot(100))
}
