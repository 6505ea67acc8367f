package auth

import (
	"crypto"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var allAlgs = []string{"HS256", "HS384", "HS512", "EdDSA", "RS256", "RS384", "RS512", "PS256", "ES256"}

// Every algorithm of every key type: Mint's token verifies and every claim
// comes back.
func TestVerifyEveryAlg(t *testing.T) {
	for _, alg := range allAlgs {
		t.Run(alg, func(t *testing.T) {
			v := verifierFor(t, alg, Config{Issuer: "https://login.example", Audience: "wsd"})
			tok, err := Mint(signerFor(alg), alg, MintClaims{
				Subject: "alice", Expires: now.Add(time.Hour), NotBefore: now.Add(-time.Minute), IssuedAt: now,
				Issuer: "https://login.example", Audience: []string{"wsd"}, ID: "j1", Rooms: []string{"lobby", "ops"},
			})
			require.NoError(t, err)
			c, e := v.Verify(tok, now)
			require.Nil(t, e)
			assert.Equal(t, &Claims{
				Subject: "alice", Expires: now.Add(time.Hour), NotBefore: now.Add(-time.Minute), IssuedAt: now,
				Issuer: "https://login.example", Audience: []string{"wsd"}, ID: "j1", Rooms: []string{"lobby", "ops"},
			}, c)
		})
	}
}

func TestRejectMalformed(t *testing.T) {
	v := verifierFor(t, "HS256", Config{})
	good := signClaims(t, "HS256", claims())
	h, p, s := split3(good)
	for name, tok := range map[string]string{
		"one part":              "abc",
		"two parts":             h + "." + p,
		"four parts":            good + "." + s,
		"header not base64url":  "!!!." + p + "." + s,
		"payload not base64url": h + ".a+b/." + s,
		"padded base64":         h + "." + p + "=." + s,
		"non-canonical base64":  h + "." + p + "." + s[:len(s)-1] + nonCanonical(s[len(s)-1]),
		"signature not base64":  h + "." + p + ".***",
		"header not JSON":       b64([]byte("{alg")) + "." + p + "." + s,
		"header an array":       b64([]byte(`["HS256"]`)) + "." + p + "." + s,
		"payload not JSON":      signRaw(t, "HS256", []byte(`{"alg":"HS256"}`), []byte("sub=alice")),
		"payload an array":      signRaw(t, "HS256", []byte(`{"alg":"HS256"}`), []byte(`[1]`)),
		"payload null":          signRaw(t, "HS256", []byte(`{"alg":"HS256"}`), []byte(`null`)),
		"payload a string":      signRaw(t, "HS256", []byte(`{"alg":"HS256"}`), []byte(`"x"`)),
		"alg missing":           signRaw(t, "HS256", []byte(`{"typ":"JWT"}`), []byte(`{"sub":"a","exp":9999999999}`)),
		"alg not a string":      signRaw(t, "HS256", []byte(`{"alg":256}`), []byte(`{"sub":"a","exp":9999999999}`)),
	} {
		t.Run(name, func(t *testing.T) { requireReason(t, v, tok, now, 401, ReasonMalformed) })
	}
}

func split3(tok string) (string, string, string) {
	p := strings.SplitN(tok, ".", 3)
	return p[0], p[1], p[2]
}

// nonCanonical returns another base64url character that decodes to the
// same bytes as c when c is the last character of an unpadded segment
// whose length is 2 or 3 mod 4: only its low bits differ, and they are
// discarded unless decoding is strict (RFC 4648 §3.5).
func nonCanonical(c byte) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	return string(alphabet[strings.IndexByte(alphabet, c)^1])
}

