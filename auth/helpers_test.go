package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// now is the clock of every test: Verify takes the time as an argument, so
// no test sleeps or depends on the machine's clock.
var now = time.Unix(1_750_000_000, 0)

// secret is long enough for HS512 (64 bytes), so every HMAC alg is allowed.
var secret = []byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")

type testKeys struct {
	ed  ed25519.PrivateKey
	rsa *rsa.PrivateKey
	ec  *ecdsa.PrivateKey
}

// keys are generated once per test binary: RSA generation is slow under
// the race detector.
var keys = sync.OnceValue(func() testKeys {
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	return testKeys{ed: ed, rsa: rk, ec: ek}
})

// signerFor returns the signing key for an alg.
func signerFor(alg string) any {
	k := keys()
	switch alg {
	case "EdDSA":
		return k.ed
	case "RS256", "RS384", "RS512", "PS256":
		return k.rsa
	case "ES256":
		return k.ec
	}
	return secret
}

func writeFile(t testing.TB, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, data, 0o600))
	return p
}

func pemPublic(t testing.TB, pub crypto.PublicKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	require.NoError(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func pemPrivate(t testing.TB, key any) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// publicFile writes the public half of the key for alg as a PEM file.
func publicFile(t testing.TB, alg string) string {
	t.Helper()
	return writeFile(t, "pub.pem", pemPublic(t, signerFor(alg).(crypto.Signer).Public()))
}

// verifierFor makes a Verifier with the key that verifies alg.
func verifierFor(t testing.TB, alg string, cfg Config) *Verifier {
	t.Helper()
	if _, ok := signerFor(alg).([]byte); ok {
		cfg.SecretFile = writeFile(t, "secret", secret)
	} else {
		cfg.PublicKeyFile = publicFile(t, alg)
	}
	v, err := New(cfg)
	require.NoError(t, err)
	return v
}

// claims returns a valid claims set as a map, for tests to spoil.
func claims() map[string]any {
	return map[string]any{
		"sub":   "alice",
		"exp":   now.Add(time.Hour).Unix(),
		"iat":   now.Unix(),
		"rooms": []string{"lobby", "ops"},
	}
}

// signRaw signs any header and payload bytes with the key for alg, so that
// tests can make validly signed tokens that are otherwise wrong.
func signRaw(t testing.TB, alg string, header, payload []byte) string {
	t.Helper()
	input := b64(header) + "." + b64(payload)
	sig, err := sign(signerFor(alg), alg, []byte(input))
	require.NoError(t, err)
	return input + "." + b64(sig)
}

// signClaims signs a claims map under {"alg":alg,"typ":"JWT"}.
func signClaims(t testing.TB, alg string, c map[string]any) string {
	t.Helper()
	p, err := json.Marshal(c)
	require.NoError(t, err)
	return signRaw(t, alg, []byte(`{"alg":"`+alg+`","typ":"JWT"}`), p)
}

// requireReason verifies token and requires the rejection reason.
func requireReason(t testing.TB, v *Verifier, token string, at time.Time, status int, reason string) {
	t.Helper()
	c, e := v.Verify(token, at)
	require.Nil(t, c, "token was accepted, wanted %q", reason)
	require.NotNil(t, e)
	require.Equal(t, reason, e.Reason, "cause: %v", e.Err)
	require.Equal(t, status, e.Status)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
