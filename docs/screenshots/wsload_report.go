package main

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/wsd-dev/wsd/internal/browser"
)

func init() {
	shots["wsload-report"] = shot{"wsload -report: a ramp to 1,500 echo connections over 2 processes against wsd -max-conns 1200", wsloadReport}
}

// wsloadReportArgs is the run behind docs/wsload-report.png (the README
// shows it): two worker processes ramp up 1,500 connections at 60 a
// second each, every one echoing 2 messages a second, against a wsd that
// takes 1,200 at most, so the last 300 are refused while the rest echo.
func wsloadReportArgs(addr, report string) []string {
	return []string{"-url", "ws://" + addr + "/echo", "-c", "1500", "-rate", "60", "-procs", "2",
		"-msg-rate", "2", "-duration", "40s", "-report", report, "-progress", "off"}
}

// wsloadReport runs wsload -report against bin/wsd and photographs the
// report's upper part (tiles, server, charts, percentiles) as Chromium
// draws it from the file.
func wsloadReport(r *run) ([]byte, error) {
	addr, err := r.startWSD("-loops", "2", "-max-conns", "1200")
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "wsload-report-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	report := filepath.Join(dir, "report.html")
	cmd, err := r.start("wsload", wsloadReportArgs(addr, report)...)
	if err != nil {
		return nil, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		// Refusals make wsload exit 1; the report is written either way.
		var ee interface{ ExitCode() int }
		if err != nil && !(errors.As(err, &ee) && ee.ExitCode() == 1) {
			return nil, fmt.Errorf("wsload: %w", err)
		}
	case <-time.After(2 * time.Minute):
		return nil, errors.New("wsload ran past two minutes")
	}
	r.procs = r.procs[:len(r.procs)-1] // ended by itself
	if err := browser.Navigate(r.tab, "file://"+report); err != nil {
		return nil, err
	}
	if err := chromedp.Do(r.tab, chromedp.EmulateViewport(1400, 900)); err != nil {
		return nil, err
	}
	bottom, err := browser.Eval[float64](r.tab, `document.getElementById('settings').getBoundingClientRect().top + window.scrollY`)
	if err != nil {
		return nil, err
	}
	if err := chromedp.Do(r.tab, chromedp.EmulateViewport(1400, int64(math.Ceil(bottom)))); err != nil {
		return nil, err
	}
	return chromedp.Run(r.tab, chromedp.CaptureScreenshot())
}