// A claim of the wrong JSON type makes the token malformed even though its
// signature is good: nothing is half-read.
func TestRejectMalformedClaims(t *testing.T) {
	v := verifierFor(t, "HS256", Config{Audience: "wsd"})
	for name, spoil := range map[string]func(map[string]any){
		"rooms a string":        func(c map[string]any) { c["rooms"] = "lobby" },
		"rooms of numbers":      func(c map[string]any) { c["rooms"] = []any{1, 2} },
		"rooms with null":       func(c map[string]any) { c["rooms"] = []any{"lobby", nil} },
		"rooms null":            func(c map[string]any) { c["rooms"] = nil },
		"rooms an object":       func(c map[string]any) { c["rooms"] = map[string]any{"lobby": true} },
		"exp a string":          func(c map[string]any) { c["exp"] = "9999999999" },
		"exp a bool":            func(c map[string]any) { c["exp"] = true },
		"exp null":              func(c map[string]any) { c["exp"] = nil },
		"exp out of range":      func(c map[string]any) { c["exp"] = 1e300 },
		"nbf an object":         func(c map[string]any) { c["nbf"] = map[string]any{} },
		"iat a string":          func(c map[string]any) { c["iat"] = "now" },
		"sub a number":          func(c map[string]any) { c["sub"] = 42 },
		"sub null":              func(c map[string]any) { c["sub"] = nil },
		"iss a number":          func(c map[string]any) { c["iss"] = 1 },
		"aud a number":          func(c map[string]any) { c["aud"] = 1 },
		"aud an array of bools": func(c map[string]any) { c["aud"] = []any{"wsd", true} },
		"jti a number":          func(c map[string]any) { c["jti"] = 7 },
	} {
		t.Run(name, func(t *testing.T) {
			c := claims()
			c["aud"] = "wsd"
			spoil(c)
			requireReason(t, v, signClaims(t, "HS256", c), now, 401, ReasonMalformed)
		})
	}
}

// Claim names are case-sensitive (RFC 7515 §5.3): "SUB" is not "sub", which
// encoding/json's struct decoding would have taken it for.
func TestClaimNamesCaseSensitive(t *testing.T) {
	v := verifierFor(t, "HS256", Config{})
	c := claims()
	c["SUB"] = "root"
	got, e := v.Verify(signClaims(t, "HS256", c), now)
	require.Nil(t, e)
	assert.Equal(t, "alice", got.Subject)

	c = claims()
	delete(c, "sub")
	c["Sub"] = "root"
	requireReason(t, v, signClaims(t, "HS256", c), now, 401, ReasonMissingSub)

	c = claims()
	delete(c, "exp")
	c["EXP"] = now.Add(time.Hour).Unix()
	requireReason(t, v, signClaims(t, "HS256", c), now, 401, ReasonMissingExp)
}

func TestRejectBadSignature(t *testing.T) {
	for _, alg := range allAlgs {
		t.Run(alg, func(t *testing.T) {
			v := verifierFor(t, alg, Config{})
			tok := signClaims(t, alg, claims())
			h, p, s := split3(tok)

			sig := []byte(s)
			sig[3] = 'A' // a different character, not the last, so other bytes
			if s[3] == 'A' {
				sig[3] = 'B'
			}
			requireReason(t, v, h+"."+p+"."+string(sig), now, 401, ReasonBadSignature)

			other := claims()
			other["sub"] = "mallory"
			_, p2, _ := split3(signClaims(t, alg, other))
			requireReason(t, v, h+"."+p2+"."+s, now, 401, ReasonBadSignature)

			requireReason(t, v, h+"."+p+".", now, 401, ReasonBadSignature)
		})
	}
}

// A token signed by another key of the right type is refused.
func TestRejectOtherKey(t *testing.T) {
	v := verifierFor(t, "HS256", Config{})
	other := []byte(strings.Repeat("k", 32))
	tok, err := Mint(other, "HS256", MintClaims{Subject: "alice", Expires: now.Add(time.Hour)})
	require.NoError(t, err)
	requireReason(t, v, tok, now, 401, ReasonBadSignature)
}

// RFC 8725 §3.1: "none" is never accepted, with or without a signature.
func TestRejectAlgNone(t *testing.T) {
	for _, alg := range []string{"HS256", "EdDSA"} {
		v := verifierFor(t, alg, Config{})
		p := b64(mustJSON(t, claims()))
		h := b64([]byte(`{"alg":"none","typ":"JWT"}`))
		requireReason(t, v, h+"."+p+".", now, 401, ReasonAlgNone)
		requireReason(t, v, h+"."+p+"."+b64([]byte("sig")), now, 401, ReasonAlgNone)
	}
}

