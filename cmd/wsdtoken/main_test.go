package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsd-dev/wsd/auth"
)

var now = time.Unix(1_750_000_000, 0)

const secret = "0123456789abcdef0123456789abcdef"

func write(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, data, 0o600))
	return p
}

// ed25519Files writes a fresh key pair as PEM: the private half for
// wsdtoken -key, the public half for the Verifier.
func ed25519Files(t *testing.T) (priv, pub string) {
	t.Helper()
	pk, sk, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	skDER, err := x509.MarshalPKCS8PrivateKey(sk)
	require.NoError(t, err)
	pkDER, err := x509.MarshalPKIXPublicKey(pk)
	require.NoError(t, err)
	return write(t, "priv.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: skDER})),
		write(t, "pub.pem", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pkDER}))
}

func runIn(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(args, &out, &errb, func() time.Time { return now })
	return code, out.String(), errb.String()
}

// The built command's token verifies with wsd's Verifier, and says what the
// flags said.
func TestBuiltCommand(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "wsdtoken")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "%s", out)

	secretFile := write(t, "secret", []byte(secret+"\n"))
	start := time.Now().Truncate(time.Second)
	out, err = exec.Command(bin, "-jwt-secret-file", secretFile, "-sub", "alice", "-ttl", "1h", "-rooms", "lobby,ops",
		"-iss", "https://login.example", "-aud", "wsd").Output()
	require.NoError(t, err)
	require.True(t, strings.HasSuffix(string(out), "\n"))
	tok := strings.TrimSuffix(string(out), "\n")
	require.NotContains(t, tok, "\n")

	v, err := auth.New(auth.Config{SecretFile: secretFile, Issuer: "https://login.example", Audience: "wsd", Leeway: auth.DefaultLeeway})
	require.NoError(t, err)
	c, e := v.Verify(tok, time.Now())
	require.Nil(t, e)
	assert.Equal(t, "alice", c.Subject)
	assert.Equal(t, []string{"lobby", "ops"}, c.Rooms)
	assert.Equal(t, time.Hour, c.Expires.Sub(c.IssuedAt))
	assert.False(t, c.IssuedAt.Before(start))
	_, e = v.Verify(tok, c.Expires.Add(auth.DefaultLeeway))
	require.NotNil(t, e)
	assert.Equal(t, auth.ReasonExpired, e.Reason)

	priv, pub := ed25519Files(t)
	out, err = exec.Command(bin, "-key", priv, "-sub", "bob").Output()
	require.NoError(t, err)
	v, err = auth.New(auth.Config{PublicKeyFile: pub})
	require.NoError(t, err)
	c, e = v.Verify(strings.TrimSpace(string(out)), time.Now())
	require.Nil(t, e)
	assert.Equal(t, "bob", c.Subject)

	cmd := exec.Command(bin, "-key", priv)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Run()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, 2, ee.ExitCode())
	assert.Contains(t, stderr.String(), "-sub is required")
}

func TestAlgFlag(t *testing.T) {
	secretFile := write(t, "secret", []byte(secret+secret)) // 64 bytes: HS512 too
	v, err := auth.New(auth.Config{SecretFile: secretFile})
	require.NoError(t, err)
	for _, alg := range []string{"HS256", "HS384", "HS512"} {
		code, out, errs := runIn("-jwt-secret-file", secretFile, "-sub", "alice", "-alg", alg)
		require.Equal(t, 0, code, errs)
		assert.Contains(t, decodeHeader(t, out), `"alg":"`+alg+`"`)
		_, e := v.Verify(strings.TrimSpace(out), now)
		require.Nil(t, e, alg)
	}
}

func decodeHeader(t *testing.T, tok string) string {
	t.Helper()
	h, _, _ := strings.Cut(tok, ".")
	b, err := base64.RawURLEncoding.DecodeString(h)
	require.NoError(t, err)
	return string(b)
}

func TestErrors(t *testing.T) {
	secretFile := write(t, "secret", []byte(secret))
	priv, _ := ed25519Files(t)
	for name, tc := range map[string]struct {
		args []string
		code int
		want string
	}{
		"no sub":          {[]string{"-jwt-secret-file", secretFile}, 2, "-sub is required"},
		"no key":          {[]string{"-sub", "a"}, 2, "give one of -jwt-secret-file and -key"},
		"two keys":        {[]string{"-sub", "a", "-jwt-secret-file", secretFile, "-key", priv}, 2, "give one of"},
		"ttl zero":        {[]string{"-sub", "a", "-jwt-secret-file", secretFile, "-ttl", "0s"}, 2, "-ttl 0s is less than a second"},
		"bad flag":        {[]string{"-sub", "a", "-nope"}, 2, "flag provided but not defined: -nope"},
		"extra argument":  {[]string{"-sub", "a", "-jwt-secret-file", secretFile, "extra"}, 2, `unexpected argument "extra"`},
		"missing secret":  {[]string{"-sub", "a", "-jwt-secret-file", "/nonexistent/s"}, 1, "/nonexistent/s"},
		"short secret":    {[]string{"-sub", "a", "-jwt-secret-file", write(t, "s", []byte("pw"))}, 1, "at least 32"},
		"wrong alg":       {[]string{"-sub", "a", "-key", priv, "-alg", "RS256"}, 1, `alg "RS256" does not fit`},
		"alg none":        {[]string{"-sub", "a", "-jwt-secret-file", secretFile, "-alg", "none"}, 1, `alg "none" does not fit`},
		"HS512 short key": {[]string{"-sub", "a", "-jwt-secret-file", secretFile, "-alg", "HS512"}, 1, `alg "HS512" does not fit`},
		"public as key":   {[]string{"-sub", "a", "-key", write(t, "k", []byte("-----BEGIN PUBLIC KEY-----\nAA==\n-----END PUBLIC KEY-----\n"))}, 1, "is not a private key"},
	} {
		code, out, errs := runIn(tc.args...)
		assert.Equal(t, tc.code, code, name)
		assert.Empty(t, out, name)
		assert.Contains(t, errs, tc.want, name)
		assert.True(t, strings.HasPrefix(errs, "wsdtoken: ") || tc.code == 2, name)
	}
	code, _, errs := runIn("-h")
	assert.Equal(t, 0, code)
	assert.Contains(t, errs, "-jwt-secret-file")
}
