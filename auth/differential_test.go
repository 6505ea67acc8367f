package auth

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Differential tests: Check against the jwt library (jwtOracle, the
// implementation Check replaced). Both must accept and refuse alike, with
// the same claims when they accept and the same reason when they refuse,
// but for two documented differences (knownDifference).

// oraclePair is a Verifier and the oracle on the same configuration.
type oraclePair struct {
	name string
	v    *Verifier
	o    *jwtOracle
}

// oraclePairs covers every key type and the optional checks: a secret and
// an Ed25519 key with issuer and audience, an RSA key with neither and no
// leeway, a P-256 key with an audience.
func oraclePairs(t testing.TB) []oraclePair {
	t.Helper()
	sec := writeFile(t, "secret", secret)
	cfgs := []struct {
		name string
		cfg  Config
	}{
		{"secret+EdDSA", Config{SecretFile: sec, PublicKeyFile: publicFile(t, "EdDSA"), Issuer: "https://login.example", Audience: "wsd", Leeway: DefaultLeeway}},
		{"RSA", Config{PublicKeyFile: publicFile(t, "RS256")}},
		{"ES256", Config{PublicKeyFile: publicFile(t, "ES256"), Audience: "wsd", Leeway: time.Second}},
	}
	var out []oraclePair
	for _, c := range cfgs {
		v, err := New(c.cfg)
		require.NoError(t, err)
		o, err := newOracle(c.cfg)
		require.NoError(t, err)
		out = append(out, oraclePair{c.name, v, o})
	}
	return out
}

// The reasons of checks that Check makes before it reads the payload's
// JSON and the library after.
var beforePayloadJSON = []string{ReasonAlgNone, ReasonUnknownAlg, ReasonAlgNotAllowed, ReasonCrit, ReasonBadSignature}

// knownDifference reports the two ways Check may differ from the library,
// both stricter or in order only:
//   - Check refuses line breaks in the base64url of a part (RFC 7515 §2:
//     no "line breaks, whitespace, or other additional characters"); the
//     base64 package skips CR and LF, even in its strict mode.
//   - The library decodes the payload's JSON (malformed) before it checks
//     the alg and the signature; Check reads no claim before the
//     signature has verified (RFC 7519 §7.2), so a token wrong in both
//     ways gets the signature's reason.
func knownDifference(token string, mine, theirs *Error) bool {
	if mine != nil && mine.Reason == ReasonMalformed && strings.ContainsAny(token, "\r\n") {
		return true
	}
	return mine != nil && theirs != nil && theirs.Reason == ReasonMalformed && slices.Contains(beforePayloadJSON, mine.Reason)
}

// compareWithOracle checks one token at one time against every pair.
func compareWithOracle(t *testing.T, pairs []oraclePair, token string, at time.Time) {
	t.Helper()
	for _, p := range pairs {
		mine, me := p.v.Verify(token, at)
		theirs, te := p.o.verify(token, at)
		// Check with a buffer too small for anything: the same answer,
		// from memory it allocates.
		var small [8]byte
		c, se := p.v.Check([]byte(token), at, small[:])
		if (se == nil) != (me == nil) || se != nil && se.Reason != me.Reason {
			t.Fatalf("%s: %q: Check with a small buffer: %v, with a large one: %v", p.name, token, se, me)
		}
		if se == nil {
			require.Equal(t, mine, c.Claims(), "%s: %q: small buffer", p.name, token)
		}
		if knownDifference(token, me, te) {
			continue
		}
		switch {
		case me == nil && te == nil:
			require.Equal(t, theirs, mine, "%s: %q: claims", p.name, token)
		case me == nil:
			t.Fatalf("%s: %q: Check accepts, the library refuses: %v", p.name, token, te)
		case te == nil:
			t.Fatalf("%s: %q: the library accepts (%+v), Check refuses: %v", p.name, token, theirs, me)
		case me.Reason != te.Reason || me.Status != te.Status:
			t.Fatalf("%s: %q: Check refuses %d %q (%v), the library %d %q (%v)", p.name, token, me.Status, me.Reason, me.Err, te.Status, te.Reason, te.Err)
		}
	}
}

// Tokens the scanners must read exactly as encoding/json does.
func TestCheckAgainstJWT(t *testing.T) {
	pairs := oraclePairs(t)
	exp := itoa(now.Unix() + 3600)
	good := `,"iss":"https://login.example","aud":"wsd"`
	for name, tc := range map[string]struct{ header, payload string }{
		"plain":                 {`{"alg":"HS256"}`, `{"sub":"alice","exp":` + exp + good + `}`},
		"escaped names":         {`{"\u0061lg":"HS256"}`, `{"s\u0075b":"alice","\u0065xp":` + exp + `,"\u0069ss":"https://login.example","au\u0064":"wsd"}`},
		"escaped alg":           {`{"alg":"HS\u0032\u00356"}`, `{"sub":"alice","exp":` + exp + good + `}`},
		"duplicate alg":         {`{"alg":"none","alg":"HS256"}`, `{"sub":"alice","exp":` + exp + good + `}`},
		"duplicate alg, none":   {`{"alg":"HS256","alg":"none"}`, `{"sub":"alice","exp":` + exp + good + `}`},
		"crit null":             {`{"alg":"HS256","crit":null}`, `{"sub":"alice","exp":` + exp + good + `}`},
		"huge number in header": {`{"alg":"HS256","x":1e400}`, `{"sub":"alice","exp":` + exp + good + `}`},
		"huge number in claims": {`{"alg":"HS256"}`, `{"sub":"alice","x":[1e400],"exp":` + exp + good + `}`},
		"nested unknown claims": {`{"alg":"HS256","x":{"a":[[{}],{"b":null}]}}`, `{"sub":"alice","x":{"a":[[{}],{"b":[true,false,-0.5e-3]}]},"exp":` + exp + good + `}`},
		"bad exp then good":     {`{"alg":"HS256"}`, `{"sub":"alice","exp":"x","exp":` + exp + good + `}`},
		"good exp then bad":     {`{"alg":"HS256"}`, `{"sub":"alice","exp":` + exp + `,"exp":"x"` + good + `}`},
		"surrogates":            {`{"alg":"HS256"}`, `{"sub":"\ud83d\ude00\ud83d\u0041\udc00","rooms":["\ud800","\uDBFF\uDFFF"],"exp":` + exp + good + `}`},
		"invalid UTF-8":         {`{"alg":"HS256"}`, "{\"sub\":\"a\xc3\x28b\xed\xa0\x80\",\"rooms\":[\"\xff\"],\"exp\":" + exp + good + `}`},
		"all escapes":           {`{"alg":"HS256"}`, `{"sub":"\"\\\/\b\f\n\r\t\u00e9","exp":` + exp + good + `}`},
		"whitespace":            {" \t\r\n{ \"alg\" : \"HS256\" } \n", " {\n\"sub\" :\t\"alice\" , \"exp\" : " + exp + ` ,"iss":"https://login.example","aud":[ "x" , "wsd" ] } `},
		"fractional exp":        {`{"alg":"HS256"}`, `{"sub":"alice","exp":` + exp + `.999,"nbf":-1.5,"iat":1E9` + good + `}`},
		"trailing data":         {`{"alg":"HS256"}`, `{"sub":"alice","exp":` + exp + good + `} {}`},
		"trailing data header":  {`{"alg":"HS256"}x`, `{"sub":"alice","exp":` + exp + good + `}`},
		"leading zero":          {`{"alg":"HS256"}`, `{"sub":"alice","exp":0` + exp + good + `}`},
		"bad escape":            {`{"alg":"HS256"}`, `{"sub":"a\x","exp":` + exp + good + `}`},
		"control character":     {`{"alg":"HS256"}`, "{\"sub\":\"a\tb\",\"exp\":" + exp + good + `}`},
		"rooms nested":          {`{"alg":"HS256"}`, `{"sub":"alice","rooms":[["a"]],"exp":` + exp + good + `}`},
		"aud empty string":      {`{"alg":"HS256"}`, `{"sub":"alice","exp":` + exp + `,"iss":"https://login.example","aud":[""]}`},
		"EdDSA":                 {`{"alg":"EdDSA"}`, `{"sub":"alice","exp":` + exp + good + `}`},
		"RS384":                 {`{"alg":"RS384"}`, `{"sub":"alice","exp":` + exp + `}`},
		"ES256":                 {`{"alg":"ES256"}`, `{"sub":"alice","exp":` + exp + `,"aud":["wsd"]}`},
		"PS256":                 {`{"alg":"PS256"}`, `{"sub":"alice","exp":` + exp + `}`},
	} {
		t.Run(name, func(t *testing.T) {
			var alg struct {
				Alg string `json:"alg"`
			}
			if json.Unmarshal([]byte(tc.header), &alg) != nil || algByName([]byte(alg.Alg)) <= algNone {
				alg.Alg = "HS256"
			}
			tok := signRaw(t, alg.Alg, []byte(tc.header), []byte(tc.payload))
			compareWithOracle(t, pairs, tok, now)
		})
	}
}

// FuzzCheckAgainstJWT mints tokens from fuzzed headers and payloads,
// signed with the key their alg selector picks (so that the claims are
// reached), or with a fuzzed signature, or raw, and compares Check with
// the library at a fuzzed time near now. Run it with
//
//	go test ./auth -run '^$' -fuzz FuzzCheckAgainstJWT -fuzztime 60s
func FuzzCheckAgainstJWT(f *testing.F) {
	pairs := oraclePairs(f)
	exp := now.Unix() + 3600
	for i, alg := range allAlgs {
		c := claims()
		c["iss"] = "https://login.example"
		c["aud"] = "wsd"
		c["exp"] = exp
		c["nbf"] = now.Unix() - 10
		f.Add([]byte(`{"alg":"`+alg+`","typ":"JWT"}`), mustJSON(f, c), uint8(i), uint8(0), "", int64(0))
	}
	f.Add([]byte(`{"alg":"HS256","crit":["b64"]}`), []byte(`{"sub":"a","exp":1750003600,"rooms":["\u0061",""]}`), uint8(0), uint8(0), "", int64(0))
	f.Add([]byte(`{"alg":"none"}`), []byte(`{"sub":"a","exp":1750003600}`), uint8(0), uint8(1), "", int64(0))
	f.Add([]byte(`{"alg":"HS256"}`), []byte(`{"sub":"a","exp":1750000005,"iat":1750000004.5}`), uint8(0), uint8(0), "", int64(5e9-1))
	f.Add([]byte(`eyJhbGciOiJIUzI1NiJ9`), []byte(`eyJzdWIiOiJhIiwiZXhwIjoxNzUwMDAzNjAwfQ`), uint8(0), uint8(3), "", int64(0))
	f.Add([]byte(signClaims(f, "HS256", claims())), []byte(nil), uint8(0), uint8(2), "", int64(0))
	f.Add([]byte(`{"alg":"HS512"}`), []byte(`{"sub":"a","exp":1750003600}`), uint8(2), uint8(1), "AAAA", int64(0))

	f.Fuzz(func(t *testing.T, header, payload []byte, sel, mode uint8, sig string, at int64) {
		if len(header)+len(payload)+len(sig) > 2*MaxTokenLen {
			return
		}
		alg := allAlgs[int(sel)%len(allAlgs)]
		var token string
		switch mode % 4 {
		case 0: // header and payload as JSON, signed
			input := b64(header) + "." + b64(payload)
			token = input + "." + b64(mustSign(t, alg, input))
		case 1: // a fuzzed signature
			token = b64(header) + "." + b64(payload) + "." + sig
		case 2: // any string
			token = string(header)
		case 3: // header and payload as the parts' text, signed
			input := string(header) + "." + string(payload)
			token = input + "." + b64(mustSign(t, alg, input))
		}
		compareWithOracle(t, pairs, token, now.Add(time.Duration(at%int64(48*time.Hour))))
	})
}

func mustSign(t *testing.T, alg, input string) []byte {
	sig, err := sign(signerFor(alg), alg, []byte(input))
	require.NoError(t, err)
	return sig
}
