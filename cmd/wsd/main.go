// Command wsd is the WebSocket server: epoll event loops on raw sockets,
// the RFC 6455 handshake and framing done in-house, and the notification
// hub on top: /ws/{user}, /ws/chat/{nick}, /echo, the publish API, polling
// and the demo pages.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/wsd-dev/wsd/auth"
	"github.com/wsd-dev/wsd/cluster"
	"github.com/wsd-dev/wsd/deflate"
	"github.com/wsd-dev/wsd/demo"
	"github.com/wsd-dev/wsd/hub"
	"github.com/wsd-dev/wsd/trace"
	"github.com/wsd-dev/wsd/trace/web"
	"github.com/wsd-dev/wsd/upgrade"
	"github.com/wsd-dev/wsd/wsconn"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "wsd:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("wsd", flag.ContinueOnError)
	var o wsconn.Options
	var origins string
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile to this file until exit")
	shutdownTimeout := fs.Duration("shutdown-timeout", 5*time.Second, "on SIGINT/SIGTERM, how long closing connections may take")
	fs.StringVar(&o.Addr, "addr", wsconn.DefaultAddr, "listen address")
	fs.IntVar(&o.Loops, "loops", 0, "event loops (0: GOMAXPROCS)")
	fs.BoolVar(&o.ReusePort, "reuseport", false, "set SO_REUSEPORT on the listener")
	fs.IntVar(&o.MaxConns, "max-conns", 0, "connections at once (0: the fd limit)")
	fs.Float64Var(&o.ClientMsgRate, "client-msg-rate", 0, "messages per second a connection may send, twice that in a burst; more closes it with 1008 (0: no limit)")
	fs.Float64Var(&o.HandshakeRate, "handshake-rate", 0, "new connections per second per client IP, twice that in a burst; more are answered 429 (0: no limit)")
	fs.Int64Var(&o.MaxMessage, "max-message", wsconn.DefaultMaxMessage, "largest message in bytes (→ close 1009)")
	fs.Int64Var(&o.MaxMessageMemory, "max-message-memory", wsconn.DefaultMaxMessageMemory, "bytes all partly received messages may hold together (→ close 1009)")
	fs.IntVar(&o.MaxHead, "max-head", wsconn.DefaultMaxHead, "largest request head in bytes (→ 431)")
	fs.IntVar(&o.QueueCap, "queue-cap", wsconn.DefaultQueueCap, "bytes queued per connection before it is a slow consumer")
	fs.BoolVar(&o.DropOldest, "drop-oldest", false, "at the queue cap drop the oldest queued messages instead of closing with 1008")
	fs.DurationVar(&o.HandshakeTimeout, "handshake-timeout", wsconn.DefaultHandshakeTimeout, "time from accept to a complete request head")
	fs.DurationVar(&o.PingInterval, "ping-interval", wsconn.DefaultPingInterval, "idle time before a ping (spread over up to 1.5x it); two more silent intervals close")
	fs.DurationVar(&o.CloseTimeout, "close-timeout", wsconn.DefaultCloseTimeout, "wait for the peer's close frame after ours")
	fs.StringVar(&origins, "origins", "*", "allowed Origin values, comma-separated (* = any; others get 403)")
	var ho hub.Options
	fs.IntVar(&ho.History, "history", hub.DefaultHistory, "messages kept per user for ?since= resume and polling")
	fs.StringVar(&ho.APIToken, "api-token", "", "Bearer token the publish API requires (default: loopback clients only)")
	fs.IntVar(&ho.MaxConnsPerUser, "max-conns-per-user", 0, "connections a user may hold at once; more are answered 429 (0: no cap)")
	var ac auth.Config
	ac.RegisterFlags(fs)
	deflateMode := fs.String("deflate", "on", "permessage-deflate: on (no context kept between messages), takeover (windows of -deflate-window-bits kept per connection) or off")
	deflateBits := fs.Int("deflate-window-bits", upgrade.DefaultDeflateWindowBits, "with -deflate takeover: the LZ77 window, 8..15 (2^bits bytes kept per connection and direction)")
	fs.IntVar(&o.DeflateMinSize, "deflate-min-size", wsconn.DefaultDeflateMinSize, "messages smaller than this many bytes go uncompressed")
	fs.IntVar(&o.DeflateLevel, "deflate-level", deflate.DefaultLevel, "compression level, 1 (fastest) to 9 (smallest)")
	traceOn := fs.Bool("trace", false, "dump every connection's handshake and frames (see -trace-path, -trace-user)")
	tracePath := fs.String("trace-path", "", "with -trace: only connections whose path starts with this")
	traceUser := fs.String("trace-user", "", "with -trace: only this user's connections (/ws/{user}, ?user=)")
	traceJSON := fs.Bool("trace-json", false, "with -trace: JSON lines with Wireshark's field names")
	traceFile := fs.String("trace-file", "", "with -trace: write the dump here (default standard output)")
	noColor := fs.Bool("no-color", false, "with -trace: no ANSI colours")
	traceWeb := fs.String("trace-web", "", "serve a live page of the trace at http://HOST:PORT/: connections opened while it is open are traced for it (narrowed by -trace-path, -trace-user; with -trace the dump goes on as well); keep it on loopback, it shows all the traffic")
	var co cluster.Options
	clusterPeers := fs.String("cluster-peers", "", "with -cluster-listen: the other nodes' -cluster-listen addresses, HOST:PORT,HOST:PORT")
	natsURLs := fs.String("nats", "", "join through an existing NATS cluster with JetStream instead of embedding one: nats://HOST:PORT[,…]")
	fs.StringVar(&co.Listen, "cluster-listen", "", "run a NATS server inside wsd whose cluster routes listen on HOST:PORT and join -cluster-peers (a cluster of wsd nodes; needs -data)")
	fs.StringVar(&co.DataDir, "data", "", "with -cluster-listen: JetStream's store directory (user messages and read markers)")
	fs.StringVar(&co.Node, "node", "", "this node's name in the cluster, unique and stable across restarts (default: the -addr)")
	fs.IntVar(&co.Replicas, "replicas", 0, "JetStream replicas of the stored messages (default: min(3, nodes))")
	fs.BoolVar(&co.NATSLog, "nats-log", false, "log the embedded NATS server's notices too (its warnings and errors always are)")
	statePath := fs.String("state", "", "file the hub's users, sequence numbers and histories are saved to on shutdown and loaded from at start")
	tlsCert := fs.String("tls-cert", "", "PEM certificate (chain): the port speaks TLS 1.2/1.3 for every endpoint; SIGHUP loads it and -tls-key again")
	tlsKey := fs.String("tls-key", "", "PEM private key of -tls-cert")
	if err := fs.Parse(args); err != nil {
		return err
	}
	mode, err := upgrade.ParseDeflateMode(*deflateMode)
	if err != nil {
		return fmt.Errorf("-deflate: %w", err)
	}
	if *deflateBits < 8 || *deflateBits > 15 {
		return fmt.Errorf("-deflate-window-bits %d: want 8..15 (RFC 7692 §7.1.2)", *deflateBits)
	}
	if o.DeflateLevel < 1 || o.DeflateLevel > 9 {
		return fmt.Errorf("-deflate-level %d: want 1..9", o.DeflateLevel)
	}
	o.Deflate = upgrade.DeflatePolicy{Mode: mode, WindowBits: uint8(*deflateBits)}
	if origins != "" && origins != "*" {
		for _, s := range strings.Split(origins, ",") {
			o.Origins = append(o.Origins, strings.TrimSpace(s))
		}
	}
	if o.Loops <= 0 {
		o.Loops = runtime.NumCPU()
	}
	spareP(o.Loops)
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	o.Logger = log
	ho.MaxMessage, ho.Logger = o.MaxMessage, log
	var certs *certs
	if *tlsCert != "" || *tlsKey != "" {
		var err error
		if certs, err = loadCerts(*tlsCert, *tlsKey, log); err != nil {
			return fmt.Errorf("TLS: %w", err)
		}
		o.TLS = certs.config()
		certs.watch() // before the startup line, as the other signals
	}
	// The dump: -trace, or -trace-path/-trace-user alone (with -trace-web
	// they narrow the page's connections instead).
	dump := *traceOn || ((*tracePath != "" || *traceUser != "") && *traceWeb == "")
	var tracer *trace.Tracer // made once the page's server knows its address
	if dump || *traceWeb != "" {
		o.Observe = observer(&tracer, *tracePath, *traceUser)
	}
	var topt trace.Options
	var tw io.Writer // nil: no dump, the page only
	if dump {
		w := os.Stdout
		if *traceFile != "" {
			f, err := os.Create(*traceFile)
			if err != nil {
				return err
			}
			defer f.Close()
			w = f
		}
		tw = w
		topt = trace.Options{JSON: *traceJSON, Color: !*noColor && !*traceJSON && isTerminal(w)}
	}
	topt.MaxMessage = o.MaxMessage // the tracer inflates compressed messages under wsd's own limit

	srv, err := wsconn.New(o)
	if err != nil {
		return err
	}
	var pageURL string
	if *traceWeb != "" {
		page, err := web.Start(web.Options{Addr: *traceWeb, Source: "wsd " + srv.Addr().String(), Logger: log})
		if err != nil {
			return fmt.Errorf("-trace-web %s: %w", *traceWeb, err)
		}
		defer func() {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			page.Shutdown(ctx)
		}()
		topt.Tap = page
		pageURL = page.URL()
	}
	if o.Observe != nil {
		tracer = trace.New(tw, topt) // before Start: no connection is observed earlier
	}
	if ac.Enabled() {
		v, err := auth.New(ac)
		if err != nil {
			return err
		}
		ho.Auth = v
	}
	h := hub.New(srv, ho)
	co.Peers, co.URLs = cluster.SplitList(*clusterPeers), cluster.SplitList(*natsURLs)
	var node *cluster.Node
	if co.Listen != "" || len(co.URLs) > 0 {
		if *statePath != "" {
			return fmt.Errorf("-state is for a single node: a cluster keeps users' state in JetStream")
		}
		if co.Node == "" {
			co.Node = srv.Addr().String()
		}
		co.History, co.Logger = ho.History, log
		if node, err = cluster.Start(h, co); err != nil {
			return err
		}
		defer node.Close()
		log.Info("wsd cluster node", "node", co.Node, "cluster_listen", co.Listen, "peers", co.Peers, "nats", co.URLs, "data", co.DataDir, "replicas", co.Replicas)
	} else if *clusterPeers != "" || co.DataDir != "" || co.Node != "" || co.Replicas != 0 {
		return fmt.Errorf("-cluster-peers, -data, -node and -replicas need -cluster-listen (or -nats)")
	}
	if *statePath != "" {
		if err := h.LoadFile(*statePath); err != nil {
			return err
		}
	}
	// Catch signals before saying we listen: a SIGTERM right after the
	// startup line must close connections with 1001, not kill the process.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	if err := srv.Start(demo.New(h, srv).Routes()); err != nil {
		return err
	}
	eff := srv.Options()
	log.Info("wsd listening", "addr", srv.Addr().String(), "loops", eff.Loops, "max_conns", eff.MaxConns,
		"max_message", eff.MaxMessage, "max_message_memory", eff.MaxMessageMemory, "queue_cap", eff.QueueCap,
		"handshake_timeout", eff.HandshakeTimeout, "ping_interval", eff.PingInterval, "origins", origins, "deflate", deflateDesc(eff), "history", ho.History, "api_token", ho.APIToken != "", "state", *statePath, "tls", certs != nil)
	if certs != nil {
		log.Info("TLS", "cert", certs.describe())
	}

	if pageURL != "" {
		log.Info("trace page: connections opened while it is open are traced for it", "url", pageURL)
	}
	if v := ho.Auth; v != nil {
		log.Info("client endpoints require signed tokens", "algorithms", v.Algorithms(), "issuer", ac.Issuer, "audience", ac.Audience, "leeway", ac.Leeway)
	} else {
		log.Warn("client endpoints are open: anyone who can reach wsd may connect as any user (set -jwt-secret-file or -jwt-public-key)")
	}

	got := <-sig
	log.Info("shutting down", "signal", got.String(), "connections", srv.Conns())
	ctx, cancel := context.WithTimeout(context.Background(), *shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		log.Warn("shutdown cut connections that did not close in time", "err", err)
	}
	if *statePath != "" {
		if err := h.SaveFile(*statePath); err != nil {
			return fmt.Errorf("saving hub state: %w", err)
		}
		log.Info("hub state saved", "file", *statePath)
	}
	return nil
}

