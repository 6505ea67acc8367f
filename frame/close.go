package frame

import (
	"strconv"
	"unicode/utf8"
)

// CloseCode is the status code of a Close frame (RFC 6455 §7.4).
type CloseCode uint16

// Close codes from RFC 6455 §7.4.1 and the IANA registry (§11.7).
const (
	CloseNormal          CloseCode = 1000
	CloseGoingAway       CloseCode = 1001
	CloseProtocolError   CloseCode = 1002
	CloseUnsupportedData CloseCode = 1003
	CloseNoStatus        CloseCode = 1005 // never sent: "no code was present"
	CloseAbnormal        CloseCode = 1006 // never sent: "closed without a Close frame"
	CloseInvalidPayload  CloseCode = 1007
	ClosePolicyViolation CloseCode = 1008
	CloseMessageTooBig   CloseCode = 1009
	CloseMandatoryExt    CloseCode = 1010
	CloseInternalError   CloseCode = 1011
	CloseServiceRestart  CloseCode = 1012
	CloseTryAgainLater   CloseCode = 1013
	CloseBadGateway      CloseCode = 1014
	CloseTLSHandshake    CloseCode = 1015 // never sent
)

// CloseInfo names a close code and says what it means, for the dump tool.
type CloseInfo struct {
	Name    string
	Meaning string
}

var closeTable = map[CloseCode]CloseInfo{
	1000: {"Normal Closure", "the purpose for which the connection was established has been fulfilled"},
	1001: {"Going Away", "an endpoint is going away: a server shutting down or a browser leaving the page"},
	1002: {"Protocol Error", "the endpoint is terminating the connection due to a protocol error"},
	1003: {"Unsupported Data", "the endpoint received a type of data it cannot accept (e.g. binary when it only understands text)"},
	1004: {"Reserved", "reserved; the meaning might be defined in the future"},
	1005: {"No Status Received", "reserved: no status code was present; must not be sent in a Close frame"},
	1006: {"Abnormal Closure", "reserved: the connection closed without a Close frame; must not be sent"},
	1007: {"Invalid Frame Payload Data", "the message contained data inconsistent with its type (e.g. non-UTF-8 in a text message)"},
	1008: {"Policy Violation", "the message violates the endpoint's policy"},
	1009: {"Message Too Big", "the message is too big for the endpoint to process"},
	1010: {"Mandatory Extension", "the client expected the server to negotiate one or more extensions and it did not"},
	1011: {"Internal Error", "the server met an unexpected condition that prevented it from fulfilling the request"},
	1012: {"Service Restart", "the service is restarting"},
	1013: {"Try Again Later", "the service is overloaded or temporarily unavailable"},
	1014: {"Bad Gateway", "a gateway or proxy received an invalid response from the upstream server"},
	1015: {"TLS Handshake", "reserved: the TLS handshake failed; must not be sent"},
}

// Info returns the code's name and meaning. Codes outside the table are
// described by their range (§7.4.2).
func (c CloseCode) Info() CloseInfo {
	if i, ok := closeTable[c]; ok {
		return i
	}
	switch {
	case c < 1000:
		return CloseInfo{"Invalid", "codes 0-999 are not used (RFC 6455 §7.4.2)"}
	case c < 3000:
		return CloseInfo{"Unassigned", "1016-2999 are reserved for this and future revisions of the protocol (§7.4.2)"}
	case c < 4000:
		return CloseInfo{"Registered", "3000-3999 are for libraries, frameworks and applications, registered with IANA"}
	case c < 5000:
		return CloseInfo{"Private", "4000-4999 are for private use by agreement between the endpoints"}
	}
	return CloseInfo{"Invalid", "codes 5000 and above are not defined (§7.4.2)"}
}

// String returns the code with its name, e.g. "1000 (Normal Closure)".
func (c CloseCode) String() string {
	return strconv.Itoa(int(c)) + " (" + c.Info().Name + ")"
}

// CanSend reports whether c may appear in a Close frame on the wire
// (§7.4.1, §7.4.2): 1000-1003, 1007-1014 and 3000-4999.
func (c CloseCode) CanSend() bool {
	switch {
	case c >= 1000 && c <= 1003:
		return true
	case c >= 1007 && c <= 1014:
		return true
	case c >= 3000 && c <= 4999:
		return true
	}
	return false
}

// ParseClose splits a Close frame's payload into its status code and reason
// and validates them (§5.5.1, §7.4): an empty payload means 1005 (no status);
// one byte, or a code that may not be sent, is a protocol error; a reason
// that is not UTF-8 is 1007.
func ParseClose(p []byte) (CloseCode, []byte, error) {
	switch len(p) {
	case 0:
		return CloseNoStatus, nil, nil
	case 1:
		return 0, nil, ErrCloseOneByte
	}
	c := CloseCode(uint16(p[0])<<8 | uint16(p[1]))
	if !c.CanSend() {
		return c, nil, ErrBadCloseCode.with("code " + strconv.Itoa(int(c)))
	}
	reason := p[2:]
	if !utf8.Valid(reason) {
		return c, nil, ErrCloseReasonUTF8
	}
	return c, reason, nil
}

// AppendClose appends a Close payload (code, then reason) to dst. A reason
// is cut to fit the 125-byte control frame limit (§5.5) at a rune boundary.
func AppendClose(dst []byte, code CloseCode, reason string) []byte {
	if code == CloseNoStatus {
		return dst
	}
	reason = truncateUTF8(reason, MaxControlPayload-2)
	dst = append(dst, byte(code>>8), byte(code))
	return append(dst, reason...)
}

// truncateUTF8 cuts s to at most n bytes without splitting a rune.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
