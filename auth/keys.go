package auth

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
)

// Minimum key sizes from RFC 7518: an HMAC key at least as long as the hash
// output (§3.2: 32 bytes for HS256, 48 for HS384, 64 for HS512), an RSA key
// of at least 2048 bits (§3.3, §3.5).
const (
	minRSABits = 2048
)

// hmacAlgs lists the HMAC algorithms with the secret length each needs.
var hmacAlgs = []struct {
	alg string
	min int
}{{"HS256", 32}, {"HS384", 48}, {"HS512", 64}}

// ReadSecretFile reads an HMAC secret: the file's bytes, less one trailing
// newline ("\n" or "\r\n", as an editor or `echo` leaves it). The secret
// must be at least 32 bytes (RFC 7518 §3.2 for HS256).
func ReadSecretFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("jwt secret file %s: %w", path, err)
	}
	if bytes.HasSuffix(b, []byte("\r\n")) {
		b = b[:len(b)-2]
	} else if bytes.HasSuffix(b, []byte("\n")) {
		b = b[:len(b)-1]
	}
	if len(b) == 0 {
		return nil, fmt.Errorf("jwt secret file %s: the secret is empty", path)
	}
	if len(b) < hmacAlgs[0].min {
		return nil, fmt.Errorf("jwt secret file %s: the secret is %d bytes; RFC 7518 §3.2 requires at least %d for HS256 (try: head -c 32 /dev/urandom | base64 > %s)",
			path, len(b), hmacAlgs[0].min, path)
	}
	return b, nil
}

// hmacAlgsFor lists the HMAC algorithms a secret is long enough for.
func hmacAlgsFor(secret []byte) []string {
	var algs []string
	for _, h := range hmacAlgs {
		if len(secret) >= h.min {
			algs = append(algs, h.alg)
		}
	}
	return algs
}

// ReadPublicKeyFile reads a PEM public key ("PUBLIC KEY", i.e. PKIX; also
// PKCS#1 "RSA PUBLIC KEY" and a "CERTIFICATE", whose key is taken) and
// checks it is a kind wsd verifies: Ed25519, RSA of 2048 bits or more, or
// ECDSA on P-256.
func ReadPublicKeyFile(path string) (crypto.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("jwt public key file %s: %w", path, err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("jwt public key file %s: not PEM (expected a -----BEGIN PUBLIC KEY----- block)", path)
	}
	var key any
	switch block.Type {
	case "PUBLIC KEY":
		key, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		key, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		var cert *x509.Certificate
		if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
			key = cert.PublicKey
		}
	case "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "OPENSSH PRIVATE KEY":
		return nil, fmt.Errorf("jwt public key file %s: holds a %s, not a public key; give the server only the public half (openssl pkey -in %s -pubout)", path, block.Type, path)
	default:
		return nil, fmt.Errorf("jwt public key file %s: PEM block %q is not a public key", path, block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("jwt public key file %s: %s: %w", path, block.Type, err)
	}
	if _, err := publicAlgs(key); err != nil {
		return nil, fmt.Errorf("jwt public key file %s: %w", path, err)
	}
	return key, nil
}

// publicAlgs lists the algorithms a public key verifies (RFC 7518 §3.1,
// RFC 8037 §3.1 for EdDSA). Each key is bound to its own algorithms, which
// is what stops the RS256→HS256 confusion of RFC 8725 §2.1: a public key is
// never used as an HMAC secret.
func publicAlgs(key any) ([]string, error) {
	switch k := key.(type) {
	case ed25519.PublicKey:
		return []string{"EdDSA"}, nil
	case *rsa.PublicKey:
		if k.N.BitLen() < minRSABits {
			return nil, fmt.Errorf("RSA key of %d bits; RFC 7518 §3.3 requires at least %d", k.N.BitLen(), minRSABits)
		}
		return []string{"RS256", "RS384", "RS512", "PS256"}, nil
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return nil, fmt.Errorf("unsupported key type: ECDSA %s (only P-256, for ES256)", k.Curve.Params().Name)
		}
		return []string{"ES256"}, nil
	}
	return nil, fmt.Errorf("unsupported key type %T (want Ed25519, RSA or ECDSA P-256)", key)
}

// ReadPrivateKeyFile reads a PEM private key for minting: PKCS#8 "PRIVATE
// KEY", PKCS#1 "RSA PRIVATE KEY" or SEC 1 "EC PRIVATE KEY", of a kind that
// ReadPublicKeyFile accepts for its public half.
func ReadPrivateKeyFile(path string) (crypto.Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("private key file %s: %w", path, err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("private key file %s: not PEM (expected a -----BEGIN PRIVATE KEY----- block)", path)
	}
	var key any
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("private key file %s: PEM block %q is not a private key", path, block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("private key file %s: %s: %w", path, block.Type, err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("private key file %s: unsupported key type %T", path, key)
	}
	if _, err := publicAlgs(signer.Public()); err != nil {
		return nil, fmt.Errorf("private key file %s: %w", path, err)
	}
	return signer, nil
}
