package main

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsd-dev/wsd/internal/testserver"
	"github.com/wsd-dev/wsd/load"
	"github.com/wsd-dev/wsd/upgrade"
	"github.com/wsd-dev/wsd/wsconn"
)

// xmlTol is how far a mark may be from where its value puts it when read
// from the HTML: coordinates are written with 2 decimals.
const xmlTol = 0.011

// buildWsload builds this command for the tests that need the binary
// (-procs runs it again as its workers).
func buildWsload(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "wsload")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "%s", out)
	return bin
}

// runReportBinary runs the binary with -json and -report and returns its
// exit code, the JSON result it printed and the report.
func runReportBinary(t *testing.T, bin string, args ...string) (int, *result, []byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "report.html")
	cmd := exec.Command(bin, append(args, "-json", "-progress", "off", "-report", path)...)
	var stdout bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, os.Stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	var res result
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &res), "output %q", stdout.String())
	page, err := os.ReadFile(path)
	require.NoError(t, err)
	return code, &res, page
}

// runReport runs wsload in this process.
func runReport(t *testing.T, args ...string) (int, *result, []byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "report.html")
	code, res := runJSON(t, append(args, "-progress", "off", "-report", path)...)
	page, err := os.ReadFile(path)
	require.NoError(t, err)
	return code, &res, page
}

func checkReport(t *testing.T, page []byte, res *result, given map[string]string) {
	t.Helper()
	shown, err := readReport(page)
	require.NoError(t, err)
	assert.Empty(t, reportProblems(shown, res, given, xmlTol), "the report against the JSON result")
}

// seriesAddsUp checks the JSON's seconds against its totals: every
// connection opened in one of them, and their latencies, bucket by bucket,
// are the run's.
func seriesAddsUp(t *testing.T, res *result, hist load.HistogramData) {
	t.Helper()
	var connects int64
	var sum load.Histogram
	for i, s := range res.Series {
		connects += s.Connects
		if s.Latency != nil {
			sum.Import(*s.Latency)
			assert.Equal(t, pcts(*s.Latency), s.LatencyMs, "second %d's percentiles are its buckets'", s.T)
		}
		if i > 0 {
			assert.Greater(t, s.T, res.Series[i-1].T)
		}
	}
	assert.Equal(t, res.Stats.Opened, connects, "connects per second add up to the connections opened")
	assert.Equal(t, hist.Buckets, sum.Export().Buckets, "the seconds' latencies are the run's, bucket by bucket")
	assert.Equal(t, hist.Max, sum.Export().Max)
	assert.Equal(t, hist.Min, sum.Export().Min)
}

// One process: every chart, tile and table of the report carries the
// values of the JSON result the same run printed, drawn where its scales
// put them; the seconds add up to the run's totals.
func TestReportShowsTheJSONResult(t *testing.T) {
	addr := startWSD(t)
	url := "ws://" + addr + "/echo"
	code, res, page := runReport(t, "-url", url, "-c", "40", "-rate", "40", "-msg-rate", "20", "-duration", "3s")
	require.Equal(t, exitOK, code)
	require.GreaterOrEqual(t, len(res.Series), 3, "three wall-clock seconds at least")
	checkReport(t, page, res, map[string]string{"url": url, "c": "40", "rate": "40", "msg-rate": "20", "duration": "3s", "scenario": "echo"})
	seriesAddsUp(t, res, res.Echo.Hist)
	require.NotNil(t, res.Server)
	assert.Equal(t, 101, res.Server.Status, res.Server.Error)
	assert.True(t, res.Server.AcceptOK)
	assert.Contains(t, res.Server.Response, "HTTP/1.1 101 Switching Protocols")
	assert.Contains(t, res.Server.Request, "GET /echo HTTP/1.1")
	cmd := regexp.MustCompile(`<pre id="command">([^<]*)</pre>`).FindSubmatch(page)
	require.NotNil(t, cmd, "the command is shown")
	assert.Regexp(t, `^wsload -c 40 -duration 3s -json -msg-rate 20 -progress off -rate 40 -report \S+/report\.html -url `+regexp.QuoteMeta(url)+`$`,
		string(cmd[1]), "the flags given, in order of name")
}

// -procs 2: the parent's report shows the merged JSON it printed, and the
// merged seconds add up to the merged totals.
func TestReportProcsMerged(t *testing.T) {
	addr := startWSD(t)
	bin := buildWsload(t)
	url := "ws://" + addr + "/echo?w={i}"
	code, res, page := runReportBinary(t, bin, "-url", url, "-c", "60", "-rate", "30", "-msg-rate", "20", "-duration", "3s", "-procs", "2")
	require.Equal(t, exitOK, code)
	assert.Equal(t, 2, res.Procs)
	assert.Equal(t, int64(60), res.Stats.Opened)
	checkReport(t, page, res, map[string]string{"url": url, "c": "60", "procs": "2"})
	seriesAddsUp(t, res, res.Echo.Hist)
	var peak int64
	for _, s := range res.Series {
		peak = max(peak, s.Open)
	}
	assert.Equal(t, int64(60), peak, "both workers' connections are open in the same second")
}

