package main

import (
	"crypto/tls"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsd-dev/wsd/internal/testcert"
	"github.com/wsd-dev/wsd/internal/testserver"
	"github.com/wsd-dev/wsd/wsconn"
)

// startWSS runs wsd's server and hub over TLS with a test certificate;
// maxVersion 0 allows TLS 1.3.
func startWSS(t *testing.T, maxVersion uint16) *testserver.Server {
	pair, err := testcert.New("wsload test")
	require.NoError(t, err)
	s, err := testserver.Start(func(o *wsconn.Options) {
		o.TLS = &tls.Config{Certificates: []tls.Certificate{pair.Cert}, MaxVersion: maxVersion}
	})
	require.NoError(t, err)
	t.Cleanup(s.Stop)
	return s
}

// wss:// through the client core's TLS: echoes checked byte for byte, the
// TCP connect and the TLS handshake timed apart, TLS 1.3 and 1.2.
func TestWSSEcho(t *testing.T) {
	for _, tc := range []struct {
		name, max string
		server    uint16
	}{{"TLS1.3", "", 0}, {"TLS1.2 by the client", "1.2", 0}, {"TLS1.2 by the server", "", tls.VersionTLS12}} {
		t.Run(tc.name, func(t *testing.T) {
			s := startWSS(t, tc.server)
			args := []string{"-url", "wss://" + s.Addr + "/echo", "-insecure", "-c", "20", "-msgs", "50", "-window", "4", "-size", "200", "-duration", "20s", "-progress", "off"}
			if tc.max != "" {
				args = append(args, "-tls-max", tc.max)
			}
			code, res := runJSON(t, args...)
			assert.Equal(t, exitOK, code, "%+v", res.Stats)
			assert.Equal(t, int64(20), res.Stats.Opened)
			require.NotNil(t, res.Echo)
			assert.Equal(t, int64(20*50), res.Echo.Received)
			assert.Zero(t, res.Echo.Mismatched)
			assert.Equal(t, 20.0, res.ConnectMs["count"], "TCP connects timed")
			require.NotNil(t, res.TLSMs)
			assert.Equal(t, 20.0, res.TLSMs["count"], "TLS handshakes timed apart")
			assert.Equal(t, 20.0, res.HandshakeMs["count"])
			assert.Equal(t, int64(20), s.Srv.Stats().TLSHandshakes)
		})
	}
}

// Without -insecure the test certificate is not trusted: every dial fails
// as "tls", and the exit code says so.
func TestWSSUntrustedCertificate(t *testing.T) {
	s := startWSS(t, 0)
	code, res := runJSON(t, "-url", "wss://"+s.Addr+"/echo", "-c", "5", "-msgs", "1", "-duration", "10s", "-progress", "off")
	assert.Equal(t, exitFailures, code)
	assert.Equal(t, int64(5), res.Stats.Failures["tls"], "%+v", res.Stats)
	assert.Contains(t, res.Stats.Errors["tls"], "certificate")
}

func TestWSSFlags(t *testing.T) {
	_, err := parseOptions([]string{"-url", "wss://127.0.0.1:1/x", "-tls-max", "1.1"}, nil)
	assert.ErrorContains(t, err, "-tls-max")
	o, err := parseOptions([]string{"-url", "wss://127.0.0.1:1/x", "-insecure"}, nil)
	require.NoError(t, err)
	assert.True(t, o.tls.InsecureSkipVerify)
	assert.Equal(t, "127.0.0.1", o.tls.ServerName)
	o, err = parseOptions([]string{"-url", "ws://127.0.0.1:1/x"}, nil)
	require.NoError(t, err)
	assert.Nil(t, o.tls)
}
