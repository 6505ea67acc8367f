package auth

import (
	"flag"
	"time"
)

// DefaultLeeway is the clock skew allowed on exp, nbf and iat by the
// -jwt-leeway flag's default (RFC 7519 §4.1.4 allows "some small leeway").
const DefaultLeeway = 5 * time.Second

// Config mirrors wsd's flags. At least one of SecretFile and PublicKeyFile
// is needed; with both, a token verifies under either key, each with its own
// algorithms only.
type Config struct {
	// SecretFile (-jwt-secret-file) holds an HMAC secret, for HS256, HS384
	// and HS512.
	SecretFile string
	// PublicKeyFile (-jwt-public-key) holds a PEM public key: Ed25519 for
	// EdDSA, RSA for RS256/RS384/RS512/PS256, ECDSA P-256 for ES256.
	PublicKeyFile string
	// Issuer (-jwt-issuer) and Audience (-jwt-audience), when set, must
	// match "iss" and appear in "aud"; a token without the claim is then
	// refused.
	Issuer   string
	Audience string
	// Leeway (-jwt-leeway) is used as given: the zero Config is the
	// strictest. The flag defaults to DefaultLeeway.
	Leeway time.Duration
}

// Enabled reports whether tokens are configured at all, so that a caller
// can keep its endpoints open when they are not.
func (c *Config) Enabled() bool {
	return c.SecretFile != "" || c.PublicKeyFile != ""
}

// RegisterFlags defines wsd's -jwt-* flags on fs, filling c.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.SecretFile, "jwt-secret-file", "", "verify client tokens with the HMAC secret in `file` (HS256/HS384/HS512; one trailing newline is ignored)")
	fs.StringVar(&c.PublicKeyFile, "jwt-public-key", "", "verify client tokens with the PEM public key in `file` (Ed25519: EdDSA; RSA: RS256/RS384/RS512/PS256; ECDSA P-256: ES256)")
	fs.StringVar(&c.Issuer, "jwt-issuer", "", "require this \"iss\" in client tokens")
	fs.StringVar(&c.Audience, "jwt-audience", "", "require this value in the \"aud\" of client tokens")
	fs.DurationVar(&c.Leeway, "jwt-leeway", DefaultLeeway, "clock skew allowed on a token's exp, nbf and iat")
}
