package frame

import (
	"errors"
	"fmt"
	"strings"
)

// ErrNeedMore is returned by the incremental parsers when the input ends
// before a header is complete. The bytes given were consumed (kept in the
// parser's state); call again with more.
var ErrNeedMore = errors.New("frame: need more bytes")

// ProtocolError is a violation of RFC 6455 by the peer. Code is the close
// code to answer with; Section the RFC section that was violated.
type ProtocolError struct {
	Code    CloseCode
	Section string
	Reason  string // short; fits a close frame's reason
	Detail  string // the offending input, if any
	kind    *ProtocolError
}

func (e *ProtocolError) Error() string {
	s := "websocket: " + e.Reason
	if e.Detail != "" {
		s += " (" + e.Detail + ")"
	}
	ref := e.Section
	if !strings.HasPrefix(ref, "RFC ") {
		ref = "RFC 6455 §" + ref
	}
	return fmt.Sprintf("%s [%s, close %d]", s, ref, e.Code)
}

// CloseReason is the text to put in the Close frame: the reason and the
// detail, cut to fit the 123 bytes a control frame leaves for it.
func (e *ProtocolError) CloseReason() string {
	s := e.Reason
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return truncateUTF8(s, MaxControlPayload-2)
}

// Is matches errors of the same kind, whatever their detail, so that
// errors.Is(err, frame.ErrReservedOpcode) holds for every reserved opcode.
func (e *ProtocolError) Is(target error) bool {
	t, ok := target.(*ProtocolError)
	return ok && e.root() == t.root()
}

func (e *ProtocolError) root() *ProtocolError {
	if e.kind != nil {
		return e.kind
	}
	return e
}

// with returns a copy of e naming the offending input.
func (e *ProtocolError) with(detail string) *ProtocolError {
	c := *e
	c.Detail = detail
	c.kind = e.root()
	return &c
}

func perr(code CloseCode, section, reason string) *ProtocolError {
	return &ProtocolError{Code: code, Section: section, Reason: reason}
}

// The violations the reader detects. Match them with errors.Is.
var (
	ErrLength64MSB        = perr(CloseProtocolError, "5.2", "64-bit payload length with the most significant bit set")
	ErrNonMinimalLength   = perr(CloseProtocolError, "5.2", "payload length not in its minimal encoding")
	ErrReservedOpcode     = perr(CloseProtocolError, "5.2", "reserved opcode")
	ErrReservedBits       = perr(CloseProtocolError, "5.2", "RSV bits set without a negotiated extension")
	ErrControlTooLong     = perr(CloseProtocolError, "5.5", "control frame payload over 125 bytes")
	ErrControlFragmented  = perr(CloseProtocolError, "5.5", "fragmented control frame")
	ErrUnmaskedClient     = perr(CloseProtocolError, "5.1", "client frame not masked")
	ErrMaskedServer       = perr(CloseProtocolError, "5.1", "server frame masked")
	ErrUnexpectedContinue = perr(CloseProtocolError, "5.4", "continuation frame without a message to continue")
	ErrExpectedContinue   = perr(CloseProtocolError, "5.4", "new data frame inside an unfinished fragmented message")
	ErrInvalidUTF8        = perr(CloseInvalidPayload, "8.1", "text message is not valid UTF-8")
	ErrMessageTooBig      = perr(CloseMessageTooBig, "10.4", "message over the size limit")
	ErrCompressedNotFirst = perr(CloseProtocolError, "RFC 7692 §6.1", "RSV1 (compressed) on a control frame or a continuation")

	ErrCloseOneByte    = perr(CloseProtocolError, "5.5.1", "close payload of 1 byte")
	ErrBadCloseCode    = perr(CloseProtocolError, "7.4", "invalid close code")
	ErrCloseReasonUTF8 = perr(CloseInvalidPayload, "5.5.1", "close reason is not valid UTF-8")
)