// Algorithms that exist but that the configured key does not verify.
func TestRejectAlgNotAllowed(t *testing.T) {
	cases := []struct{ key, token string }{
		{"HS256", "RS256"}, {"HS256", "EdDSA"}, {"HS256", "ES256"},
		{"EdDSA", "HS256"}, {"EdDSA", "RS256"},
		{"RS256", "ES256"}, {"RS256", "HS512"},
		{"ES256", "RS256"}, {"ES256", "EdDSA"},
	}
	for _, tc := range cases {
		t.Run(tc.key+" key, "+tc.token+" token", func(t *testing.T) {
			v := verifierFor(t, tc.key, Config{})
			requireReason(t, v, signClaims(t, tc.token, claims()), now, 401, ReasonAlgNotAllowed)
		})
	}
	// Known to the library, but no key of ours is for them.
	v := verifierFor(t, "ES256", Config{})
	for _, alg := range []string{"ES384", "ES512", "PS384", "PS512"} {
		tok := b64([]byte(`{"alg":"`+alg+`"}`)) + "." + b64(mustJSON(t, claims())) + "." + b64([]byte("sig"))
		requireReason(t, v, tok, now, 401, ReasonAlgNotAllowed)
	}
}

// RFC 8725 §2.1: with only a public key configured, an attacker who signs
// HS256 using the public key's PEM bytes as the HMAC secret gets nothing.
func TestAlgConfusion(t *testing.T) {
	for _, alg := range []string{"RS256", "EdDSA", "ES256"} {
		t.Run(alg, func(t *testing.T) {
			pemBytes := pemPublic(t, signerFor(alg).(crypto.Signer).Public())
			v, err := New(Config{PublicKeyFile: writeFile(t, "pub.pem", pemBytes)})
			require.NoError(t, err)
			for _, hs := range []string{"HS256", "HS384", "HS512"} {
				forged, err := Mint(pemBytes, hs, MintClaims{Subject: "admin", Expires: now.Add(time.Hour)})
				require.NoError(t, err)
				requireReason(t, v, forged, now, 401, ReasonAlgNotAllowed)
			}
		})
	}
	// With a secret configured too, HS256 is allowed, but only with the
	// secret: the PEM bytes as secret are a bad signature.
	pemBytes := pemPublic(t, keys().rsa.Public())
	v, err := New(Config{SecretFile: writeFile(t, "s", secret), PublicKeyFile: writeFile(t, "pub.pem", pemBytes)})
	require.NoError(t, err)
	forged, err := Mint(pemBytes, "HS256", MintClaims{Subject: "admin", Expires: now.Add(time.Hour)})
	require.NoError(t, err)
	requireReason(t, v, forged, now, 401, ReasonBadSignature)
}

func TestRejectUnknownAlg(t *testing.T) {
	v := verifierFor(t, "HS256", Config{})
	p := b64(mustJSON(t, claims()))
	for _, alg := range []string{"HS999", "NONE", "None", "hs256", "RSA-OAEP", ""} {
		tok := b64([]byte(`{"alg":"`+alg+`"}`)) + "." + p + "." + b64([]byte("sig"))
		requireReason(t, v, tok, now, 401, ReasonUnknownAlg)
	}
}

// RFC 7515 §4.1.11: a "crit" extension we do not understand (we understand
// none) makes the token invalid, even when the signature is good.
func TestRejectCrit(t *testing.T) {
	v := verifierFor(t, "HS256", Config{})
	tok := signRaw(t, "HS256", []byte(`{"alg":"HS256","crit":["b64"],"b64":false}`), mustJSON(t, claims()))
	requireReason(t, v, tok, now, 401, ReasonCrit)
}

func TestRejectExpired(t *testing.T) {
	v := verifierFor(t, "HS256", Config{Leeway: 5 * time.Second})
	c := claims()
	c["exp"] = now.Add(-time.Minute).Unix()
	requireReason(t, v, signClaims(t, "HS256", c), now, 401, ReasonExpired)
}

func TestRejectNotYetValid(t *testing.T) {
	v := verifierFor(t, "HS256", Config{Leeway: 5 * time.Second})
	c := claims()
	c["nbf"] = now.Add(time.Minute).Unix()
	requireReason(t, v, signClaims(t, "HS256", c), now, 401, ReasonNotYetValid)
}

func TestRejectIssuedInFuture(t *testing.T) {
	v := verifierFor(t, "HS256", Config{Leeway: 5 * time.Second})
	c := claims()
	c["iat"] = now.Add(time.Minute).Unix()
	requireReason(t, v, signClaims(t, "HS256", c), now, 401, ReasonIssuedInFuture)
}

