package auth

import (
	"bytes"
	"errors"
	"fmt"
	"time"
)

// CheckBufSize is a scratch buffer for Check that no usual token
// outgrows: any token whose claims set decodes to under 4 KiB (tokens are
// a few hundred bytes). Check works with less, or more, by allocating
// what the buffer lacks.
const CheckBufSize = 8 << 10

// Checked is what Check found in a valid token. Its byte slices are views
// of the buffer given to Check (or of the token): valid while both are
// and not reused. Claims copies them out.
type Checked struct {
	// Subject is "sub" (RFC 7519 §4.1.2), decoded: the wsd user id. Never
	// empty.
	Subject []byte
	// Issuer is "iss" (§4.1.1), empty when absent; ID is "jti" (§4.1.7).
	Issuer []byte
	ID     []byte
	// Expires is "exp" (§4.1.4) in whole seconds since 1970 (RFC 7519 §2
	// NumericDate; a fraction rounds down). wsd requires it.
	Expires int64
	// NotBefore and IssuedAt are "nbf" and "iat" (§4.1.5, §4.1.6), valid
	// when HasNotBefore and HasIssuedAt are set.
	NotBefore, IssuedAt       int64
	HasNotBefore, HasIssuedAt bool
	// Audience is "aud" (§4.1.3), a string or an array of strings, as a
	// list either way.
	Audience List
	// Rooms is the private claim "rooms" (§4.3): the rooms the holder may
	// join, say in and chat in.
	Rooms List
}

// Allows reports whether the token was issued to user (Claims.Allows).
func (c *Checked) Allows(user []byte) bool {
	return len(c.Subject) > 0 && bytes.Equal(c.Subject, user)
}

// MayUseRoom reports whether the "rooms" claim lists room, exactly
// (Claims.MayUseRoom).
func (c *Checked) MayUseRoom(room []byte) bool { return c.Rooms.Contains(room) }

// Expiry is Expires as a time.
func (c *Checked) Expiry() time.Time { return time.Unix(c.Expires, 0) }

// Claims copies the token's claims out of the buffer.
func (c *Checked) Claims() *Claims {
	out := &Claims{
		Subject:  string(c.Subject),
		Expires:  time.Unix(c.Expires, 0),
		Issuer:   string(c.Issuer),
		Audience: c.Audience.Strings(),
		ID:       string(c.ID),
		Rooms:    c.Rooms.Strings(),
	}
	if c.HasNotBefore {
		out.NotBefore = time.Unix(c.NotBefore, 0)
	}
	if c.HasIssuedAt {
		out.IssuedAt = time.Unix(c.IssuedAt, 0)
	}
	return out
}

// List is a claim that holds strings, decoded into the buffer given to
// Check: each string as its length (2 bytes, big-endian) and its bytes.
// The zero List is an absent claim.
type List struct {
	enc []byte
	n   int
	set bool
}

// Present reports whether the token had the claim, possibly empty.
func (l List) Present() bool { return l.set }

// Len is the number of strings.
func (l List) Len() int { return l.n }

// Key is the list's encoding: two lists have the same Key exactly when
// they hold the same strings in the same order, whatever JSON spelled them
// (escapes, spacing). Callers use it to intern sets without decoding them
// again; it is a view like the strings.
func (l List) Key() []byte { return l.enc }

// Contains reports whether s is one of the strings, compared exactly.
func (l List) Contains(s []byte) bool { return l.has(view(s)) }

func (l List) has(s string) bool {
	for e := l.enc; len(e) >= 2; {
		n := int(e[0])<<8 | int(e[1])
		if string(e[2:2+n]) == s {
			return true
		}
		e = e[2+n:]
	}
	return false
}

// Cut returns the first string and the rest of the list; ok is false
// when the list is empty. It walks a list without a func value, since a
// view passed to one escapes — and with it the caller's buffer:
//
//	for room, rest, ok := c.Rooms.Cut(); ok; room, rest, ok = rest.Cut() {
func (l List) Cut() (first []byte, rest List, ok bool) {
	if len(l.enc) < 2 {
		return nil, List{set: l.set}, false
	}
	n := int(l.enc[0])<<8 | int(l.enc[1])
	return l.enc[2 : 2+n : 2+n], List{enc: l.enc[2+n:], n: l.n - 1, set: true}, true
}

