package main

import (
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/wsd-dev/wsd/auth"
	"github.com/wsd-dev/wsd/load"
	"github.com/wsd-dev/wsd/upgrade"
)

type options struct {
	url, src, scenario string
	conns, first       int
	rate               float64
	loops, procs       int
	duration           time.Duration
	connectTimeout     time.Duration
	size               int
	msgs, window       int64
	msgRate            float64
	binary             bool
	payload            string // echo: letters or json
	thenHold           bool   // echo: keep the connections open after their -msgs
	churnHold          time.Duration
	publishURL         string
	publishRate        float64
	publishCount       int
	publishToken       string
	jwtSecretFile      string // mint a token per connection with this HMAC secret (HS256)
	jwtSub             string // its subject; {i} becomes the connection's index
	deflate            bool   // offer permessage-deflate as browsers do
	deflateOffer       string // a Sec-WebSocket-Extensions offer sent as is
	maxP99             time.Duration
	minSuccess         float64
	jsonOut, ready     bool
	insecure           bool
	tlsMax             string
	progress           string
	worker             bool
	report             string        // -report: the HTML file (report.go)
	flags              *flag.FlagSet // every flag, for the report's settings

	target netip.AddrPort
	path   string
	srcs   []netip.Addr
	token  func(i int) string
	tls    *tls.Config // wss://
}

func parseOptions(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("wsload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: wsload [flags]   (or -config file.json with the same names as keys)")
		fs.PrintDefaults()
	}
	fs.StringVar(&o.url, "url", "ws://127.0.0.1:8080/echo", "server URL, ws:// or wss://; {i} becomes the connection's index (ws://h:p/ws/u{i})")
	fs.BoolVar(&o.insecure, "insecure", false, "wss:// and https:// publish URLs: accept any certificate (test certificates)")
	fs.StringVar(&o.tlsMax, "tls-max", "", "wss://: the highest TLS version to offer, 1.2 or 1.3 (default 1.3)")
	fs.StringVar(&o.src, "src", "", "source addresses: a range 127.0.0.2-127.0.0.50 or a comma list (past ~28K connections per address pair)")
	fs.StringVar(&o.scenario, "scenario", "echo", "hold | echo | push | churn")
	fs.IntVar(&o.conns, "c", 100, "connections (churn: cycles, 0 = until -duration)")
	fs.IntVar(&o.first, "first", 0, "index of the first connection ({i} starts here)")
	fs.Float64Var(&o.rate, "rate", 0, "new connections per second: the ramp (0: as fast as possible)")
	fs.IntVar(&o.loops, "loops", 2, "event loops per process")
	fs.IntVar(&o.procs, "procs", 1, "worker processes to spread the connections over (20,000 open files per process here)")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "how long the scenario runs at most")
	fs.DurationVar(&o.connectTimeout, "connect-timeout", 10*time.Second, "connect + handshake limit")
	fs.IntVar(&o.size, "size", 64, "echo/push: message size in bytes (echo: at least 32)")
	fs.Int64Var(&o.msgs, "msgs", 0, "echo: messages per connection (0: until -duration)")
	fs.Int64Var(&o.window, "window", 1, "echo: messages in flight per connection")
	fs.Float64Var(&o.msgRate, "msg-rate", 0, "echo: messages per second per connection, latency from the schedule (0: closed loop)")
	fs.BoolVar(&o.binary, "binary", false, "echo: binary frames")
	fs.StringVar(&o.payload, "payload", "letters", "echo: letters (a pattern, which compresses to almost nothing) or json (orders and a note, as a backend sends; at least 81 bytes)")
	fs.BoolVar(&o.thenHold, "then-hold", false, "echo with -msgs: once a connection's echoes are done keep it open and idle until -duration or a signal (-ready waits for the echoes)")
	fs.DurationVar(&o.churnHold, "churn-hold", 100*time.Millisecond, "churn: how long each connection stays open")
	fs.StringVar(&o.publishURL, "publish-url", "", "push: POST stamped messages here (http://h:p/broadcast or …/publish/u{i})")
	fs.Float64Var(&o.publishRate, "publish-rate", 10, "push: messages published per second")
	fs.IntVar(&o.publishCount, "publish-count", 0, "push: messages to publish (0: until -duration)")
	fs.StringVar(&o.publishToken, "publish-token", "", "push: Bearer token for the publish URL")
	fs.StringVar(&o.jwtSecretFile, "jwt-secret-file", "", "send each connection a signed token (HS256, 1 hour) made with this secret, as ?token= (wsd -jwt-secret-file)")
	fs.StringVar(&o.jwtSub, "jwt-sub", "u{i}", "with -jwt-secret-file: the tokens' subject; {i} becomes the connection's index")
	fs.BoolVar(&o.deflate, "deflate", false, "offer permessage-deflate (RFC 7692) as browsers do (\"permessage-deflate; client_max_window_bits\": the server picks the mode and windows), compress what is sent and check the echoes after inflating them")
	fs.StringVar(&o.deflateOffer, "deflate-offer", "", "send this Sec-WebSocket-Extensions offer as is (e.g. \"permessage-deflate; server_no_context_takeover\"); the answer is checked against it")
	fs.DurationVar(&o.maxP99, "max-p99", 0, "fail (exit 3) when the p99 message latency is above this")
	fs.Float64Var(&o.minSuccess, "min-success", 0, "fail (exit 3) when fewer than this fraction of connections open (0.99 …)")
	fs.BoolVar(&o.jsonOut, "json", false, "print the result as JSON")
	fs.BoolVar(&o.ready, "ready", false, "print READY <n> on stdout once every connection is open")
	fs.StringVar(&o.progress, "progress", "auto", "a live line each second on stderr: auto (on a terminal), on, off")
	fs.BoolVar(&o.worker, "worker", false, "internal: run as one of -procs workers")
	fs.StringVar(&o.report, "report", "", "write an HTML report of the run to this file: charts over time, latency histograms, the settings and the server's answer (self-contained, opens offline)")
	o.flags = fs
	config := fs.String("config", "", "JSON file of flag values ({\"url\":…,\"c\":19000}); flags on the command line win")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if *config != "" {
		if err := applyConfig(fs, *config, args); err != nil {
			return nil, err
		}
	}
	return o, o.validate()
}

