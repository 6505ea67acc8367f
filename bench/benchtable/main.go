// Command benchtable turns `go test -bench -benchmem` output with paired
// sub-benchmarks (.../wsd and .../gobwas) into a markdown table with the
// ratio of each peer's time to ours: above 1 means wsd is faster.
package main

import (
	"bufio"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
)

type row struct {
	nsop, mbs, bop, allocs float64
	hasMBs                 bool
}

var line = regexp.MustCompile(`^Benchmark(\S+?)(?:-\d+)?\s+\d+\s+([\d.]+) ns/op(?:\s+([\d.]+) MB/s)?\s+([\d.]+) B/op\s+([\d.]+) allocs/op`)

func main() {
	rows := map[string]row{}
	var order []string
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		m := line.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		var r row
		r.nsop, _ = strconv.ParseFloat(m[2], 64)
		if m[3] != "" {
			r.mbs, _ = strconv.ParseFloat(m[3], 64)
			r.hasMBs = true
		}
		r.bop, _ = strconv.ParseFloat(m[4], 64)
		r.allocs, _ = strconv.ParseFloat(m[5], 64)
		if _, seen := rows[m[1]]; !seen {
			order = append(order, m[1])
		}
		rows[m[1]] = r
	}
	fmt.Println("| benchmark | wsd ns/op | wsd B/op | wsd allocs/op | wsd GB/s | peer | peer ns/op | peer B/op | peer allocs/op | peer ns ÷ wsd ns |")
	fmt.Println("|---|---:|---:|---:|---:|---|---:|---:|---:|---:|")
	for _, name := range order {
		base, ok := strings.CutSuffix(name, "/wsd")
		if !ok {
			continue
		}
		w := rows[name]
		printed := false
		for _, peer := range []string{"gobwas", "gorilla", "gws", "nbio"} {
			p, ok := rows[base+"/"+peer]
			if !ok {
				continue
			}
			fmt.Printf("| %s | %.1f | %.0f | %.0f | %s | %s | %.1f | %.0f | %.0f | %.2f× |\n",
				base, w.nsop, w.bop, w.allocs, gbs(w), peer, p.nsop, p.bop, p.allocs, p.nsop/w.nsop)
			printed = true
		}
		if !printed {
			fmt.Printf("| %s | %.1f | %.0f | %.0f | %s | – | | | | |\n", base, w.nsop, w.bop, w.allocs, gbs(w))
		}
	}
}

func gbs(r row) string {
	if !r.hasMBs {
		return ""
	}
	return strconv.FormatFloat(r.mbs/1000, 'f', 2, 64)
}