// The leeway's edges, one second either side, through the now argument.
// exp: valid while now < exp+leeway (RFC 7519 §4.1.4: "on or after" is
// expired); nbf and iat: valid once now >= claim-leeway.
func TestLeewayBoundaries(t *testing.T) {
	const leeway = 5 * time.Second
	v := verifierFor(t, "HS256", Config{Leeway: leeway})
	exp := now.Add(time.Hour)
	c := claims()
	c["exp"] = exp.Unix()
	c["nbf"] = now.Unix()
	c["iat"] = now.Unix()
	tok := signClaims(t, "HS256", c)

	for _, tc := range []struct {
		at     time.Time
		reason string // "" = accepted
	}{
		{exp.Add(leeway - time.Second), ""},
		{exp.Add(leeway - time.Nanosecond), ""},
		{exp.Add(leeway), ReasonExpired},
		{exp.Add(leeway + time.Second), ReasonExpired},
		{now.Add(-leeway), ""},
		{now.Add(-leeway - time.Second), ReasonNotYetValid}, // nbf and iat both fail; nbf is reported
	} {
		got, e := v.Verify(tok, tc.at)
		if tc.reason == "" {
			require.Nil(t, e, "at %v", tc.at.Sub(now))
			require.Equal(t, "alice", got.Subject)
		} else {
			require.NotNil(t, e, "at %v", tc.at.Sub(now))
			require.Equal(t, tc.reason, e.Reason, "at %v", tc.at.Sub(now))
		}
	}

	// iat alone, without nbf.
	delete(c, "nbf")
	tok = signClaims(t, "HS256", c)
	_, e := v.Verify(tok, now.Add(-leeway))
	require.Nil(t, e)
	requireReason(t, v, tok, now.Add(-leeway-time.Second), 401, ReasonIssuedInFuture)

	// No leeway: expired at exp exactly.
	strict := verifierFor(t, "HS256", Config{})
	requireReason(t, strict, tok, exp, 401, ReasonExpired)
	_, e = strict.Verify(tok, exp.Add(-time.Nanosecond))
	require.Nil(t, e)
}

func TestRejectWrongIssuer(t *testing.T) {
	v := verifierFor(t, "HS256", Config{Issuer: "https://login.example"})
	c := claims()
	c["iss"] = "https://login.example"
	_, e := v.Verify(signClaims(t, "HS256", c), now)
	require.Nil(t, e)

	for _, iss := range []any{"https://evil.example", "https://login.example/", "HTTPS://LOGIN.EXAMPLE", ""} {
		c["iss"] = iss
		requireReason(t, v, signClaims(t, "HS256", c), now, 401, ReasonWrongIssuer)
	}
	delete(c, "iss")
	requireReason(t, v, signClaims(t, "HS256", c), now, 401, ReasonWrongIssuer)

	// Without -jwt-issuer any issuer passes.
	c["iss"] = "anyone"
	_, e = verifierFor(t, "HS256", Config{}).Verify(signClaims(t, "HS256", c), now)
	require.Nil(t, e)
}

// aud may be a string or an array (RFC 7519 §4.1.3).
func TestRejectWrongAudience(t *testing.T) {
	v := verifierFor(t, "HS256", Config{Audience: "wsd"})
	c := claims()
	for _, aud := range []any{"wsd", []string{"wsd"}, []string{"api", "wsd"}} {
		c["aud"] = aud
		_, e := v.Verify(signClaims(t, "HS256", c), now)
		require.Nil(t, e, "aud %v", aud)
	}
	for _, aud := range []any{"api", []string{"api", "web"}, []string{}, "", []string{""}, "WSD"} {
		c["aud"] = aud
		requireReason(t, v, signClaims(t, "HS256", c), now, 401, ReasonWrongAudience)
	}
	delete(c, "aud")
	requireReason(t, v, signClaims(t, "HS256", c), now, 401, ReasonWrongAudience)
}

func TestRejectMissingExp(t *testing.T) {
	v := verifierFor(t, "HS256", Config{})
	c := claims()
	delete(c, "exp")
	requireReason(t, v, signClaims(t, "HS256", c), now, 401, ReasonMissingExp)
}

