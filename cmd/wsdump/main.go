// Command wsdump is a transparent TCP proxy that shows the WebSocket
// protocol as it crosses: the opening handshake with the accept key
// derived step by step, every frame in both directions with its bits,
// length encoding, masking, payload, fragment place and close code, and
// every RFC 6455 violation with its section — without breaking the relay.
// With permessage-deflate it shows the negotiated parameters and each
// compressed message beside what it inflates to. With -web it also serves
// a live page of the same trace: one lane per connection, each frame as a
// bit diagram with its bytes (package trace/web).
//
//	wsdump -listen 127.0.0.1:9000 -upstream 127.0.0.1:8080
//	wsdump -listen 127.0.0.1:9000 -upstream 127.0.0.1:8080 -web 127.0.0.1:9001
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/wsd-dev/wsd/trace"
	"github.com/wsd-dev/wsd/trace/web"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "wsdump:", err)
		os.Exit(1)
	}
}

// config is what the flags ask for.
type config struct {
	listen, upstream string
	out              string // the dump's file; "" for standard output
	web              string // HOST:PORT of the live page; "" for none
	noColor          bool
	opt              trace.Options // Color is decided once the output is known
}

func parseFlags(args []string) (config, error) {
	var c config
	fs := flag.NewFlagSet("wsdump", flag.ContinueOnError)
	fs.StringVar(&c.listen, "listen", "127.0.0.1:9000", "address clients connect to")
	fs.StringVar(&c.upstream, "upstream", "127.0.0.1:8080", "the server to relay to")
	fs.BoolVar(&c.opt.JSON, "json", false, "one JSON object per line, with Wireshark's field names")
	fs.BoolVar(&c.noColor, "no-color", false, "no ANSI colours (they are on when the output is a terminal)")
	fs.IntVar(&c.opt.MaxShow, "max-show", 256, "payload bytes shown per frame in the human format")
	fs.Int64Var(&c.opt.MaxMessage, "max-message", trace.DefaultMaxMessage, "largest compressed message kept and inflated (permessage-deflate); a bomb stops there")
	fs.StringVar(&c.out, "o", "", "write the dump to this file instead of standard output")
	fs.StringVar(&c.web, "web", "", "also serve a live page of the trace at http://HOST:PORT/ (keep it on loopback: it shows all the traffic)")
	err := fs.Parse(args)
	return c, err
}

// run relays until ctx ends; the dump goes to stdout (or -o), what it
// does to stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := parseFlags(args)
	if err != nil {
		return err
	}
	w := stdout
	if c.out != "" {
		f, err := os.Create(c.out)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	c.opt.Color = !c.noColor && !c.opt.JSON && isTerminal(w)
	ln, err := net.Listen("tcp", c.listen)
	if err != nil {
		return err
	}
	if c.web != "" {
		page, err := web.Start(web.Options{Addr: c.web, Source: "wsdump " + ln.Addr().String() + " → " + c.upstream})
		if err != nil {
			ln.Close()
			return fmt.Errorf("-web %s: %w", c.web, err)
		}
		defer func() {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			page.Shutdown(ctx)
		}()
		c.opt.Tap = page
		fmt.Fprintf(stderr, "wsdump: live page on %s\n", page.URL())
	}
	tr := trace.New(w, c.opt)
	fmt.Fprintf(stderr, "wsdump: relaying %s → %s\n", ln.Addr(), c.upstream)
	return serve(ctx, ln, c.upstream, tr)
}

// serve relays every connection accepted on ln to upstream until ctx ends.
func serve(ctx context.Context, ln net.Listener, upstream string, tr *trace.Tracer) error {
	go func() { <-ctx.Done(); ln.Close() }()
	var wg sync.WaitGroup
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				wg.Wait()
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			time.Sleep(10 * time.Millisecond) // out of fds: try again shortly
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			relay(tr, c, upstream)
		}()
	}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// relay copies bytes both ways and feeds the tracer a copy; one side's
// end is passed on as a half-close, so the close handshake stays visible.
func relay(tr *trace.Tracer, client net.Conn, upstream string) {
	defer client.Close()
	tc := tr.Conn(client.RemoteAddr().String(), upstream)
	server, err := net.DialTimeout("tcp", upstream, 10*time.Second)
	if err != nil {
		tc.End("upstream unreachable: " + err.Error())
		return
	}
	defer server.Close()
	ended := make(chan string, 2)
	pipe := func(dst, src net.Conn, d trace.Direction, who string) {
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				// Dumped before it is relayed: the answer it causes cannot
				// be dumped ahead of it.
				tc.Feed(d, buf[:n])
				if _, werr := dst.Write(buf[:n]); werr != nil {
					ended <- fmt.Sprintf("writing to the %s failed: %v", map[bool]string{true: "server", false: "client"}[d == trace.ClientToServer], werr)
					return
				}
			}
			if err != nil {
				if cw, ok := dst.(interface{ CloseWrite() error }); ok {
					cw.CloseWrite()
				}
				if errors.Is(err, io.EOF) {
					ended <- who + " closed its side"
				} else {
					ended <- who + ": " + err.Error()
				}
				return
			}
		}
	}
	go pipe(server, client, trace.ClientToServer, "the client")
	go pipe(client, server, trace.ServerToClient, "the server")
	first := <-ended
	// The other side gets a moment to finish its close handshake.
	select {
	case second := <-ended:
		tc.End(first + "; then " + second)
	case <-time.After(10 * time.Second):
		tc.End(first + "; the other side stayed open 10s, cut")
	}
}
