package main

import (
	"os"
	"slices"
	"testing"
)

// TestWithTLS: -tls adds a "<server> TLS" row for each -tls-servers entry
// of -servers, whose server gets the run's certificate and whose clients
// go over wss:// and https://; the plain rows stay on ws://.
func TestWithTLS(t *testing.T) {
	defer func(on bool, list string) { *tlsOn, *tlsServers = on, list }(*tlsOn, *tlsServers)
	*tlsOn, *tlsServers = true, "wsd,gws,nbio"
	names, cleanup := withTLS([]string{"wsd", "gobwas", "nbio"})
	if want := []string{"wsd", "gobwas", "nbio", "wsd@tls", "nbio@tls"}; !slices.Equal(names, want) {
		t.Fatalf("rows %q, want %q", names, want)
	}
	if _, err := os.Stat(certFile); err != nil {
		t.Fatalf("the run's certificate: %v", err)
	}
	if got := label("nbio@tls"); got != "nbio TLS" {
		t.Errorf("label = %q", got)
	}
	spec, via := transportOf("nbio@tls")
	if spec != "nbio" || via.ws != "wss://" || via.http != "https://" || !slices.Equal(via.serverArgs, []string{"-tls-cert", certFile, "-tls-key", keyFile}) ||
		!slices.Contains(via.loadArgs, "-insecure") || via.client.Transport == nil {
		t.Errorf("nbio@tls: %q %+v", spec, via)
	}
	spec, via = transportOf("gws:-deflate")
	if spec != "gws:-deflate" || via.ws != "ws://" || via.http != "http://" || via.serverArgs != nil || via.loadArgs != nil {
		t.Errorf("gws:-deflate: %q %+v", spec, via)
	}
	cleanup()
	if _, err := os.Stat(certFile); !os.IsNotExist(err) {
		t.Errorf("the certificate outlived the run: %v", err)
	}

	*tlsOn = false
	if names, _ := withTLS([]string{"wsd"}); !slices.Equal(names, []string{"wsd"}) {
		t.Errorf("without -tls: %q", names)
	}
}