// Strings copies the strings out: nil when the claim was absent, empty
// (not nil) when it was [].
func (l List) Strings() []string {
	if !l.set {
		return nil
	}
	out := make([]string, 0, l.n)
	for e := l.enc; len(e) >= 2; {
		n := int(e[0])<<8 | int(e[1])
		out = append(out, string(e[2:2+n]))
		e = e[2+n:]
	}
	return out
}

// Check verifies a compact JWS token (RFC 7515 §7.1) and its claims as of
// now, without allocating: it decodes into buf (a CheckBufSize array on
// the caller's stack will do) and returns views of it, so that a
// handshake makes no garbage. It only reads token, which it does not keep;
// token escapes to the hash, so it should not be on the caller's stack
// (a request's bytes are not). On refusal it allocates its *Error.
//
// The checks follow RFC 7519 §7.2, in this order: three base64url parts,
// the header a JSON object whose "alg" is a string (else malformed), the
// payload's base64url, an alg the configured keys verify (never "none",
// RFC 8725 §3.1; a name RFC 7518 lists that no key verifies is "not
// allowed", any other "unknown"), no "crit" extension (RFC 7515 §4.1.11:
// we understand none), the signature (RFC 7515 §5.2 step 8), and only
// then the payload's JSON (RFC 7519 §7.2 step 10): a JSON object whose
// registered claims have their JSON types (a quoted exp is malformed;
// names are case-sensitive, §10.1; for a duplicate name the last counts,
// §4), then exp required and in the future, sub non-empty, nbf and iat
// not in the future, all within the leeway; iss and aud when configured.
// Every failure is a 401 with its own Reason; a token longer than
// MaxTokenLen is 431 before any decoding.
func (v *Verifier) Check(token []byte, now time.Time, buf []byte) (Checked, *Error) {
	if len(token) > MaxTokenLen {
		return Checked{}, tooLong()
	}
	if len(token) == 0 {
		return Checked{}, unauthorized(ReasonNoToken, nil)
	}
	seg, err := split(token)
	if err != nil {
		return Checked{}, unauthorized(ReasonMalformed, err)
	}
	// The header takes the start of buf, then the payload, then the
	// signature after it, and the claims' decoded strings after the
	// payload once the signature has been checked.
	h, err := decodeSegment(buf, seg.header, "header")
	if err != nil {
		return Checked{}, unauthorized(ReasonMalformed, err)
	}
	alg, algRaw, crit, err := header(h)
	if err != nil {
		return Checked{}, unauthorized(ReasonMalformed, err)
	}
	payload, err := decodeSegment(buf, seg.payload, "payload")
	if err != nil {
		return Checked{}, unauthorized(ReasonMalformed, err)
	}
	switch {
	case alg == algNone:
		return Checked{}, unauthorized(ReasonAlgNone, errors.New(`"alg":"none" is never accepted (RFC 8725 §3.1)`))
	case alg == algUnknown:
		return Checked{}, unauthorized(ReasonUnknownAlg, fmt.Errorf(`"alg":%s is not a JWS algorithm name (RFC 7518 §3.1)`, clip(algRaw)))
	case v.keys[alg] == nil:
		return Checked{}, unauthorized(ReasonAlgNotAllowed, fmt.Errorf("alg %s: the configured keys verify %v", algNames[alg], v.methods))
	}
	sig, err := decodeSegment(payload[len(payload):], seg.signature, "signature")
	if err != nil {
		return Checked{}, unauthorized(ReasonMalformed, err)
	}
	if crit {
		return Checked{}, unauthorized(ReasonCrit, errors.New(`"crit" header present; no extension is understood (RFC 7515 §4.1.11)`))
	}
	if !v.verifySignature(alg, seg.signingInput, sig) {
		return Checked{}, unauthorized(ReasonBadSignature, fmt.Errorf("%s: %w", algNames[alg], errBadSignature))
	}
	var c Checked
	var exp bool
	if c, exp, err = readClaims(payload); err != nil {
		return Checked{}, unauthorized(ReasonMalformed, err)
	}
	if e := v.validate(&c, exp, now); e != nil {
		return Checked{}, e
	}
	return c, nil
}