// spareP gives the Go scheduler one more P than there are event loops
// (unless GOMAXPROCS is set): a loop blocked in epoll_wait then never holds
// the last P, and the scheduler's hand-offs around the wait stop costing
// context switches. Measured: server CPU per echoed message down ~15%.
func spareP(loops int) {
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(loops + 1)
	}
}

// observer traces the connections -trace asks for: by path prefix, by
// user (the /ws/{user} path or ?user=), or all. With only the page to
// show them to, a connection that opens while no page is open is not
// traced at all: it costs nothing.
func observer(tracer **trace.Tracer, prefix, user string) func(*upgrade.Request, netip.AddrPort, netip.AddrPort) wsconn.Observer {
	return func(r *upgrade.Request, remote, local netip.AddrPort) wsconn.Observer {
		tr := *tracer
		if !tr.Traces() {
			return nil
		}
		if prefix != "" && !strings.HasPrefix(string(r.Path), prefix) {
			return nil
		}
		if user != "" && hub.UserOf(r) != user {
			return nil
		}
		return tr.Conn(remote.String(), local.String())
	}
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// deflateDesc is the startup line's permessage-deflate setting.
func deflateDesc(o wsconn.Options) string {
	switch o.Deflate.Mode {
	case upgrade.DeflateTakeover:
		return fmt.Sprintf("takeover window_bits=%d min_size=%d level=%d", o.Deflate.WindowBits, o.DeflateMinSize, o.DeflateLevel)
	case upgrade.DeflateOn:
		return fmt.Sprintf("on min_size=%d level=%d", o.DeflateMinSize, o.DeflateLevel)
	}
	return "off"
}
