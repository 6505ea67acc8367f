package auth

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// A minimal, strict JSON reader (RFC 8259) for the JOSE Header and the JWT
// Claims Set: it validates a whole value without allocating and hands out
// views of the raw input; strings are decoded only when a claim is kept.
// What it accepts and how it decodes strings is what encoding/json does
// (escapes, surrogate pairs, invalid UTF-8 coerced to U+FFFD), so that a
// token means the same here as for any other JSON reader; RFC 7515 §5.2
// step 3 and RFC 7519 §7.2 step 10 require "a completely valid JSON
// object".

// maxDepth bounds nesting: 8192 levels, more than a value that fits in a
// token can have (MaxTokenLen decodes to 6 KiB), so no valid header or
// claims set is refused for it. The stack is one bit a level.
const maxDepth = 128 * 64

type jsonScanner struct {
	b []byte
	i int
	// floats makes numbers that do not fit a float64 (1e400) errors, as
	// encoding/json makes them when it decodes into any — which is how the
	// header was read before; the claims set never had that rule.
	floats bool
	// started is set once an object's first member has been read.
	started bool
}

type syntaxError struct {
	off int
	msg string
}

func (e *syntaxError) Error() string {
	return fmt.Sprintf("invalid JSON at offset %d: %s", e.off, e.msg)
}

func (s *jsonScanner) fail(msg string) error { return &syntaxError{off: s.i, msg: msg} }

func (s *jsonScanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// member is one name/value pair of an object: the name as it is between
// its quotes (esc when it has escapes or non-ASCII bytes) and the raw
// value, already validated.
type member struct {
	name  []byte
	esc   bool
	value []byte
}

// The members of the one JSON object that b must be, with only whitespace
// around it, in order and duplicates included (the caller keeps the last:
// RFC 7519 §4 and RFC 7515 §4 allow that):
//
//	if err := s.open(); ...
//	for { m, ok, err := s.member(); if err != nil || !ok { ... } }
//
// An iterator rather than a callback: a view passed to a func value
// escapes, and the views here are of the caller's buffer.
func (s *jsonScanner) open() error {
	s.ws()
	if s.i >= len(s.b) || s.b[s.i] != '{' {
		return s.fail("not a JSON object")
	}
	s.i++
	s.ws()
	s.started = false
	return nil
}

// member returns the next member; ok is false after the last, once the
// object has been closed with nothing but whitespace after it.
func (s *jsonScanner) member() (m member, ok bool, err error) {
	if s.started {
		s.ws()
		switch {
		case s.i < len(s.b) && s.b[s.i] == ',':
			s.i++
			s.ws()
		case s.i < len(s.b) && s.b[s.i] == '}':
			return m, false, s.close()
		default:
			return m, false, s.fail("expected ',' or '}'")
		}
	} else if s.i < len(s.b) && s.b[s.i] == '}' {
		return m, false, s.close()
	}
	s.started = true
	if m.name, m.esc, err = s.key(); err != nil {
		return m, false, err
	}
	start := s.i
	if err = s.value(); err != nil {
		return m, false, err
	}
	m.value = s.b[start:s.i]
	return m, true, nil
}

func (s *jsonScanner) close() error {
	s.i++
	s.ws()
	if s.i != len(s.b) {
		return s.fail("data after the object")
	}
	return nil
}

// key reads `"name" :` at s.i (after whitespace) and returns the name.
func (s *jsonScanner) key() ([]byte, bool, error) {
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return nil, false, s.fail("expected a member name")
	}
	start := s.i + 1
	esc, err := s.str()
	if err != nil {
		return nil, false, err
	}
	name := s.b[start : s.i-1]
	s.ws()
	if s.i >= len(s.b) || s.b[s.i] != ':' {
		return nil, false, s.fail("expected ':'")
	}
	s.i++
	s.ws()
	return name, esc, nil
}