// clip is the start of b as a string, for an error message.
func clip(b []byte) string {
	if len(b) > 64 {
		return string(b[:64]) + "…"
	}
	return string(b)
}

// readClaims reads the JWT Claims Set (RFC 7519 §4) of a verified token:
// strict JSON, case-sensitive names, each registered claim of its JSON
// type or the token is malformed — nothing is half-read. Unknown claims
// are ignored (§4: they "MUST be ignored"). Strings that need decoding,
// and the lists, go after the payload in its buffer.
func readClaims(payload []byte) (c Checked, hasExp bool, err error) {
	var raw struct{ sub, iss, jti, aud, exp, nbf, iat, rooms []byte }
	s := jsonScanner{b: payload}
	if err = s.open(); err != nil {
		return c, false, fmt.Errorf("payload: %w", err)
	}
	for {
		m, ok, err := s.member()
		if err != nil {
			return c, false, fmt.Errorf("payload: %w", err)
		}
		if !ok {
			break
		}
		var nb [96]byte
		switch string(memberName(m, &nb)) { // the last of duplicates wins
		case "sub":
			raw.sub = m.value
		case "iss":
			raw.iss = m.value
		case "jti":
			raw.jti = m.value
		case "aud":
			raw.aud = m.value
		case "exp":
			raw.exp = m.value
		case "nbf":
			raw.nbf = m.value
		case "iat":
			raw.iat = m.value
		case "rooms":
			raw.rooms = m.value
		}
	}
	arena := payload[len(payload):]
	if raw.sub != nil {
		if c.Subject, arena, err = str(arena, raw.sub); err != nil {
			return c, false, fmt.Errorf(`claim "sub": %s is %w`, clip(raw.sub), err)
		}
	}
	if raw.iss != nil {
		if c.Issuer, arena, err = str(arena, raw.iss); err != nil {
			return c, false, fmt.Errorf(`claim "iss": %s is %w`, clip(raw.iss), err)
		}
	}
	if raw.jti != nil {
		if c.ID, arena, err = str(arena, raw.jti); err != nil {
			return c, false, fmt.Errorf(`claim "jti": %s is %w`, clip(raw.jti), err)
		}
	}
	if raw.exp != nil {
		if c.Expires, err = numericDate(raw.exp); err != nil {
			return c, false, fmt.Errorf(`claim "exp": %w`, err)
		}
	}
	if raw.nbf != nil {
		if c.NotBefore, err = numericDate(raw.nbf); err != nil {
			return c, false, fmt.Errorf(`claim "nbf": %w`, err)
		}
		c.HasNotBefore = true
	}
	if raw.iat != nil {
		if c.IssuedAt, err = numericDate(raw.iat); err != nil {
			return c, false, fmt.Errorf(`claim "iat": %w`, err)
		}
		c.HasIssuedAt = true
	}
	if raw.aud != nil { // a string or an array of strings, §4.1.3
		if c.Audience, arena, err = list(arena, raw.aud, true); err != nil {
			return c, false, fmt.Errorf(`claim "aud": %w`, err)
		}
	}
	if raw.rooms != nil {
		if c.Rooms, _, err = list(arena, raw.rooms, false); err != nil {
			return c, false, fmt.Errorf(`claim "rooms": %w`, err)
		}
	}
	return c, raw.exp != nil, nil
}

// memberName is a member's name decoded, in b when it had escapes; nil
// when it is too long to be a registered claim's.
func memberName(m member, b *[96]byte) []byte {
	if !m.esc {
		return m.name
	}
	// An escape is at most 6 bytes per character, so a longer raw name is
	// none of ours; decoded, 32 raw bytes are at most 96.
	if len(m.name) > 32 {
		return nil
	}
	return appendUnquoted(b[:0], m.name)
}

var (
	errNotString  = errors.New("not a string")
	errNotStrings = errors.New("not an array of strings")
	errTooLong    = errors.New("a string decodes to more than 65535 bytes")
)

// str decodes a string claim: a view of the payload when it has no
// escapes and is valid UTF-8, else decoded onto arena.
func str(arena, raw []byte) (s, rest []byte, err error) {
	in, esc, ok := stringValue(raw)
	if !ok {
		return nil, arena, errNotString
	}
	if !esc {
		return in, arena, nil
	}
	start := len(arena)
	arena = appendUnquoted(arena, in)
	return arena[start:len(arena):len(arena)], arena, nil
}

