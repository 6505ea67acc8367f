package auth

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Verifier checks tokens against the configured keys. It is immutable after
// New and safe for concurrent use.
type Verifier struct {
	// keys maps each accepted "alg" to the one key that verifies it: the
	// HMAC secret for HS*, the public key for its own algorithms. Choosing
	// the key by alg from this map, never the alg by the key, is what makes
	// algorithm confusion impossible (RFC 8725 §2.1, §3.1).
	keys     map[string]any
	methods  []string
	opts     []jwt.ParserOption
	issuer   string
	audience string
}

// errCrit is returned by the key lookup for a token with a "crit" header.
var errCrit = errors.New(`"crit" header present`)

// New reads the configured keys. Its errors name the file and what is wrong
// with it (unreadable, not PEM, a private key, an unsupported key type such
// as ECDSA P-384, an empty or short secret).
func New(cfg Config) (*Verifier, error) {
	if !cfg.Enabled() {
		return nil, errors.New("jwt: no key configured (give -jwt-secret-file or -jwt-public-key)")
	}
	if cfg.Leeway < 0 {
		return nil, fmt.Errorf("jwt: leeway %v is negative", cfg.Leeway)
	}
	v := &Verifier{keys: map[string]any{}, issuer: cfg.Issuer, audience: cfg.Audience}
	if cfg.SecretFile != "" {
		secret, err := ReadSecretFile(cfg.SecretFile)
		if err != nil {
			return nil, err
		}
		for _, alg := range hmacAlgsFor(secret) {
			v.keys[alg] = secret
		}
	}
	if cfg.PublicKeyFile != "" {
		pub, err := ReadPublicKeyFile(cfg.PublicKeyFile)
		if err != nil {
			return nil, err
		}
		algs, _ := publicAlgs(pub) // checked by ReadPublicKeyFile
		for _, alg := range algs {
			v.keys[alg] = pub
		}
	}
	for alg := range v.keys {
		v.methods = append(v.methods, alg)
	}
	sort.Strings(v.methods)
	v.opts = []jwt.ParserOption{
		jwt.WithValidMethods(v.methods), // RFC 8725 §3.1: an allow-list, so "none" never passes
		jwt.WithExpirationRequired(),    // a token without exp would be valid forever
		jwt.WithIssuedAt(),              // iat in the future is refused (RFC 7519 §4.1.6 leaves it to us)
		jwt.WithLeeway(cfg.Leeway),      // RFC 7519 §4.1.4, §4.1.5
		jwt.WithStrictDecoding(),        // canonical base64url only (RFC 7515 §2, RFC 4648 §3.5): one token, one encoding
	}
	if cfg.Issuer != "" {
		v.opts = append(v.opts, jwt.WithIssuer(cfg.Issuer)) // RFC 8725 §3.8
	}
	if cfg.Audience != "" {
		v.opts = append(v.opts, jwt.WithAudience(cfg.Audience)) // RFC 8725 §3.9, RFC 7519 §4.1.3
	}
	return v, nil
}

// Algorithms lists the "alg" values this Verifier accepts, sorted.
func (v *Verifier) Algorithms() []string { return slices.Clone(v.methods) }

// Verify checks a compact JWS token (RFC 7515 §7.1) and its claims as of
// now, which the caller passes so that tests need no clock.
//
// The checks follow RFC 7519 §7.2: three base64url parts, a JSON header
// whose alg is one the configured key allows (never "none", RFC 8725
// §3.1), no "crit" extension (RFC 7515 §4.1.11: we understand none), the
// signature, then the claims — exp required and in the future, nbf and iat
// not in the future, all within the leeway; iss and aud when configured;
// sub non-empty. Every failure is a 401 with its own Reason; a token longer
// than MaxTokenLen is 431 before any decoding.
func (v *Verifier) Verify(token string, now time.Time) (*Claims, *Error) {
	if len(token) > MaxTokenLen {
		return nil, tooLong()
	}
	if token == "" {
		return nil, unauthorized(ReasonNoToken, nil)
	}
	// The clock is per call, so the parser is too (jwt's Parser holds its
	// time function); the static options are shared.
	opts := append(v.opts[:len(v.opts):len(v.opts)], jwt.WithTimeFunc(func() time.Time { return now }))
	var c tokenClaims
	tok, err := jwt.NewParser(opts...).ParseWithClaims(token, &c, v.key)
	if err != nil {
		return nil, v.reject(tok, &c, err)
	}
	return c.public(), nil
}

