package auth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
)

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

// maxNumericDate bounds exp, nbf and iat to integers a float64 holds exactly
// (2^53 s, some 285 million years): beyond that, converting to int64 seconds
// is implementation-defined.
const maxNumericDate = 1 << 53

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
			c.exp, err = numericDate(raw)
		case "nbf":
			c.nbf, err = numericDate(raw)
		case "iat":
			c.iat, err = numericDate(raw)
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
func numericDate(raw json.RawMessage) (*jwt.NumericDate, error) {
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