// applyConfig sets flags from a JSON file, then lets the command line win.
func applyConfig(fs *flag.FlagSet, path string, args []string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	for k, v := range m {
		if fs.Lookup(k) == nil {
			return fmt.Errorf("config %s: unknown setting %q", path, k)
		}
		if err := fs.Set(k, fmt.Sprint(v)); err != nil {
			return fmt.Errorf("config %s: %s: %w", path, k, err)
		}
	}
	return fs.Parse(args)
}

func (o *options) validate() error {
	u, err := url.Parse(o.url)
	if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") {
		return fmt.Errorf("-url %q: want ws://host:port/path or wss://", o.url)
	}
	if u.Scheme == "wss" {
		o.tls = &tls.Config{ServerName: u.Hostname(), InsecureSkipVerify: o.insecure}
		switch o.tlsMax {
		case "", "1.3":
		case "1.2":
			o.tls.MaxVersion = tls.VersionTLS12
		default:
			return fmt.Errorf("-tls-max %q: want 1.2 or 1.3", o.tlsMax)
		}
	}
	if o.target, err = netip.ParseAddrPort(u.Host); err != nil {
		return fmt.Errorf("-url host %q: want an IP address and port: %v", u.Host, err)
	}
	o.path = u.EscapedPath()
	if o.path == "" {
		o.path = "/"
	}
	if u.RawQuery != "" {
		o.path += "?" + u.RawQuery
	}
	o.path = strings.ReplaceAll(o.path, "%7Bi%7D", "{i}")
	if o.srcs, err = load.ParseSources(o.src); err != nil {
		return err
	}
	switch o.scenario {
	case "hold", "echo", "push", "churn":
	default:
		return fmt.Errorf("-scenario %q: want hold, echo, push or churn", o.scenario)
	}
	if o.scenario == "echo" && o.size < load.MinEchoSize {
		return fmt.Errorf("-size %d: echo messages carry a timestamp and sequence, at least %d bytes", o.size, load.MinEchoSize)
	}
	switch o.payload {
	case "letters":
	case "json":
		if o.scenario == "echo" && o.size < load.MinJSONEchoSize {
			return fmt.Errorf("-size %d with -payload json: at least %d bytes", o.size, load.MinJSONEchoSize)
		}
	default:
		return fmt.Errorf("-payload %q: want letters or json", o.payload)
	}
	if o.deflate && o.deflateOffer != "" {
		return fmt.Errorf("-deflate and -deflate-offer %q: give one (-deflate sends the browsers' offer)", o.deflateOffer)
	}
	if o.procs < 1 || o.loops < 1 || o.conns < 0 {
		return fmt.Errorf("-procs, -loops at least 1; -c at least 0")
	}
	if o.jwtSecretFile != "" {
		secret, err := auth.ReadSecretFile(o.jwtSecretFile)
		if err != nil {
			return fmt.Errorf("-jwt-secret-file: %w", err)
		}
		exp := time.Now().Add(time.Hour)
		o.token = func(i int) string {
			tok, err := auth.Mint(secret, "HS256", auth.MintClaims{Subject: load.ExpandPath(o.jwtSub, i), Expires: exp})
			if err != nil {
				return "" // the server refuses it, and the failure is counted
			}
			return tok
		}
	}
	return nil
}

func (o *options) scenarioFor() (load.Scenario, *load.Echo, *load.Push) {
	switch o.scenario {
	case "echo":
		e := &load.Echo{Size: o.size, PerConn: o.msgs, Window: o.window, Rate: o.msgRate, Binary: o.binary, JSON: o.payload == "json"}
		return e, e, nil
	case "push":
		p := &load.Push{}
		return p, nil, p
	case "churn":
		return load.Churn{Hold: o.churnHold}, nil, nil
	}
	return load.Hold{}, nil, nil
}

func (o *options) engineConfig() load.Config {
	tick := 10 * time.Millisecond
	if o.msgRate > 0 || o.scenario == "churn" {
		tick = time.Millisecond
	}
	cfg := load.Config{Target: o.target, Path: o.path, Sources: o.srcs, Loops: o.loops, ConnectTimeout: o.connectTimeout, Tick: tick, Token: o.token, TLS: o.tls,
		DeflateOffer: o.deflateOffer}
	if o.deflate {
		cfg.Deflate = upgrade.DeflateTakeover // the browsers' offer: context takeover, any window
	}
	return cfg
}
