package main

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"log/slog"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
)

// certs serves the certificate of -tls-cert and -tls-key and loads the
// pair again on SIGHUP. The server's GetCertificate reads the current pair
// through an atomic pointer: handshakes after a reload get the new one,
// connections already open keep theirs (their keys do not depend on the
// certificate any more), and a pair that does not load — a missing file,
// a key that does not match — is logged and the old one kept.
type certs struct {
	certFile, keyFile string
	cur               atomic.Pointer[tls.Certificate]
	log               *slog.Logger
}

// loadCerts loads the pair, or fails when either flag is missing or the
// pair does not load.
func loadCerts(certFile, keyFile string, log *slog.Logger) (*certs, error) {
	if certFile == "" || keyFile == "" {
		return nil, errors.New("-tls-cert and -tls-key go together")
	}
	c := &certs{certFile: certFile, keyFile: keyFile, log: log}
	if err := c.reload(); err != nil {
		return nil, err
	}
	return c, nil
}

// reload loads the pair from the files; on failure the current one stays.
func (c *certs) reload() error {
	pair, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return err
	}
	c.cur.Store(&pair)
	return nil
}

// config is the server's TLS configuration.
func (c *certs) config() *tls.Config {
	return &tls.Config{
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return c.cur.Load(), nil },
	}
}

// describe names the current certificate for the logs: its subject, its
// expiry and the start of its SHA-256 fingerprint.
func (c *certs) describe() string {
	p := c.cur.Load()
	if p == nil || p.Leaf == nil {
		return "?"
	}
	sum := sha256.Sum256(p.Leaf.Raw)
	return p.Leaf.Subject.String() + " until " + p.Leaf.NotAfter.UTC().Format("2006-01-02") + " sha256:" + hex.EncodeToString(sum[:8])
}

// watch reloads on every SIGHUP until the process ends.
func (c *certs) watch() {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		for range hup {
			if err := c.reload(); err != nil {
				c.log.Error("TLS certificate reload failed; keeping the current one", "err", err, "cert", c.describe())
				continue
			}
			c.log.Info("TLS certificate reloaded", "cert", c.describe())
		}
	}()
}