// Failures are charted per second by cause.
func TestReportShowsFailuresByCause(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	refused := l.Addr().String()
	l.Close()
	code, res, page := runReport(t, "-url", "ws://"+refused+"/x", "-scenario", "hold", "-c", "12", "-duration", "1s")
	assert.Equal(t, exitFailures, code)
	assert.Equal(t, int64(12), res.Stats.Failures["refused"])
	checkReport(t, page, res, map[string]string{"c": "12", "scenario": "hold"})
	var refusals int64
	for _, s := range res.Series {
		refusals += s.Failures["refused"]
	}
	assert.Equal(t, int64(12), refusals)
	assert.Contains(t, string(page), `data-series="fail-refused"`)
	assert.NotEmpty(t, res.Server.Error, "the probe was refused too")
}

// Push: a histogram per kind, and the deliveries per second.
func TestReportShowsPushKinds(t *testing.T) {
	addr := startWSD(t)
	code, res, page := runReport(t, "-url", "ws://"+addr+"/ws/p{i}", "-scenario", "push", "-c", "30",
		"-publish-url", "http://"+addr+"/broadcast", "-publish-rate", "20", "-publish-count", "10")
	require.Equal(t, exitOK, code)
	require.NotNil(t, res.Push)
	assert.Equal(t, int64(300), res.Push.Stamped)
	checkReport(t, page, res, map[string]string{"scenario": "push", "publish-count": "10"})
	var all load.HistogramData
	for _, d := range res.Push.Kinds {
		all = mergeHist(all, d)
	}
	seriesAddsUp(t, res, all)
	assert.Contains(t, string(page), `id="chart-hist-push-B"`)
}

// The check fails when the report shows a value other than the JSON's or
// draws one elsewhere than its value: each change below is one wrong
// value in a good report.
func TestReportCheckFailsOnWrongValues(t *testing.T) {
	addr := startWSD(t)
	_, res, page := runReport(t, "-url", "ws://"+addr+"/echo", "-c", "10", "-rate", "20", "-msg-rate", "10", "-duration", "2s")
	shown, err := readReport(page)
	require.NoError(t, err)
	require.Empty(t, reportProblems(shown, res, nil, xmlTol), "the report as written")
	for name, change := range map[string]func(string) string{
		"a second's open connections": func(p string) string {
			return replaceFirst(p, `(data-series="open" data-t="\d+" data-v=")(\d+)`, func(m []string) string { return m[1] + "7" + m[2] })
		},
		"a point drawn 1 px low": func(p string) string {
			return replaceFirst(p, `(data-series="p99" [^>]* cy=")([\d.]+)`, func(m []string) string { return m[1] + addPx(m[2], 1) })
		},
		"a bar 1 px short": func(p string) string {
			return replaceFirst(p, `(class="bar" [^>]* height=")([\d.]+)`, func(m []string) string { return m[1] + addPx(m[2], -1) })
		},
		"a histogram bucket left out": func(p string) string {
			return replaceFirst(p, `<rect class="hbar"[^>]*><title>[^<]*</title></rect>`, func([]string) string { return "" })
		},
		"a bucket's count": func(p string) string {
			return replaceFirst(p, `(class="hbar" data-bucket="\d+" data-lo="\d+" data-hi="\d+" data-v=")(\d+)`, func(m []string) string { return m[1] + "9" + m[2] })
		},
		"the p99 mark moved": func(p string) string {
			return replaceFirst(p, `(data-p="p99" data-v="[^"]+" x1=")([\d.]+)`, func(m []string) string { return m[1] + addPx(m[2], 2) })
		},
		"a tile": func(p string) string {
			return replaceFirst(p, `(id="tile-opened" data-v=")(\d+)`, func(m []string) string { return m[1] + "1" + m[2] })
		},
		"a percentile in the table": func(p string) string {
			return replaceFirst(p, `(<tr id="pct-latency">.*?data-k="p90" data-v=")([^"]+)`, func(m []string) string { return m[1] + "0.5" })
		},
		"a tile's written value": func(p string) string {
			return replaceFirst(p, `(id="tile-opened" data-v="\d+"><div class="k">[^<]*</div><div class="v">)(\d+)`, func(m []string) string { return m[1] + "1" + m[2] })
		},
		"a point's tooltip": func(p string) string {
			return replaceFirst(p, `(data-series="open" [^>]*><title>open connections: )(\d+)`, func(m []string) string { return m[1] + "3" + m[2] })
		},
		"a second missing": func(p string) string {
			return replaceFirst(p, `<circle class="pt" data-series="in"[^>]*><title>[^<]*</title></circle>`, func([]string) string { return "" })
		},
	} {
		t.Run(name, func(t *testing.T) {
			changed := change(string(page))
			require.NotEqual(t, string(page), changed, "the change applies")
			s, err := readReport([]byte(changed))
			require.NoError(t, err)
			problems := reportProblems(s, res, nil, xmlTol)
			assert.NotEmpty(t, problems, "a wrong value goes unnoticed")
			t.Log(problems)
		})
	}
}

