// Package auth verifies the signed connection tokens of wsd's client
// endpoints: JSON Web Tokens (RFC 7519) in the JWS compact serialization
// (RFC 7515), checked as RFC 8725 (JWT best current practices) asks.
//
// A handshake carries its token in ?token=T or "Authorization: Bearer T"
// (TokenFrom). A Verifier, made by New from the -jwt-* flags (Config),
// checks it: Check, which allocates nothing — it decodes into a buffer the
// caller gives (an array on its stack) and returns views of it (Checked) —
// or Verify, the same checks with the Claims copied out. The user id is in
// "sub", the expiry in "exp" (required), the rooms the holder may use in
// "rooms". Every refusal is an *Error with an HTTP status (401, or 431 for
// an oversized token) and a short Reason for the JSON body; whether the
// token's subject is the user being connected (403) is the caller's check
// (Checked.Allows, Claims.Allows), as is applying a refresh
// (Verifier.Refresh).
//
// Keys and algorithms: an HMAC secret (-jwt-secret-file) verifies HS256,
// HS384 and HS512 (each only with a secret at least as long as its hash,
// RFC 7518 §3.2); a PEM public key (-jwt-public-key) verifies EdDSA
// (Ed25519), RS256/RS384/RS512/PS256 (RSA, 2048 bits or more) or ES256
// (ECDSA P-256). With both, each key verifies only its own algorithms, so a
// token "signed" with HS256 using the public key as the secret is refused
// (RFC 8725 §2.1), as is "alg":"none" (§3.1). One leniency is kept from
// the jwt library wsd used before: PS256 verifies with any PSS salt length
// (rsa.PSSSaltLengthAuto), not only the hash length of RFC 7518 §3.5; Mint
// uses the hash length.
//
// The compact serialization, the header and the claims are read here
// (jws.go, json.go, check.go) by a strict JSON scanner that validates
// without allocating and decodes strings as encoding/json does; the
// signatures are the standard library's (crypto/hmac with pooled state,
// crypto/ed25519, crypto/rsa, crypto/ecdsa). HMAC and Ed25519 tokens are
// checked with no allocation at all; RSA and ECDSA verification allocate
// inside the standard library (about 10 small objects a check). Mint signs
// tokens with the standard library, for tests and for cmd/wsdtoken. The
// tests compare Check with github.com/golang-jwt/jwt/v5, which wsd used
// before (FuzzCheckAgainstJWT) and still uses as their oracle. Why our own
// parsing: the library allocated ~80 objects (3.9 KB) per HS256 check, and
// that garbage, made by every handshake, is heap the collector lets grow:
// 19,000 /ws/{user} connections with tokens held 665 B each with it, 323 B
// with Check (serverbench, wsd+auth row).
//
// The cost per handshake is measured by BenchmarkVerify in
// verify_bench_test.go:
//
//	go test ./auth -run '^$' -bench BenchmarkVerify -benchmem
package auth