// value validates one JSON value at s.i.
func (s *jsonScanner) value() error {
	if s.i < len(s.b) && (s.b[s.i] == '{' || s.b[s.i] == '[') {
		return s.container()
	}
	return s.scalar()
}

// scalar validates a string, number or literal at s.i.
func (s *jsonScanner) scalar() error {
	if s.i >= len(s.b) {
		return s.fail("unexpected end")
	}
	switch c := s.b[s.i]; {
	case c == '"':
		_, err := s.str()
		return err
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	case c == '-' || c >= '0' && c <= '9':
		return s.number()
	}
	return s.fail("expected a value")
}

// container validates an object or array at s.i, iteratively: a bit
// stack tells objects (1) from arrays (0), so depth costs no recursion.
func (s *jsonScanner) container() error {
	var stack [maxDepth / 64]uint64
	depth := 0
	for {
		// A value.
		if s.i >= len(s.b) {
			return s.fail("unexpected end")
		}
		switch c := s.b[s.i]; {
		case c == '{' || c == '[':
			if depth == maxDepth {
				return s.fail("nested too deep")
			}
			s.i++
			s.ws()
			if c == '{' {
				stack[depth/64] |= 1 << (depth % 64)
			} else {
				stack[depth/64] &^= 1 << (depth % 64)
			}
			depth++
			if s.i < len(s.b) && s.b[s.i] == c+2 { // '}' is '{'+2, ']' is '['+2
				s.i++
				depth--
				break
			}
			if c == '{' {
				if _, _, err := s.key(); err != nil {
					return err
				}
			}
			continue
		default:
			if err := s.scalar(); err != nil {
				return err
			}
		}
		// After a value: close containers until one continues.
		for {
			if depth == 0 {
				return nil
			}
			s.ws()
			if s.i >= len(s.b) {
				return s.fail("unexpected end")
			}
			inObject := stack[(depth-1)/64]&(1<<((depth-1)%64)) != 0
			c := s.b[s.i]
			if c == ',' {
				s.i++
				s.ws()
				if inObject {
					if _, _, err := s.key(); err != nil {
						return err
					}
				}
				break
			}
			if inObject && c == '}' || !inObject && c == ']' {
				s.i++
				depth--
				continue
			}
			if inObject {
				return s.fail("expected ',' or '}'")
			}
			return s.fail("expected ',' or ']'")
		}
	}
}

func (s *jsonScanner) literal(lit string) error {
	if len(s.b)-s.i < len(lit) || string(s.b[s.i:s.i+len(lit)]) != lit {
		return s.fail("expected " + lit)
	}
	s.i += len(lit)
	return nil
}

// number reads -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?.
func (s *jsonScanner) number() error {
	start := s.i
	if s.b[s.i] == '-' {
		s.i++
	}
	switch {
	case s.i < len(s.b) && s.b[s.i] == '0':
		s.i++
	case s.i < len(s.b) && s.b[s.i] >= '1' && s.b[s.i] <= '9':
		s.digits()
	default:
		return s.fail("bad number")
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if s.digits() == 0 {
			return s.fail("bad number")
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if s.digits() == 0 {
			return s.fail("bad number")
		}
	}
	if s.floats {
		if _, err := strconv.ParseFloat(view(s.b[start:s.i]), 64); err != nil {
			return &syntaxError{off: start, msg: "number out of range"}
		}
	}
	return nil
}

func (s *jsonScanner) digits() int {
	n := 0
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
		n++
	}
	return n
}

// str reads a string at s.i (its opening quote) through its closing
// quote. esc reports whether decoding it is more than taking its bytes:
// it has escapes or bytes that are not ASCII (which may be invalid UTF-8).
func (s *jsonScanner) str() (esc bool, err error) {
	s.i++
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return esc, nil
		case c < 0x20:
			return esc, s.fail("control character in string")
		case c == '\\':
			esc = true
			if s.i+1 >= len(s.b) {
				return esc, s.fail("unexpected end")
			}
			switch s.b[s.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i += 2
			case 'u':
				if hex4(s.b[s.i+2:]) < 0 {
					return esc, s.fail(`bad \u escape`)
				}
				s.i += 6
			default:
				return esc, s.fail("bad escape")
			}
		default:
			if c >= utf8.RuneSelf {
				esc = true
			}
			s.i++
		}
	}
	return esc, s.fail("unterminated string")
}