func replaceFirst(s, expr string, with func(m []string) string) string {
	re := regexp.MustCompile(expr)
	loc := re.FindStringSubmatchIndex(s)
	if loc == nil {
		return s
	}
	var m []string
	for i := 0; i < len(loc); i += 2 {
		m = append(m, s[loc[i]:loc[i+1]])
	}
	return s[:loc[0]] + with(m) + s[loc[1]:]
}

func addPx(v string, d float64) string {
	var f float64
	json.Unmarshal([]byte(v), &f)
	return px(f + d)
}

// Seconds merge exactly: two processes' seconds, merged, give each second
// the percentiles of one histogram that recorded both processes' values
// of that second, and the sums of their counts.
func TestMergeSeriesBySecond(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	var a, b []second
	want := map[int64]*load.Histogram{}
	for _, w := range []*[]second{&a, &b} {
		for s := int64(100); s < 106; s++ {
			if w == &b && s == 100 {
				continue // the second worker started a second later
			}
			var h load.Histogram
			for range 200 + rng.IntN(300) {
				d := time.Duration(rng.ExpFloat64() * 3e6)
				h.Record(d)
				if want[s] == nil {
					want[s] = &load.Histogram{}
				}
				want[s].Record(d)
			}
			d := h.Export()
			*w = append(*w, second{Second: load.Second{T: s, Open: 10, Connects: s - 99, MsgsIn: 1000 + s, Failures: map[string]int64{"timeout": 1}, Latency: &d}})
		}
	}
	r := result{Series: mergeSeries(mergeSeries(nil, a), b)}
	r.summarizeSeries()
	require.Len(t, r.Series, 6)
	for _, s := range r.Series {
		n := int64(2)
		if s.T == 100 {
			n = 1
		}
		assert.Equal(t, 10*n, s.Open, "open connections add up")
		assert.Equal(t, (s.T-99)*n, s.Connects)
		assert.Equal(t, (1000+s.T)*n, s.MsgsIn)
		assert.Equal(t, n, s.Failures["timeout"])
		exp := want[s.T].Export()
		assert.Equal(t, exp.Buckets, s.Latency.Buckets, "second %d bucket by bucket", s.T)
		assert.Equal(t, exp.Max, s.Latency.Max)
		assert.Equal(t, pcts(exp), s.LatencyMs, "second %d's percentiles as one histogram's", s.T)
	}
}

// Tokens do not travel in reports.
func TestReportCutsTokens(t *testing.T) {
	assert.Equal(t, "GET /ws/u1?token=eyJhbGci… HTTP/1.1", cutTokens("GET /ws/u1?token=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1MSJ9.sig HTTP/1.1"))
	assert.Equal(t, "ws://h:1/x?a=1&token=abcdefgh…&b=2", cutTokens("ws://h:1/x?a=1&token=abcdefghijklmnop&b=2"))
	assert.False(t, strings.Contains(cutTokens("?token=abcdefghijklmnop"), "ijkl"))
}

// With -deflate the report shows the extensions the server agreed to: in
// its answer to the probe (which offers what the run offered) and for
// each of the run's connections.
func TestReportShowsDeflate(t *testing.T) {
	s, err := testserver.Start(func(o *wsconn.Options) { o.Deflate = upgrade.DeflatePolicy{Mode: upgrade.DeflateOn} })
	require.NoError(t, err)
	t.Cleanup(s.Stop)
	code, res, page := runReport(t, "-url", "ws://"+s.Addr+"/echo", "-c", "20", "-msgs", "20", "-deflate", "-payload", "json", "-size", "200")
	require.Equal(t, exitOK, code)
	checkReport(t, page, res, map[string]string{"deflate": "true", "payload": "json"})
	require.Len(t, res.Extensions, 1)
	for answer, n := range res.Extensions {
		assert.Contains(t, answer, "permessage-deflate")
		assert.Equal(t, int64(20), n)
	}
	assert.Contains(t, res.Server.Request, "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits")
	assert.Contains(t, res.Server.Extensions, "permessage-deflate")
}
