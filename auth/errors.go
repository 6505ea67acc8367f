package auth

import "net/http"

// Error is a rejected token: the HTTP status to answer with and a short
// reason for the client, meant for a JSON body such as
// {"error":"token expired"}. Reason is one of the Reason* constants, never
// text taken from the token, so a client cannot make the server echo what it
// sent. Err, when set, is the underlying cause for the operator's log (for
// example "payload: invalid JSON at offset 9: bad escape"); it is not meant
// for the client.
type Error struct {
	Status int
	Reason string
	Err    error
}

// Error makes *Error usable where an error is expected (logging, wrapping).
// Check, Verify and TokenFrom return *Error, not error, so that a nil result is
// never a non-nil interface.
func (e *Error) Error() string {
	if e.Err != nil {
		return e.Reason + ": " + e.Err.Error()
	}
	return e.Reason
}

// Unwrap exposes the underlying cause to errors.Is and errors.As.
func (e *Error) Unwrap() error { return e.Err }

// The reasons a token is refused. Each rejection has its own, so that a
// client (and a test) can tell them apart.
const (
	ReasonNoToken         = "no token"
	ReasonTooLong         = "token too long"
	ReasonTwoTokens       = "more than one token"
	ReasonMalformed       = "malformed token"
	ReasonBadSignature    = "bad signature"
	ReasonAlgNone         = "unsigned token (alg none)"
	ReasonAlgNotAllowed   = "algorithm not allowed for the configured key"
	ReasonUnknownAlg      = "unknown algorithm"
	ReasonCrit            = "unsupported critical header"
	ReasonExpired         = "token expired"
	ReasonNotYetValid     = "token not yet valid"
	ReasonIssuedInFuture  = "token issued in the future"
	ReasonWrongIssuer     = "wrong issuer"
	ReasonWrongAudience   = "wrong audience"
	ReasonMissingExp      = "missing exp claim"
	ReasonMissingSub      = "missing sub claim"
	ReasonOtherUser       = "token for another user"
	ReasonRefreshNotLater = "refresh token does not expire later"
)

// Reasons lists every reason a token is refused for, for counters kept by
// reason (metrics).
func Reasons() []string {
	return []string{ReasonNoToken, ReasonTooLong, ReasonTwoTokens, ReasonMalformed, ReasonBadSignature,
		ReasonAlgNone, ReasonAlgNotAllowed, ReasonUnknownAlg, ReasonCrit, ReasonExpired, ReasonNotYetValid,
		ReasonIssuedInFuture, ReasonWrongIssuer, ReasonWrongAudience, ReasonMissingExp, ReasonMissingSub,
		ReasonOtherUser, ReasonRefreshNotLater}
}

func unauthorized(reason string, cause error) *Error {
	return &Error{Status: http.StatusUnauthorized, Reason: reason, Err: cause}
}
