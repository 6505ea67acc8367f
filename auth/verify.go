package auth

import (
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"time"
	"unsafe"
)

// Verifier checks tokens against the configured keys. It is immutable after
// New and safe for concurrent use.
type Verifier struct {
	// keys maps each accepted "alg" to the one key that verifies it: an
	// *hmacKey of the secret for HS*, the public key for its own
	// algorithms, nil for every other. Choosing the key by alg from this
	// table, never the alg by the key, is what makes algorithm confusion
	// impossible (RFC 8725 §2.1, §3.1).
	keys     [numAlgs]any
	methods  []string
	issuer   string
	audience string
	leeway   time.Duration
}

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
	v := &Verifier{issuer: cfg.Issuer, audience: cfg.Audience, leeway: cfg.Leeway}
	if cfg.SecretFile != "" {
		secret, err := ReadSecretFile(cfg.SecretFile)
		if err != nil {
			return nil, err
		}
		for _, name := range hmacAlgsFor(secret) {
			switch alg := algByName([]byte(name)); alg {
			case algHS256:
				v.keys[alg] = newHMACKey(sha256.New, secret)
			case algHS384:
				v.keys[alg] = newHMACKey(sha512.New384, secret)
			case algHS512:
				v.keys[alg] = newHMACKey(sha512.New, secret)
			}
		}
	}
	if cfg.PublicKeyFile != "" {
		pub, err := ReadPublicKeyFile(cfg.PublicKeyFile)
		if err != nil {
			return nil, err
		}
		algs, _ := publicAlgs(pub) // checked by ReadPublicKeyFile
		for _, name := range algs {
			v.keys[algByName([]byte(name))] = pub
		}
	}
	for alg, k := range v.keys {
		if k != nil {
			v.methods = append(v.methods, algNames[alg])
		}
	}
	sort.Strings(v.methods)
	return v, nil
}

// Algorithms lists the "alg" values this Verifier accepts, sorted.
func (v *Verifier) Algorithms() []string { return append([]string(nil), v.methods...) }

// Verify checks a compact JWS token (RFC 7515 §7.1) and its claims as of
// now, which the caller passes so that tests need no clock. It is Check
// with the result copied out of the buffer into Claims; see Check for the
// rules. A handshake calls Check, which allocates nothing.
func (v *Verifier) Verify(token string, now time.Time) (*Claims, *Error) {
	var buf [1024]byte
	// Check reads token and never writes it or keeps it past the call.
	c, e := v.Check(unsafe.Slice(unsafe.StringData(token), len(token)), now, buf[:])
	if e != nil {
		return nil, e
	}
	return c.Claims(), nil
}

// Refresh checks a token sent on an open connection to replace the one it
// was opened with (a {"type":"refresh","token":T} message): it must verify,
// be for the same subject (else 403 ReasonOtherUser) and expire later than
// cur (else 401 ReasonRefreshNotLater). The caller then replaces cur with
// the result, rooms included: a refresh may also take rooms away. It is
// CheckRefresh with the claims copied out.
func (v *Verifier) Refresh(cur *Claims, token string, now time.Time) (*Claims, *Error) {
	var subject string
	var expires time.Time
	if cur != nil {
		subject, expires = cur.Subject, cur.Expires
	}
	var buf [1024]byte
	c, e := v.CheckRefresh(subject, expires, unsafe.Slice(unsafe.StringData(token), len(token)), now, buf[:])
	if e != nil {
		return nil, e
	}
	return c.Claims(), nil
}

// CheckRefresh is Refresh for a caller that keeps of the current token
// only its subject and expiry, with the new token's claims as views of buf
// (see Check).
func (v *Verifier) CheckRefresh(subject string, expires time.Time, token []byte, now time.Time, buf []byte) (Checked, *Error) {
	next, e := v.Check(token, now, buf)
	if e != nil {
		return Checked{}, e
	}
	if subject == "" || string(next.Subject) != subject {
		return Checked{}, &Error{Status: http.StatusForbidden, Reason: ReasonOtherUser}
	}
	if !next.Expiry().After(expires) {
		return Checked{}, unauthorized(ReasonRefreshNotLater, fmt.Errorf("exp %d is not after the current token's %d", next.Expires, expires.Unix()))
	}
	return next, nil
}
