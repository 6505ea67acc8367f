package auth

// The previous implementation of Verify, on github.com/golang-jwt/jwt/v5,
// kept as the oracle of the differential tests (FuzzCheckAgainstJWT): the
// library parses and checks signatures, its Validator checks the times,
// tokenClaims decodes the claims strictly. It is test code only.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
)

type jwtOracle struct {
	keys     map[string]any
	opts     []jwt.ParserOption
	issuer   string
	audience string
}

var errCrit = errors.New(`"crit" header present`)

func newOracle(cfg Config) (*jwtOracle, error) {
	v := &jwtOracle{keys: map[string]any{}, issuer: cfg.Issuer, audience: cfg.Audience}
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
		algs, _ := publicAlgs(pub)
		for _, alg := range algs {
			v.keys[alg] = pub
		}
	}
	var methods []string
	for alg := range v.keys {
		methods = append(methods, alg)
	}
	sort.Strings(methods)
	v.opts = []jwt.ParserOption{
		jwt.WithValidMethods(methods),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(cfg.Leeway),
		jwt.WithStrictDecoding(),
	}
	if cfg.Issuer != "" {
		v.opts = append(v.opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		v.opts = append(v.opts, jwt.WithAudience(cfg.Audience))
	}
	return v, nil
}

func (v *jwtOracle) verify(token string, now time.Time) (*Claims, *Error) {
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
func (v *jwtOracle) key(t *jwt.Token) (any, error) {
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
func (v *jwtOracle) reject(tok *jwt.Token, c *tokenClaims, err error) *Error {
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
func (v *jwtOracle) claimsReason(c *tokenClaims, err error) *Error {
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

// tokenClaims is the claims set as the jwt library sees it during parsing.
// It decodes itself strictly instead of through struct tags, because
// encoding/json matches keys case-insensitively ("SUB" would fill sub) while
// RFC 7515 §5.3 compares member names exactly, and because it turns a
// quoted "123" into a number and null inside an array into "" — a claim of
// the wrong JSON type must make the token malformed, not half-read.
type tokenClaims struct {
	sub, iss, jti string
	aud           jwt.ClaimStrings
	exp, nbf, iat *jwt.NumericDate
	rooms         []string

	// decoded is set once UnmarshalJSON has run: for a payload of JSON null
	// encoding/json never calls it, and such a token is malformed.
	decoded bool
}

// errNoSub is reported through jwt's ClaimsValidator hook, so that a token
// without a subject fails with the other claim checks, after its signature
// has been verified.
var errNoSub = errors.New("sub claim is required")

// UnmarshalJSON reads a JWT Claims Set (RFC 7519 §4). Unknown claims are
// ignored (§4: "claims that are not understood ... MUST be ignored"). For a
// duplicate name the last one wins, which §4 allows.
func (c *tokenClaims) UnmarshalJSON(b []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	if m == nil { // the payload was null
		return errors.New("claims set is not a JSON object")
	}
	c.decoded = true
	var err error
	for name, raw := range m {
		switch name {
		case "sub":
			c.sub, err = jsonString(raw)
		case "iss":
			c.iss, err = jsonString(raw)
		case "jti":
			c.jti, err = jsonString(raw)
		case "aud": // a string or an array of strings, §4.1.3
			if len(raw) > 0 && raw[0] == '"' {
				var s string
				s, err = jsonString(raw)
				c.aud = jwt.ClaimStrings{s}
			} else {
				c.aud, err = jsonStrings(raw)
			}
		case "exp":
			c.exp, err = oracleNumericDate(raw)
		case "nbf":
			c.nbf, err = oracleNumericDate(raw)
		case "iat":
			c.iat, err = oracleNumericDate(raw)
		case "rooms":
			c.rooms, err = jsonStrings(raw)
		}
		if err != nil {
			return fmt.Errorf("claim %q: %w", name, err)
		}
	}
	return nil
}

// jsonString reads a JSON string. raw is one value that encoding/json has
// already validated, so without escapes and with valid UTF-8 (which json
// would rewrite) its inside is the string: a common case worth skipping a
// second decoder for, as this runs for every claim of every handshake.
func jsonString(raw json.RawMessage) (string, error) {
	if len(raw) < 2 || raw[0] != '"' {
		return "", errors.New("not a string")
	}
	if in := raw[1 : len(raw)-1]; bytes.IndexByte(in, '\\') < 0 && utf8.Valid(in) {
		return string(in), nil
	}
	var s string
	err := json.Unmarshal(raw, &s)
	return s, err
}

func jsonStrings(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 || raw[0] != '[' {
		return nil, errors.New("not an array of strings")
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, err
	}
	out := make([]string, len(items))
	for i, it := range items {
		s, err := jsonString(it)
		if err != nil {
			return nil, fmt.Errorf("element %d: %w", i, err)
		}
		out[i] = s
	}
	return out, nil
}

// numericDate reads a NumericDate (RFC 7519 §2): a JSON number of seconds
// since the epoch, possibly fractional. Like the jwt library it keeps whole
// seconds (jwt.TimePrecision).
func oracleNumericDate(raw json.RawMessage) (*jwt.NumericDate, error) {
	if len(raw) == 0 || (raw[0] != '-' && (raw[0] < '0' || raw[0] > '9')) {
		return nil, errors.New("not a number")
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || math.Abs(f) > maxNumericDate {
		return nil, errors.New("not a date in range")
	}
	sec, frac := math.Modf(f)
	return jwt.NewNumericDate(time.Unix(int64(sec), int64(frac*1e9))), nil
}

// The jwt.Claims interface, read by jwt's Validator.

func (c *tokenClaims) GetExpirationTime() (*jwt.NumericDate, error) { return c.exp, nil }
func (c *tokenClaims) GetNotBefore() (*jwt.NumericDate, error)      { return c.nbf, nil }
func (c *tokenClaims) GetIssuedAt() (*jwt.NumericDate, error)       { return c.iat, nil }
func (c *tokenClaims) GetIssuer() (string, error)                   { return c.iss, nil }
func (c *tokenClaims) GetSubject() (string, error)                  { return c.sub, nil }
func (c *tokenClaims) GetAudience() (jwt.ClaimStrings, error)       { return c.aud, nil }

// Validate is jwt's ClaimsValidator hook: wsd needs a subject, since it is
// the user the connection belongs to.
func (c *tokenClaims) Validate() error {
	if c.sub == "" {
		return errNoSub
	}
	return nil
}

func (c *tokenClaims) public() *Claims {
	out := &Claims{
		Subject:  c.sub,
		Issuer:   c.iss,
		Audience: []string(c.aud),
		ID:       c.jti,
		Rooms:    c.rooms,
	}
	if c.exp != nil {
		out.Expires = c.exp.Time
	}
	if c.nbf != nil {
		out.NotBefore = c.nbf.Time
	}
	if c.iat != nil {
		out.IssuedAt = c.iat.Time
	}
	return out
}
