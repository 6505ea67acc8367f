package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMintDefaultAlg(t *testing.T) {
	for alg, key := range map[string]any{"HS256": secret, "EdDSA": keys().ed, "RS256": keys().rsa, "ES256": keys().ec} {
		tok, err := Mint(key, "", MintClaims{Subject: "alice", Expires: now.Add(time.Hour)})
		require.NoError(t, err)
		var h map[string]string
		require.NoError(t, json.Unmarshal(decodeSeg(t, tok, 0), &h))
		assert.Equal(t, map[string]string{"alg": alg, "typ": "JWT"}, h)
	}
}

// The payload Mint writes: integer NumericDates, aud a string when single,
// empty claims left out.
func TestMintPayload(t *testing.T) {
	tok, err := Mint(secret, "HS256", MintClaims{Subject: "alice", Expires: now.Add(90 * time.Minute).Add(700 * time.Millisecond), Audience: []string{"wsd"}})
	require.NoError(t, err)
	assert.JSONEq(t, `{"sub":"alice","exp":1750005400,"aud":"wsd"}`, string(decodeSeg(t, tok, 1)))

	tok, err = Mint(secret, "HS256", MintClaims{Subject: "alice", Expires: now, IssuedAt: now, NotBefore: now,
		Issuer: "i", Audience: []string{"a", "b"}, ID: "j", Rooms: []string{"lobby"}})
	require.NoError(t, err)
	assert.JSONEq(t, `{"sub":"alice","exp":1750000000,"iat":1750000000,"nbf":1750000000,"iss":"i","aud":["a","b"],"jti":"j","rooms":["lobby"]}`,
		string(decodeSeg(t, tok, 1)))
}

func decodeSeg(t *testing.T, tok string, i int) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[i])
	require.NoError(t, err)
	return b
}

func TestMintErrors(t *testing.T) {
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	require.NoError(t, err)
	ok := MintClaims{Subject: "alice", Expires: now.Add(time.Hour)}
	for name, tc := range map[string]struct {
		key    any
		alg    string
		claims MintClaims
		want   string
	}{
		"no subject":         {secret, "HS256", MintClaims{Expires: now}, "subject is empty"},
		"no expiry":          {secret, "HS256", MintClaims{Subject: "a"}, "no expiry"},
		"short secret":       {[]byte("short"), "HS256", ok, "5 bytes"},
		"HS512 short secret": {secret[:32], "HS512", ok, `alg "HS512" does not fit`},
		"alg none":           {secret, "none", ok, `alg "none" does not fit`},
		"secret with RS256":  {secret, "RS256", ok, `alg "RS256" does not fit`},
		"RSA with ES256":     {keys().rsa, "ES256", ok, `alg "ES256" does not fit`},
		"Ed25519 with HS256": {keys().ed, "HS256", ok, `alg "HS256" does not fit`},
		"P-384 key":          {p384, "", ok, "P-384"},
		"string key":         {"secret", "HS256", ok, "neither a []byte secret nor a crypto.Signer"},
		"public key":         {keys().ed.Public(), "EdDSA", ok, "neither"},
	} {
		_, err := Mint(tc.key, tc.alg, tc.claims)
		require.Error(t, err, name)
		assert.Contains(t, err.Error(), tc.want, name)
	}
}

func TestRawECDSA(t *testing.T) {
	// Small r and s are left-padded to 32 bytes each: a DER integer drops
	// leading zeros, JWS keeps a fixed width (RFC 7518 §3.4).
	der, err := asn1.Marshal(struct{ R, S *big.Int }{big.NewInt(1), big.NewInt(0x0203)})
	require.NoError(t, err)
	raw, err := rawECDSA(der, 32)
	require.NoError(t, err)
	want := make([]byte, 64)
	want[31], want[62], want[63] = 1, 2, 3
	assert.Equal(t, want, raw)

	tooBig, err := asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1)})
	require.NoError(t, err)
	_, err = rawECDSA(tooBig, 32)
	assert.Error(t, err)
	_, err = rawECDSA(append(der, 0), 32)
	assert.Error(t, err, "trailing bytes")
	_, err = rawECDSA([]byte{0x30, 0x00}, 32)
	assert.Error(t, err)
	_, err = rawECDSA([]byte("not der"), 32)
	assert.Error(t, err)
}
