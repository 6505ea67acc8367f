package deflate

import (
	"strconv"

	"github.com/wsd-dev/wsd/frame"
)

// Error is a message that could not be inflated: the connection closes
// with Code. Errors of one kind match with errors.Is, whatever their
// Detail.
type Error struct {
	Code    frame.CloseCode
	Section string // the rule, as "RFC 7692 §7.2.2"
	Reason  string // short; fits a close frame's reason
	Detail  string // what was wrong with the input
	kind    *Error
}

func (e *Error) Error() string {
	s := "deflate: " + e.Reason
	if e.Detail != "" {
		s += " (" + e.Detail + ")"
	}
	return s + " [" + e.Section + ", close " + strconv.Itoa(int(e.Code)) + "]"
}

// Is matches errors of the same kind.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && e.root() == t.root()
}

// CloseReason is the text for the Close frame: the reason and the detail,
// cut to the 123 bytes a control frame leaves for it (all ASCII).
func (e *Error) CloseReason() string {
	s := e.Reason
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	if len(s) > frame.MaxControlPayload-2 {
		s = s[:frame.MaxControlPayload-2]
	}
	return s
}

func (e *Error) root() *Error {
	if e.kind != nil {
		return e.kind
	}
	return e
}

func (e *Error) with(detail string) *Error {
	return &Error{Code: e.Code, Section: e.Section, Reason: e.Reason, Detail: detail, kind: e.root()}
}

// The two ways a message fails to inflate.
var (
	// ErrTooBig: the inflated message would pass the size limit, or the
	// memory budget for messages is spent (RFC 6455 §7.4.1: 1009).
	ErrTooBig = &Error{Code: frame.CloseMessageTooBig, Section: "RFC 6455 §10.4", Reason: "inflated message over the size limit"}
	// ErrCorrupt: the payload with 00 00 ff ff appended is not a complete
	// DEFLATE stream (RFC 7692 §7.2.2; closed with 1007: data not
	// consistent with the message).
	ErrCorrupt = &Error{Code: frame.CloseInvalidPayload, Section: "RFC 7692 §7.2.2", Reason: "compressed payload does not inflate"}
)
