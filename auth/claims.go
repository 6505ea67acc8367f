package auth

import (
	"slices"
	"time"
)

// Claims is what a verified token says about its holder.
type Claims struct {
	// Subject is "sub" (RFC 7519 §4.1.2): the wsd user id. Never empty.
	Subject string
	// Expires is "exp" (RFC 7519 §4.1.4), which wsd requires.
	Expires time.Time
	// NotBefore and IssuedAt are "nbf" and "iat" (§4.1.5, §4.1.6); zero
	// when the token has none.
	NotBefore time.Time
	IssuedAt  time.Time
	// Issuer and Audience are "iss" and "aud" (§4.1.1, §4.1.3).
	Issuer   string
	Audience []string
	// ID is "jti" (§4.1.7), for the caller's logs or a deny list.
	ID string
	// Rooms is the private claim "rooms" (§4.3): the rooms the holder may
	// join, say in and chat in.
	Rooms []string
}

// Allows reports whether the token was issued to user: the caller answers
// 403 ReasonOtherUser when a token for alice opens /ws/bob.
func (c *Claims) Allows(user string) bool {
	return c != nil && c.Subject != "" && c.Subject == user
}

// MayUseRoom reports whether the "rooms" claim lists name. The match is
// exact and case-sensitive: a room name is an identifier, not a pattern,
// and there is no wildcard, so a token grants only what it names.
func (c *Claims) MayUseRoom(name string) bool {
	return c != nil && slices.Contains(c.Rooms, name)
}
