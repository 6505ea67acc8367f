package auth

import (
	"encoding/asn1"
	"encoding/hex"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// An independent implementation on both sides: openssl makes the keys and
// signs header.payload built here by hand; the Verifier, reading openssl's
// PEM files, must accept. And the reverse: openssl verifies what Mint signs.

func openssl(t *testing.T, stdin []byte, args ...string) []byte {
	t.Helper()
	cmd := exec.Command("openssl", args...)
	if stdin != nil {
		cmd.Stdin = strings.NewReader(string(stdin))
	}
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); ok {
		t.Fatalf("openssl %v: %v\n%s", args, err, ee.Stderr)
	}
	require.NoError(t, err)
	return out
}

func needOpenSSL(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed")
	}
}

// opensslKeys generates a private key with openssl and exports its public
// half; it returns both paths.
func opensslKeys(t *testing.T, genpkey ...string) (priv, pub string) {
	dir := t.TempDir()
	priv, pub = filepath.Join(dir, "priv.pem"), filepath.Join(dir, "pub.pem")
	openssl(t, nil, append(append([]string{"genpkey"}, genpkey...), "-out", priv)...)
	openssl(t, nil, "pkey", "-in", priv, "-pubout", "-out", pub)
	return priv, pub
}

// signingInput builds header.payload by hand (RFC 7515 §5.1 steps 1-6).
func signingInput(alg string) string {
	header := `{"alg":"` + alg + `","typ":"JWT"}`
	payload := `{"sub":"carol","exp":` + itoa(now.Add(time.Hour).Unix()) + `,"rooms":["lobby"]}`
	return b64([]byte(header)) + "." + b64([]byte(payload))
}

func TestOpenSSLSignsWeVerify(t *testing.T) {
	needOpenSSL(t)
	for _, tc := range []struct {
		alg     string
		genpkey []string
		sign    func(t *testing.T, priv, input string) []byte
	}{
		{"RS256", []string{"-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"}, func(t *testing.T, priv, input string) []byte {
			return openssl(t, []byte(input), "dgst", "-sha256", "-sign", priv)
		}},
		{"PS256", []string{"-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"}, func(t *testing.T, priv, input string) []byte {
			return openssl(t, []byte(input), "dgst", "-sha256", "-sign", priv, "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:digest")
		}},
		{"ES256", []string{"-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"}, func(t *testing.T, priv, input string) []byte {
			der := openssl(t, []byte(input), "dgst", "-sha256", "-sign", priv)
			raw, err := rawECDSA(der, 32) // JWS wants r||s, openssl writes DER (RFC 7518 §3.4)
			require.NoError(t, err)
			return raw
		}},
		{"EdDSA", []string{"-algorithm", "ED25519"}, func(t *testing.T, priv, input string) []byte {
			in := filepath.Join(t.TempDir(), "in")
			require.NoError(t, os.WriteFile(in, []byte(input), 0o600))
			return openssl(t, nil, "pkeyutl", "-sign", "-rawin", "-inkey", priv, "-in", in)
		}},
	} {
		t.Run(tc.alg, func(t *testing.T) {
			priv, pub := opensslKeys(t, tc.genpkey...)
			v, err := New(Config{PublicKeyFile: pub})
			require.NoError(t, err)
			input := signingInput(tc.alg)
			tok := input + "." + b64(tc.sign(t, priv, input))
			c, e := v.Verify(tok, now)
			require.Nil(t, e, "token %s", tok)
			require.Equal(t, "carol", c.Subject)
			require.True(t, c.MayUseRoom("lobby"))
		})
	}
	t.Run("HS256", func(t *testing.T) {
		input := signingInput("HS256")
		mac := openssl(t, []byte(input), "dgst", "-sha256", "-mac", "HMAC", "-macopt", "hexkey:"+hex.EncodeToString(secret), "-binary")
		v := verifierFor(t, "HS256", Config{})
		_, e := v.Verify(input+"."+b64(mac), now)
		require.Nil(t, e)
	})
}

func TestMintOpenSSLVerifies(t *testing.T) {
	needOpenSSL(t)
	for _, tc := range []struct {
		alg     string
		genpkey []string
		sigopt  []string
	}{
		{"RS256", []string{"-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"}, nil},
		// RFC 7518 §3.5: the salt is as long as the hash; openssl checks it.
		{"PS256", []string{"-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"}, []string{"-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:digest"}},
		{"ES256", []string{"-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"}, nil},
	} {
		t.Run(tc.alg, func(t *testing.T) {
			priv, pub := opensslKeys(t, tc.genpkey...)
			key, err := ReadPrivateKeyFile(priv)
			require.NoError(t, err)
			tok, err := Mint(key, tc.alg, MintClaims{Subject: "dave", Expires: now.Add(time.Hour)})
			require.NoError(t, err)
			i := strings.LastIndexByte(tok, '.')
			sig := decodeSeg(t, tok, 2)
			if tc.alg == "ES256" {
				sig, err = asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])})
				require.NoError(t, err)
			}
			sigFile := filepath.Join(t.TempDir(), "sig")
			require.NoError(t, os.WriteFile(sigFile, sig, 0o600))
			args := append([]string{"dgst", "-sha256", "-verify", pub, "-signature", sigFile}, tc.sigopt...)
			out := openssl(t, []byte(tok[:i]), args...)
			require.Contains(t, string(out), "Verified OK")
		})
	}
}
