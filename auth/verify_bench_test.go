package auth

import (
	"testing"
)

// BenchmarkVerify is the cost of one handshake's token check: parse,
// signature, claims, as a handshake does it (Check, a buffer on the
// stack). Run it with
//
//	go test ./auth -run '^$' -bench BenchmarkVerify -benchmem
func BenchmarkVerify(b *testing.B) {
	for _, alg := range allAlgs {
		b.Run(alg, func(b *testing.B) {
			v, tok := benchToken(b, alg)
			b.ReportAllocs()
			b.SetBytes(int64(len(tok)))
			for b.Loop() {
				var buf [CheckBufSize]byte
				if _, e := v.Check(tok, now, buf[:]); e != nil {
					b.Fatal(e)
				}
			}
		})
	}
}

// BenchmarkVerifyClaims is Verify: Check, then the claims copied out.
func BenchmarkVerifyClaims(b *testing.B) {
	v, tok := benchToken(b, "HS256")
	s := string(tok)
	b.ReportAllocs()
	for b.Loop() {
		if _, e := v.Verify(s, now); e != nil {
			b.Fatal(e)
		}
	}
}

func benchToken(b *testing.B, alg string) (*Verifier, []byte) {
	v := verifierFor(b, alg, Config{Issuer: "https://login.example", Audience: "wsd", Leeway: DefaultLeeway})
	c := claims()
	c["iss"] = "https://login.example"
	c["aud"] = "wsd"
	return v, []byte(signClaims(b, alg, c))
}