// hex4 reads the 4 hex digits of a \u escape, -1 if there are not.
func hex4(b []byte) rune {
	if len(b) < 4 {
		return -1
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}

// appendUnquoted appends the decoded inside of a validated JSON string
// (without its quotes) to dst, as encoding/json decodes it: escapes
// resolved, surrogate pairs joined, a lone surrogate or an invalid UTF-8
// byte each becoming U+FFFD.
func appendUnquoted(dst, in []byte) []byte {
	for r := 0; r < len(in); {
		c := in[r]
		switch {
		case c == '\\':
			if r+1 == len(in) { // not from str, which validated it
				return dst
			}
			switch e := in[r+1]; e {
			case 'b':
				dst = append(dst, '\b')
			case 'f':
				dst = append(dst, '\f')
			case 'n':
				dst = append(dst, '\n')
			case 'r':
				dst = append(dst, '\r')
			case 't':
				dst = append(dst, '\t')
			case 'u':
				rr := hex4(in[r+2:])
				r += 6
				if utf16.IsSurrogate(rr) {
					var rr1 rune = -1
					if r+1 < len(in) && in[r] == '\\' && in[r+1] == 'u' {
						rr1 = hex4(in[r+2:])
					}
					if dec := utf16.DecodeRune(rr, rr1); dec != unicode.ReplacementChar {
						dst = utf8.AppendRune(dst, dec)
						r += 6
						continue
					}
					rr = unicode.ReplacementChar
				}
				dst = utf8.AppendRune(dst, rr)
				continue
			default: // '"', '\\', '/'
				dst = append(dst, e)
			}
			r += 2
		case c < utf8.RuneSelf:
			dst = append(dst, c)
			r++
		default:
			rr, size := utf8.DecodeRune(in[r:])
			dst = utf8.AppendRune(dst, rr)
			r += size
		}
	}
	return dst
}

// stringValue returns the inside of a raw JSON string value (validated)
// and whether it needs decoding; ok is false when raw is not a string.
func stringValue(raw []byte) (in []byte, esc, ok bool) {
	if len(raw) < 2 || raw[0] != '"' {
		return nil, false, false
	}
	in = raw[1 : len(raw)-1]
	for _, c := range in {
		if c == '\\' || c >= utf8.RuneSelf {
			return in, !utf8.Valid(in) || hasByte(in, '\\'), true
		}
	}
	return in, false, true
}

func hasByte(b []byte, c byte) bool {
	for _, x := range b {
		if x == c {
			return true
		}
	}
	return false
}

// view is a string of b's bytes for a call that keeps nothing of it.
func view(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// maxNumericDate bounds exp, nbf and iat to integers a float64 holds exactly
// (2^53 s, some 285 million years): beyond that, converting to int64 seconds
// is implementation-defined.
const maxNumericDate = 1 << 53

var errNotNumber = errors.New("not a number")

// numericDate reads a NumericDate (RFC 7519 §2): a JSON number of seconds
// since the epoch, possibly fractional, kept as whole seconds rounded down
// (as jwt.NumericDate's TimePrecision of a second kept them). A quoted
// number is not a number.
func numericDate(raw []byte) (int64, error) {
	if len(raw) == 0 || (raw[0] != '-' && (raw[0] < '0' || raw[0] > '9')) {
		return 0, errNotNumber
	}
	f, err := strconv.ParseFloat(view(raw), 64)
	if err != nil || math.Abs(f) > maxNumericDate {
		return 0, fmt.Errorf("%s is not a date in range (at most 2^53 seconds either side of 1970)", string(raw))
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).Truncate(time.Second).Unix(), nil
}
