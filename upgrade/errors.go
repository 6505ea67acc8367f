package upgrade

import "strconv"

// ErrIncomplete is returned by Parse and ParseResponse while the head's end
// has not arrived: call again with more bytes. It is not a failure: its
// Status is 0.
var ErrIncomplete = &Error{Msg: "incomplete head, need more bytes"}

// Error is a failed handshake: the HTTP status to answer with and a one-line
// message saying what was wrong.
type Error struct {
	Status int
	Msg    string
	Header string // an extra response header line without CRLF, or ""
}

func (e *Error) Error() string {
	return "upgrade: " + strconv.Itoa(e.Status) + " " + StatusText(e.Status) + ": " + e.Msg
}

func errorf(status int, msg string) *Error { return &Error{Status: status, Msg: msg} }

// StatusText returns the reason phrase for the statuses this package uses.
func StatusText(code int) string {
	switch code {
	case 101:
		return "Switching Protocols"
	case 200:
		return "OK"
	case 400:
		return "Bad Request"
	case 401:
		return "Unauthorized"
	case 403:
		return "Forbidden"
	case 404:
		return "Not Found"
	case 405:
		return "Method Not Allowed"
	case 409:
		return "Conflict"
	case 413:
		return "Content Too Large"
	case 426:
		return "Upgrade Required"
	case 429:
		return "Too Many Requests"
	case 431:
		return "Request Header Fields Too Large"
	case 500:
		return "Internal Server Error"
	case 503:
		return "Service Unavailable"
	}
	return "Status " + strconv.Itoa(code)
}
