package main

import (
	"strings"
	"testing"
)

func TestSplitTLS(t *testing.T) {
	for name, want := range map[string][2]string{
		"nbio":                  {"nbio", ""},
		"nbio@1.3":              {"nbio", "1.3"},
		"wsd@1.2":               {"wsd", "1.2"},
		"wsd:-loops=1@1.3":      {"wsd:-loops=1", "1.3"},
		"wsd:-origin=a@b.c":     {"wsd:-origin=a@b.c", ""}, // an @ in a flag is not a version
		"wsd:-origin=a@b.c@1.2": {"wsd:-origin=a@b.c", "1.2"},
	} {
		if spec, v := splitTLS(name); spec != want[0] || v != want[1] {
			t.Errorf("splitTLS(%q) = %q, %q; want %q, %q", name, spec, v, want[0], want[1])
		}
	}
}

func TestReadyRSS(t *testing.T) {
	// The line cmd/wsload prints with -ready.
	line := "READY 4994 failed=6 rss_base=7475200 rss=9957376 map[closed:6] map[]"
	if got := readyRSS(line); got != 9957376-7475200 {
		t.Errorf("readyRSS = %d, want %d", got, 9957376-7475200)
	}
	if got := readyRSS("READY 10"); got != 0 {
		t.Errorf("readyRSS without the fields = %d, want 0", got)
	}
}

// TestTableTLSRows: the TLS rows go into their own table, each with its
// ratios to the ws:// row of the same server, and the plain table keeps
// only the ws:// rows.
func TestTableTLSRows(t *testing.T) {
	steps := []int{10}
	plain := serverResult{Name: "gws", Steps: []step{{0, 1e6, 5}, {10, 2e6, 15}}, BytesPerCon: 1000, ClientBPC: 400, FDsPerConn: 1, MaxHeld: 10,
		EchoRuns: []echoRun{{MsgsPerSec: 100, CPUus: 2}}, EchoRate: 100, CPUPerMsg: 2}
	over := serverResult{Name: "gws", TLS: "1.3", Steps: []step{{0, 1e6, 5}, {10, 4e6, 15}}, BytesPerCon: 3000, ClientBPC: 4000, MaxHeld: 10,
		EchoRuns: []echoRun{{MsgsPerSec: 50, CPUus: 3}}, EchoRate: 50, CPUPerMsg: 3, Errors: []string{"boom"}}
	md := table([]serverResult{plain, over}, steps)
	head, tlsPart, ok := strings.Cut(md, "The same over TLS")
	if !ok {
		t.Fatalf("no TLS table:\n%s", md)
	}
	if strings.Count(head, "| gws |") != 1 || !strings.Contains(head, "| 1000 | 400 | 1.00 | 10 |") {
		t.Errorf("plain table:\n%s", head)
	}
	if !strings.Contains(tlsPart, "| gws | 1.3 | 1.0 MB | 4.0 MB | 3000 | 3.00 | 4000 | 10 | 50 | 0.50 | 3.00 | 1.50 |") {
		t.Errorf("TLS row without its ratios:\n%s", tlsPart)
	}
	if !strings.Contains(md, "- gws (TLS 1.3): boom") {
		t.Errorf("the TLS row's error is not named as such:\n%s", md)
	}
}
