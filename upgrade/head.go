package upgrade

import (
	"bytes"
	"encoding/binary"
)

// DefaultMaxHead is the largest request head accepted by default (→ 431).
const DefaultMaxHead = 8 << 10

// lines walks the header lines of a head (after its first line). It stops
// at the blank line that ends the head (done), at the end of the input
// (the head is incomplete), or at a malformed line (err).
type lines struct {
	rest        []byte
	name, value []byte
	done        bool
	err         *Error
}

// next moves to the next header field and reports whether there is one.
func (l *lines) next() bool {
	i := bytes.IndexByte(l.rest, '\n')
	if i < 0 {
		return false // incomplete: the line has not fully arrived
	}
	if i == 0 || l.rest[i-1] != '\r' {
		l.err = errorf(400, "header line not ended by CRLF")
		return false
	}
	line := l.rest[:i-1]
	l.rest = l.rest[i+1:]
	if len(line) == 0 {
		l.done = true // the blank line ending the head
		return false
	}
	if line[0] == ' ' || line[0] == '\t' {
		l.err = errorf(400, "obsolete header line folding") // RFC 7230 §3.2.4
		return false
	}
	c := bytes.IndexByte(line, ':')
	if c <= 0 || !isToken(line[:c]) {
		l.err = errorf(400, "malformed header line "+quote(line))
		return false
	}
	l.name = line[:c]
	l.value = trimOWS(line[c+1:])
	if hasCTL(l.value) {
		l.err = errorf(400, "control character in header "+quote(l.name))
		return false
	}
	return true
}

// hasCTL reports whether b holds a control character other than HTAB
// (RFC 7230 §3.2: not allowed in a field value). Eight bytes at a time: a
// word with no byte below 0x20 and none equal to 0x7F is skipped at once.
func hasCTL(b []byte) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	for len(b) >= 8 {
		x := binary.LittleEndian.Uint64(b)
		below20 := (x - 0x20*ones) &^ x & highs
		is7F := ((x ^ 0x7F*ones) - ones) &^ (x ^ 0x7F*ones) & highs
		if below20|is7F != 0 && ctlByte(b[:8]) {
			return true
		}
		b = b[8:]
	}
	return ctlByte(b)
}

func ctlByte(b []byte) bool {
	for _, c := range b {
		if c < 0x20 && c != '\t' || c == 0x7F {
			return true
		}
	}
	return false
}

// tokenChar marks the tchar set of RFC 7230 §3.2.6.
var tokenChar = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-32] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !tokenChar[c] {
			return false
		}
	}
	return true
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// equalFold compares ASCII case-insensitively, without allocating.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		x, y := b[i], s[i]
		if x == y {
			continue
		}
		if x|0x20 != y|0x20 || x|0x20 < 'a' || x|0x20 > 'z' {
			return false
		}
	}
	return true
}

// hasToken reports whether the comma-separated list v holds token
// (case-insensitive), as in "keep-alive, Upgrade".
func hasToken(v []byte, token string) bool {
	found := false
	eachToken(v, func(t []byte) bool {
		found = equalFold(t, token)
		return !found
	})
	return found
}

// eachToken calls fn for each item of a comma-separated list.
func eachToken(v []byte, fn func([]byte) bool) bool {
	for len(v) > 0 {
		i := bytes.IndexByte(v, ',')
		var item []byte
		if i < 0 {
			item, v = v, nil
		} else {
			item, v = v[:i], v[i+1:]
		}
		if item = trimOWS(item); len(item) > 0 && !fn(item) {
			return false
		}
	}
	return true
}

// quote renders bytes for an error message, shortened.
func quote(b []byte) string {
	const max = 40
	s := b
	if len(s) > max {
		s = s[:max]
	}
	out := make([]byte, 0, len(s)+8)
	out = append(out, '"')
	for _, c := range s {
		if c < 0x20 || c >= 0x7F || c == '"' || c == '\\' {
			out = append(out, '\\', 'x', "0123456789abcdef"[c>>4], "0123456789abcdef"[c&15])
		} else {
			out = append(out, c)
		}
	}
	out = append(out, '"')
	if len(b) > max {
		out = append(out, "…"...)
	}
	return string(out)
}