func TestRejectMissingSub(t *testing.T) {
	v := verifierFor(t, "HS256", Config{})
	c := claims()
	delete(c, "sub")
	requireReason(t, v, signClaims(t, "HS256", c), now, 401, ReasonMissingSub)
	c["sub"] = ""
	requireReason(t, v, signClaims(t, "HS256", c), now, 401, ReasonMissingSub)
}

// A token over MaxTokenLen is refused before any parsing: the long one here
// is validly signed, so it would verify if its length were checked after.
func TestTokenTooLong(t *testing.T) {
	v := verifierFor(t, "HS256", Config{})
	// The longest valid token within the limit and the shortest beyond it,
	// by padding an extra claim (base64 grows by 1 or 2 characters a byte).
	var fits, over string
	c := claims()
	for n := MaxTokenLen*3/4 - 200; over == ""; n++ {
		c["pad"] = strings.Repeat("x", n)
		tok := signClaims(t, "HS256", c)
		if len(tok) <= MaxTokenLen {
			fits = tok
		} else {
			over = tok
		}
	}
	require.GreaterOrEqual(t, len(fits), MaxTokenLen-1)
	require.LessOrEqual(t, len(over), MaxTokenLen+2)

	_, e := v.Verify(fits, now)
	require.Nil(t, e, "a token within MaxTokenLen verifies")
	requireReason(t, v, over, now, http.StatusRequestHeaderFieldsTooLarge, ReasonTooLong)
	requireReason(t, v, strings.Repeat("a", 1<<20), now, http.StatusRequestHeaderFieldsTooLarge, ReasonTooLong)
}

func TestVerifyEmpty(t *testing.T) {
	requireReason(t, verifierFor(t, "HS256", Config{}), "", now, 401, ReasonNoToken)
}

// Both flags: each key verifies its own algorithms.
func TestBothKeys(t *testing.T) {
	v, err := New(Config{SecretFile: writeFile(t, "s", secret), PublicKeyFile: publicFile(t, "EdDSA")})
	require.NoError(t, err)
	assert.Equal(t, []string{"EdDSA", "HS256", "HS384", "HS512"}, v.Algorithms())
	for _, alg := range []string{"HS256", "HS512", "EdDSA"} {
		c, e := v.Verify(signClaims(t, alg, claims()), now)
		require.Nil(t, e, alg)
		assert.Equal(t, "alice", c.Subject)
	}
	requireReason(t, v, signClaims(t, "RS256", claims()), now, 401, ReasonAlgNotAllowed)

	// An EdDSA header over an HMAC signature with the secret, and the
	// reverse: the key follows the alg, so both fail.
	c := mustJSON(t, claims())
	input := b64([]byte(`{"alg":"EdDSA"}`)) + "." + b64(c)
	hs, err := sign(secret, "HS256", []byte(input))
	require.NoError(t, err)
	requireReason(t, v, input+"."+b64(hs), now, 401, ReasonBadSignature)
	input = b64([]byte(`{"alg":"HS256"}`)) + "." + b64(c)
	ed, err := sign(keys().ed, "EdDSA", []byte(input))
	require.NoError(t, err)
	requireReason(t, v, input+"."+b64(ed), now, 401, ReasonBadSignature)
}

// When claims fail several checks, the reason is the first of: missing exp,
// missing sub, expired, not yet valid, issued in the future, issuer,
// audience.
func TestReasonOrder(t *testing.T) {
	v := verifierFor(t, "HS256", Config{Issuer: "i", Audience: "a"})
	c := map[string]any{"iss": "x", "aud": "y", "iat": now.Add(time.Hour).Unix(), "nbf": now.Add(time.Hour).Unix()}
	requireReason(t, v, signClaims(t, "HS256", c), now, 401, ReasonMissingExp)
	c["exp"] = now.Add(-time.Hour).Unix()
	requireReason(t, v, signClaims(t, "HS256", c), now, 401, ReasonMissingSub)
	c["sub"] = "alice"
	requireReason(t, v, signClaims(t, "HS256", c), now, 401, ReasonExpired)
	c["exp"] = now.Add(2 * time.Hour).Unix()
	requireReason(t, v, signClaims(t, "HS256", c), now, 401, ReasonNotYetValid)
	delete(c, "nbf")
	requireReason(t, v, signClaims(t, "HS256", c), now, 401, ReasonIssuedInFuture)
	delete(c, "iat")
	requireReason(t, v, signClaims(t, "HS256", c), now, 401, ReasonWrongIssuer)
	c["iss"] = "i"
	requireReason(t, v, signClaims(t, "HS256", c), now, 401, ReasonWrongAudience)
	c["aud"] = "a"
	_, e := v.Verify(signClaims(t, "HS256", c), now)
	require.Nil(t, e)
}

