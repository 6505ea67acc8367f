package auth

import (
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// New's errors name the file and say what is wrong with it.
func TestNewErrors(t *testing.T) {
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	require.NoError(t, err)
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	require.NoError(t, err)
	x25519, err := ecdh.X25519().GenerateKey(rand.Reader)
	require.NoError(t, err)
	missing := filepath.Join(t.TempDir(), "nope.pem")

	for name, tc := range map[string]struct {
		cfg  func(t *testing.T) Config
		want []string // all in the error text
	}{
		"nothing configured": {func(*testing.T) Config { return Config{} }, []string{"no key configured"}},
		"negative leeway": {func(t *testing.T) Config {
			return Config{SecretFile: writeFile(t, "s", secret), Leeway: -time.Second}
		}, []string{"leeway", "negative"}},
		"secret unreadable":   {func(*testing.T) Config { return Config{SecretFile: missing} }, []string{missing, "no such file"}},
		"secret empty":        {func(t *testing.T) Config { return Config{SecretFile: writeFile(t, "s", nil)} }, []string{"secret is empty"}},
		"secret only newline": {func(t *testing.T) Config { return Config{SecretFile: writeFile(t, "s", []byte("\n"))} }, []string{"secret is empty"}},
		"secret short": {func(t *testing.T) Config {
			return Config{SecretFile: writeFile(t, "s", []byte("hunter2\n"))}
		}, []string{"7 bytes", "RFC 7518 §3.2", "at least 32"}},
		"public key unreadable": {func(*testing.T) Config { return Config{PublicKeyFile: missing} }, []string{missing, "no such file"}},
		"public key not PEM": {func(t *testing.T) Config {
			return Config{PublicKeyFile: writeFile(t, "k", []byte("ssh-ed25519 AAAA... me@host"))}
		}, []string{"k: not PEM"}},
		"public key P-384": {func(t *testing.T) Config {
			return Config{PublicKeyFile: writeFile(t, "k", pemPublic(t, p384.Public()))}
		}, []string{"unsupported key type", "P-384", "only P-256"}},
		"public key RSA 1024": {func(t *testing.T) Config {
			return Config{PublicKeyFile: writeFile(t, "k", pemPublic(t, rsa1024.Public()))}
		}, []string{"1024 bits", "at least 2048"}},
		"public key X25519": {func(t *testing.T) Config {
			return Config{PublicKeyFile: writeFile(t, "k", pemPublic(t, x25519.PublicKey()))}
		}, []string{"unsupported key type", "ecdh"}},
		"private key given": {func(t *testing.T) Config {
			return Config{PublicKeyFile: writeFile(t, "k", pemPrivate(t, keys().ed))}
		}, []string{"holds a PRIVATE KEY", "-pubout"}},
		"other PEM block": {func(t *testing.T) Config {
			return Config{PublicKeyFile: writeFile(t, "k", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: []byte{1}}))}
		}, []string{`"CERTIFICATE REQUEST" is not a public key`}},
		"PEM garbage": {func(t *testing.T) Config {
			return Config{PublicKeyFile: writeFile(t, "k", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte("junk")}))}
		}, []string{"PUBLIC KEY:"}},
		"good secret, bad key": {func(t *testing.T) Config {
			return Config{SecretFile: writeFile(t, "s", secret), PublicKeyFile: missing}
		}, []string{missing}},
	} {
		t.Run(name, func(t *testing.T) {
			v, err := New(tc.cfg(t))
			require.Error(t, err)
			require.Nil(t, v)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

// One trailing newline is the file's, not the secret's.
func TestSecretTrim(t *testing.T) {
	s := string(secret)
	for content, want := range map[string]string{
		s:          s,
		s + "\n":   s,
		s + "\r\n": s,
		s + "\n\n": s + "\n",
		s + " ":    s + " ",
	} {
		got, err := ReadSecretFile(writeFile(t, "s", []byte(content)))
		require.NoError(t, err)
		assert.Equal(t, want, string(got), "%q", content)
	}
	// And the Verifier uses the trimmed secret.
	v, err := New(Config{SecretFile: writeFile(t, "s", []byte(s+"\n"))})
	require.NoError(t, err)
	_, e := v.Verify(signClaims(t, "HS256", claims()), now)
	require.Nil(t, e)
}

// HS384 and HS512 need secrets as long as their hash (RFC 7518 §3.2).
func TestSecretLengthAlgs(t *testing.T) {
	for n, want := range map[int][]string{
		32: {"HS256"},
		48: {"HS256", "HS384"},
		64: {"HS256", "HS384", "HS512"},
	} {
		key := []byte(strings.Repeat("k", n))
		v, err := New(Config{SecretFile: writeFile(t, "s", key)})
		require.NoError(t, err)
		assert.Equal(t, want, v.Algorithms(), n)
	}
	v, err := New(Config{SecretFile: writeFile(t, "s", []byte(strings.Repeat("k", 32)))})
	require.NoError(t, err)
	tok := signRaw(t, "HS512", []byte(`{"alg":"HS512"}`), mustJSON(t, claims()))
	requireReason(t, v, tok, now, 401, ReasonAlgNotAllowed)
}

func TestPublicKeyAlgs(t *testing.T) {
	for alg, want := range map[string][]string{
		"EdDSA": {"EdDSA"},
		"RS256": {"PS256", "RS256", "RS384", "RS512"},
		"ES256": {"ES256"},
	} {
		assert.Equal(t, want, verifierFor(t, alg, Config{}).Algorithms(), alg)
	}
}

// PKCS #1 "RSA PUBLIC KEY" and a certificate are read too.
func TestPublicKeyFormats(t *testing.T) {
	k := keys().rsa
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&k.PublicKey)})
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "issuer"},
		NotBefore: now, NotAfter: now.Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	require.NoError(t, err)
	cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	for name, data := range map[string][]byte{"pkcs1": pkcs1, "certificate": cert} {
		v, err := New(Config{PublicKeyFile: writeFile(t, "k", data)})
		require.NoError(t, err, name)
		_, e := v.Verify(signClaims(t, "RS256", claims()), now)
		require.Nil(t, e, name)
	}
}

func TestReadPrivateKeyFile(t *testing.T) {
	k := keys()
	ecDER, err := x509.MarshalECPrivateKey(k.ec)
	require.NoError(t, err)
	for name, data := range map[string][]byte{
		"pkcs8 ed25519": pemPrivate(t, k.ed),
		"pkcs8 rsa":     pemPrivate(t, k.rsa),
		"pkcs8 ec":      pemPrivate(t, k.ec),
		"pkcs1 rsa":     pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k.rsa)}),
		"sec1 ec":       pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER}),
	} {
		s, err := ReadPrivateKeyFile(writeFile(t, "k", data))
		require.NoError(t, err, name)
		assert.NotNil(t, s.Public(), name)
	}

	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	require.NoError(t, err)
	for name, tc := range map[string]struct {
		data []byte
		want string
	}{
		"P-384":      {pemPrivate(t, p384), "P-384"},
		"public key": {pemPublic(t, k.ed.Public()), `"PUBLIC KEY" is not a private key`},
		"not PEM":    {[]byte("hello"), "not PEM"},
	} {
		_, err := ReadPrivateKeyFile(writeFile(t, "k", tc.data))
		require.Error(t, err, name)
		assert.Contains(t, err.Error(), tc.want, name)
	}
}
