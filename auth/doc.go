// Package auth verifies the signed connection tokens of wsd's client
// endpoints: JSON Web Tokens (RFC 7519) in the JWS compact serialization
// (RFC 7515), checked as RFC 8725 (JWT best current practices) asks.
//
// A handshake carries its token in ?token=T or "Authorization: Bearer T"
// (TokenFrom). A Verifier, made by New from the -jwt-* flags (Config),
// checks it (Verify) and returns the Claims: the user id in "sub", the
// expiry in "exp" (required) and the rooms the holder may use in "rooms".
// Every refusal is an *Error with an HTTP status (401, or 431 for an
// oversized token) and a short Reason for the JSON body; whether the token's
// subject is the user being connected (403) is the caller's check
// (Claims.Allows), as is applying a refresh (Verifier.Refresh).
//
// Keys and algorithms: an HMAC secret (-jwt-secret-file) verifies HS256,
// HS384 and HS512 (each only with a secret at least as long as its hash,
// RFC 7518 §3.2); a PEM public key (-jwt-public-key) verifies EdDSA
// (Ed25519), RS256/RS384/RS512/PS256 (RSA, 2048 bits or more) or ES256
// (ECDSA P-256). With both, each key verifies only its own algorithms, so a
// token "signed" with HS256 using the public key as the secret is refused
// (RFC 8725 §2.1), as is "alg":"none" (§3.1). One leniency is jwt/v5's:
// PS256 verifies with any PSS salt length (rsa.PSSSaltLengthAuto), not only
// the hash length of RFC 7518 §3.5; Mint uses the hash length.
//
// Parsing and signature checks are github.com/golang-jwt/jwt/v5, configured
// strictly (an algorithm allow-list, exp required, iat checked, strict
// base64); the claims are decoded here, case-sensitively and with their
// JSON types enforced. Mint signs tokens with the standard library, for
// tests and for cmd/wsdtoken.
//
// The cost per handshake is measured by BenchmarkVerify in
// verify_bench_test.go:
//
//	go test ./auth -run '^$' -bench BenchmarkVerify -benchmem
package auth