// Each rejection reason above is distinct.
func TestReasonsDistinct(t *testing.T) {
	all := []string{ReasonNoToken, ReasonTooLong, ReasonTwoTokens, ReasonMalformed, ReasonBadSignature, ReasonAlgNone,
		ReasonAlgNotAllowed, ReasonUnknownAlg, ReasonCrit, ReasonExpired, ReasonNotYetValid, ReasonIssuedInFuture,
		ReasonWrongIssuer, ReasonWrongAudience, ReasonMissingExp, ReasonMissingSub, ReasonOtherUser, ReasonRefreshNotLater}
	seen := map[string]bool{}
	for _, r := range all {
		require.False(t, seen[r], r)
		seen[r] = true
	}
}

func TestRefresh(t *testing.T) {
	v := verifierFor(t, "HS256", Config{})
	cur, e := v.Verify(signClaims(t, "HS256", claims()), now)
	require.Nil(t, e)

	c := claims()
	c["exp"] = now.Add(2 * time.Hour).Unix()
	c["rooms"] = []string{"lobby"}
	next, e := v.Refresh(cur, signClaims(t, "HS256", c), now.Add(30*time.Minute))
	require.Nil(t, e)
	assert.Equal(t, now.Add(2*time.Hour), next.Expires)
	assert.False(t, next.MayUseRoom("ops"), "a refresh can take a room away")

	c["sub"] = "bob"
	_, e = v.Refresh(cur, signClaims(t, "HS256", c), now)
	require.NotNil(t, e)
	assert.Equal(t, &Error{Status: 403, Reason: ReasonOtherUser}, e)

	c["sub"] = "alice"
	for _, exp := range []time.Time{cur.Expires, cur.Expires.Add(-time.Second)} {
		c["exp"] = exp.Unix()
		_, e = v.Refresh(cur, signClaims(t, "HS256", c), now)
		require.NotNil(t, e)
		assert.Equal(t, ReasonRefreshNotLater, e.Reason)
		assert.Equal(t, 401, e.Status)
	}

	// The new token is verified in full first.
	c["exp"] = now.Add(-time.Hour).Unix()
	_, e = v.Refresh(cur, signClaims(t, "HS256", c), now)
	require.NotNil(t, e)
	assert.Equal(t, ReasonExpired, e.Reason)

	_, e = v.Refresh(nil, signClaims(t, "HS256", claims()), now)
	require.NotNil(t, e)
	assert.Equal(t, 403, e.Status)
}

func TestClaimsHelpers(t *testing.T) {
	c := &Claims{Subject: "alice", Rooms: []string{"lobby", "ops"}}
	assert.True(t, c.Allows("alice"))
	assert.False(t, c.Allows("bob"))
	assert.False(t, c.Allows("Alice"))
	assert.True(t, c.MayUseRoom("ops"))
	assert.False(t, c.MayUseRoom("Ops"))
	assert.False(t, c.MayUseRoom("*"))
	assert.False(t, c.MayUseRoom(""))
	var none *Claims
	assert.False(t, none.Allows(""))
	assert.False(t, none.MayUseRoom("lobby"))
	assert.False(t, (&Claims{}).Allows(""), "an empty subject is nobody")
}

func TestErrorText(t *testing.T) {
	v := verifierFor(t, "HS256", Config{})
	_, e := v.Verify("a.b", now)
	require.NotNil(t, e)
	assert.Contains(t, e.Error(), ReasonMalformed+": ")
	assert.Equal(t, ReasonNoToken, (&Error{Status: 401, Reason: ReasonNoToken}).Error())
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

// TokenFrom's result goes straight to Verify.
func TestTokenFromThenVerify(t *testing.T) {
	v := verifierFor(t, "HS256", Config{})
	tok := signClaims(t, "HS256", claims())
	got, e := TokenFrom([]byte("user=alice&token="+url.QueryEscape(tok)), nil)
	require.Nil(t, e)
	c, e := v.Verify(got, now)
	require.Nil(t, e)
	assert.True(t, c.Allows("alice"))
}
