package auth

import (
	"net/http"
	"strings"
	"testing"
)

// FuzzVerify: any string either verifies — and then has a subject and an
// expiry — or is refused with 401 or 431 and a reason; never a panic. The
// Verifier holds a secret and an Ed25519 key, so both code paths are
// reachable, and the seeds are valid tokens the fuzzer can mutate.
// Inputs are bounded to MaxTokenLen plus a little (longer ones return at
// once; TestTokenTooLong covers them) and the seeds are short: with an 8 KiB
// seed the fuzzer spends its time minimizing 8 KiB strings.
func FuzzVerify(f *testing.F) {
	v, err := New(Config{
		SecretFile:    writeFile(f, "s", secret),
		PublicKeyFile: publicFile(f, "EdDSA"),
		Leeway:        DefaultLeeway,
	})
	if err != nil {
		f.Fatal(err)
	}
	for _, alg := range []string{"HS256", "HS512", "EdDSA"} {
		tok := signClaims(f, alg, claims())
		f.Add(tok)
		f.Add(tok[:len(tok)-1])
		f.Add(strings.Replace(tok, ".", "..", 1))
	}
	f.Add(b64([]byte(`{"alg":"none"}`)) + "." + b64(mustJSON(f, claims())) + ".")
	f.Add(signRaw(f, "HS256", []byte(`{"alg":"HS256"}`), []byte(`{"sub":"a","exp":1e300}`)))
	f.Add(signRaw(f, "HS256", []byte(`{"alg":"HS256"}`), []byte(`null`)))
	f.Add(signRaw(f, "HS256", []byte(`{"alg":"HS256","crit":[]}`), []byte(`{"sub":"a","exp":2e9,"rooms":[null]}`)))
	f.Add("")
	f.Add("..")

	f.Fuzz(func(t *testing.T, tok string) {
		if len(tok) > MaxTokenLen+16 {
			return
		}
		c, e := v.Verify(tok, now)
		switch {
		case c != nil && e != nil:
			t.Fatalf("both claims and error %v", e)
		case c != nil:
			if c.Subject == "" || c.Expires.IsZero() {
				t.Fatalf("verified token without sub or exp: %+v", c)
			}
			if !now.Before(c.Expires.Add(DefaultLeeway)) {
				t.Fatalf("verified an expired token: %+v", c)
			}
		case e == nil:
			t.Fatal("neither claims nor error")
		case e.Status != http.StatusUnauthorized && e.Status != http.StatusRequestHeaderFieldsTooLarge:
			t.Fatalf("status %d", e.Status)
		case e.Reason == "":
			t.Fatal("empty reason")
		case e.Status == http.StatusRequestHeaderFieldsTooLarge && len(tok) <= MaxTokenLen:
			t.Fatalf("431 for %d bytes", len(tok))
		}
	})
}