// list decodes an array of strings (or, with one, a single string) onto
// arena in List's encoding.
func list(arena, raw []byte, one bool) (List, []byte, error) {
	start := len(arena)
	l := List{set: true}
	if one && len(raw) > 0 && raw[0] == '"' {
		var err error
		if arena, err = appendElem(arena, raw); err != nil {
			return List{}, arena, err
		}
		l.n = 1
	} else {
		if len(raw) == 0 || raw[0] != '[' {
			return List{}, arena, errNotStrings
		}
		// raw is a valid array: its elements are values separated by
		// commas and whitespace, each of which must be a string.
		s := jsonScanner{b: raw, i: 1}
		for {
			s.ws()
			if s.b[s.i] == ']' {
				break
			}
			if s.b[s.i] != '"' {
				return List{}, arena, fmt.Errorf("element %d: %w", l.n, errNotString)
			}
			from := s.i
			if _, err := s.str(); err != nil { // cannot fail: validated
				return List{}, arena, err
			}
			var err error
			if arena, err = appendElem(arena, raw[from:s.i]); err != nil {
				return List{}, arena, err
			}
			l.n++
			s.ws()
			if s.b[s.i] == ',' {
				s.i++
			}
		}
	}
	l.enc = arena[start:len(arena):len(arena)]
	return l, arena, nil
}

func appendElem(arena, raw []byte) ([]byte, error) {
	in, esc, _ := stringValue(raw)
	at := len(arena)
	arena = append(arena, 0, 0)
	if esc {
		arena = appendUnquoted(arena, in)
	} else {
		arena = append(arena, in...)
	}
	n := len(arena) - at - 2
	if n > 0xFFFF {
		return arena[:at], errTooLong
	}
	arena[at], arena[at+1] = byte(n>>8), byte(n)
	return arena, nil
}

// validate applies RFC 7519 §4.1's checks to a claims set, in an order
// that gives one reason when several fail: missing claims first, then
// time, then who the token is for. Times compare as the jwt library did:
// valid while now < exp+leeway (§4.1.4: "on or after" is expired), and
// from nbf-leeway and iat-leeway on (§4.1.5; a future iat is refused,
// which §4.1.6 leaves to us).
func (v *Verifier) validate(c *Checked, hasExp bool, now time.Time) *Error {
	switch {
	case !hasExp: // a token without exp would be valid forever
		return unauthorized(ReasonMissingExp, errors.New(`no "exp" claim; wsd requires one`))
	case len(c.Subject) == 0:
		return unauthorized(ReasonMissingSub, errors.New(`no "sub" claim, or an empty one: it names the user`))
	}
	if exp := time.Unix(c.Expires, 0); !now.Before(exp.Add(v.leeway)) {
		return unauthorized(ReasonExpired, fmt.Errorf("exp %d is %v ago (leeway %v)", c.Expires, now.Sub(exp), v.leeway))
	}
	if nbf := time.Unix(c.NotBefore, 0); c.HasNotBefore && now.Before(nbf.Add(-v.leeway)) {
		return unauthorized(ReasonNotYetValid, fmt.Errorf("nbf %d is %v ahead (leeway %v)", c.NotBefore, nbf.Sub(now), v.leeway))
	}
	if iat := time.Unix(c.IssuedAt, 0); c.HasIssuedAt && now.Before(iat.Add(-v.leeway)) {
		return unauthorized(ReasonIssuedInFuture, fmt.Errorf("iat %d is %v ahead (leeway %v)", c.IssuedAt, iat.Sub(now), v.leeway))
	}
	if v.issuer != "" && string(c.Issuer) != v.issuer { // RFC 8725 §3.8
		return unauthorized(ReasonWrongIssuer, fmt.Errorf("iss %q, want %q", string(c.Issuer), v.issuer))
	}
	if v.audience != "" && !c.Audience.has(v.audience) { // RFC 8725 §3.9
		return unauthorized(ReasonWrongAudience, fmt.Errorf("aud %q does not list %q", c.Audience.Strings(), v.audience))
	}
	return nil
}
