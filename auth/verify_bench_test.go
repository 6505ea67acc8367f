package auth

import (
	"testing"
)

// BenchmarkVerify is the cost of one handshake's token check: parse,
// signature, claims. Run it with
//
//	go test ./auth -run '^$' -bench BenchmarkVerify -benchmem
func BenchmarkVerify(b *testing.B) {
	for _, alg := range []string{"HS256", "EdDSA", "RS256", "ES256"} {
		b.Run(alg, func(b *testing.B) {
			v := verifierFor(b, alg, Config{Issuer: "https://login.example", Audience: "wsd", Leeway: DefaultLeeway})
			c := claims()
			c["iss"] = "https://login.example"
			c["aud"] = "wsd"
			tok := signClaims(b, alg, c)
			b.ReportAllocs()
			b.SetBytes(int64(len(tok)))
			for b.Loop() {
				if _, e := v.Verify(tok, now); e != nil {
					b.Fatal(e)
				}
			}
		})
	}
}