// key is jwt's Keyfunc. It runs after the alg allow-list and before the
// signature is checked.
func (v *Verifier) key(t *jwt.Token) (any, error) {
	if _, ok := t.Header["crit"]; ok {
		return nil, errCrit
	}
	k, ok := v.keys[t.Method.Alg()]
	if !ok { // unreachable behind WithValidMethods; kept so that it stays true
		return nil, fmt.Errorf("no key for alg %s", t.Method.Alg())
	}
	return k, nil
}

// reject turns the jwt library's error into our reason. The order is the
// order of the checks: structure, algorithm, signature, then claims.
func (v *Verifier) reject(tok *jwt.Token, c *tokenClaims, err error) *Error {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed) || tok == nil:
		return unauthorized(ReasonMalformed, err)
	case tok.Method == nil:
		// alg missing or not a string is malformed (RFC 7515 §4.1.1: it
		// MUST be present); a name the library does not know is unknown.
		if _, ok := tok.Header["alg"].(string); ok {
			return unauthorized(ReasonUnknownAlg, err)
		}
		return unauthorized(ReasonMalformed, err)
	case tok.Method == jwt.SigningMethodNone:
		return unauthorized(ReasonAlgNone, err)
	case v.keys[tok.Method.Alg()] == nil:
		return unauthorized(ReasonAlgNotAllowed, err)
	case errors.Is(err, errCrit):
		return unauthorized(ReasonCrit, err)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return unauthorized(ReasonBadSignature, err)
	case !c.decoded: // the payload was JSON null
		return unauthorized(ReasonMalformed, err)
	case errors.Is(err, jwt.ErrTokenInvalidClaims):
		return v.claimsReason(c, err)
	}
	return unauthorized(ReasonMalformed, err)
}

// claimsReason picks one reason when the claims fail, as jwt's Validator
// reports every failing check at once: missing claims first, then time,
// then who the token is for.
func (v *Verifier) claimsReason(c *tokenClaims, err error) *Error {
	switch {
	case c.exp == nil:
		return unauthorized(ReasonMissingExp, err)
	case errors.Is(err, errNoSub):
		return unauthorized(ReasonMissingSub, err)
	case errors.Is(err, jwt.ErrTokenExpired):
		return unauthorized(ReasonExpired, err)
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return unauthorized(ReasonNotYetValid, err)
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return unauthorized(ReasonIssuedInFuture, err)
	case errors.Is(err, jwt.ErrTokenInvalidIssuer) || v.issuer != "" && c.iss != v.issuer:
		return unauthorized(ReasonWrongIssuer, err)
	case errors.Is(err, jwt.ErrTokenInvalidAudience) || v.audience != "" && !slices.Contains(c.aud, v.audience):
		return unauthorized(ReasonWrongAudience, err)
	}
	return unauthorized(ReasonMalformed, err)
}

// Refresh checks a token sent on an open connection to replace the one it
// was opened with (a {"type":"refresh","token":T} message): it must verify,
// be for the same subject (else 403 ReasonOtherUser) and expire later than
// cur (else 401 ReasonRefreshNotLater). The caller then replaces cur with
// the result, rooms included: a refresh may also take rooms away.
func (v *Verifier) Refresh(cur *Claims, token string, now time.Time) (*Claims, *Error) {
	next, e := v.Verify(token, now)
	if e != nil {
		return nil, e
	}
	if cur == nil || !next.Allows(cur.Subject) {
		return nil, &Error{Status: http.StatusForbidden, Reason: ReasonOtherUser}
	}
	if !next.Expires.After(cur.Expires) {
		return nil, unauthorized(ReasonRefreshNotLater, nil)
	}
	return next, nil
}
