package main

import (
	"crypto/tls"
	"flag"
	"log"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/wsd-dev/wsd/bench/internal/proc"
	"github.com/wsd-dev/wsd/internal/testcert"
)

// The TLS rows: with -tls the -tls-servers of -servers are measured again
// with every connection over TLS (receivers and echo clients on wss://,
// publishes and broadcasts on https://, one self-signed certificate made
// for the run), into hub.md beside the plain rows: rows "<server> TLS".

var (
	tlsOn      = flag.Bool("tls", false, "measure the -tls-servers of -servers again over TLS (wss:// and https://), rows \"<server> TLS\" in hub.md")
	tlsServers = flag.String("tls-servers", "wsd,gorilla,gws,nbio", "servers measured over TLS when -servers has them (they take -tls-cert and -tls-key)")
)

// certFile and keyFile are the run's certificate, with -tls.
var certFile, keyFile string

// withTLS adds the TLS rows to names: "<name>@tls" for each -tls-servers
// entry that names has. When there is one it makes the run's certificate;
// cleanup removes it.
func withTLS(names []string) (all []string, cleanup func()) {
	cleanup = func() {}
	if !*tlsOn {
		return names, cleanup
	}
	all = slices.Clone(names)
	for _, n := range strings.Split(*tlsServers, ",") {
		if slices.Contains(names, n) {
			all = append(all, n+"@tls")
		}
	}
	if len(all) == len(names) {
		return names, cleanup
	}
	dir, err := os.MkdirTemp("", "hubbench-tls")
	if err != nil {
		log.Fatal(err)
	}
	pair, err := testcert.New("hubbench")
	if err != nil {
		log.Fatal(err)
	}
	if certFile, keyFile, err = pair.Write(dir); err != nil {
		log.Fatal(err)
	}
	return all, func() { os.RemoveAll(dir) }
}

// label names a row: "nbio@tls" is "nbio TLS".
func label(name string) string {
	spec, overTLS := strings.CutSuffix(name, "@tls")
	l := proc.ParseServer(spec).Label()
	if overTLS {
		l += " TLS"
	}
	return l
}

// transport is how a row reaches its server: URL schemes, the extra flags
// of the server and of every wsload process, and the client of the
// publishes and broadcasts.
type transport struct {
	ws, http             string
	serverArgs, loadArgs []string
	client               *http.Client
}

// transportOf reads a row name: "nbio@tls" is nbio over TLS.
func transportOf(name string) (spec string, t transport) {
	spec, overTLS := strings.CutSuffix(name, "@tls")
	if !overTLS {
		return spec, transport{ws: "ws://", http: "http://", client: &http.Client{Timeout: 30 * time.Second}}
	}
	return spec, transport{ws: "wss://", http: "https://",
		serverArgs: []string{"-tls-cert", certFile, "-tls-key", keyFile},
		loadArgs:   []string{"-insecure"},
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, // the run's own self-signed certificate
		}}}
}
