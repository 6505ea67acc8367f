package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/wsd-dev/wsd/load"
)

// startProgress prints a live line once a second on stderr (on a terminal
// by default) and returns the function that stops it.
func startProgress(o *options, e *load.Engine, echo *load.Echo, w io.Writer) func() {
	on := o.progress == "on"
	if o.progress == "auto" {
		if f, ok := w.(*os.File); ok {
			if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
				on = true
			}
		}
	}
	if !on || o.worker {
		return func() {}
	}
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		start := time.Now()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		var lastRecv int64
		for {
			select {
			case <-done:
				fmt.Fprintln(w)
				return
			case <-t.C:
			}
			st := e.Stats()
			line := fmt.Sprintf("\r[%4.0fs] open %d  opened %d  pending %d  failed %d", time.Since(start).Seconds(), st.Open, st.Opened, st.Pending, st.Failed())
			if echo != nil {
				es := echo.Stats()
				line += fmt.Sprintf("  echo %d msgs/s  mismatched %d", es.Received-lastRecv, es.Mismatched)
				lastRecv = es.Received
			}
			fmt.Fprint(w, line+"   ")
		}
	}()
	return func() { close(done); <-stopped }
}
