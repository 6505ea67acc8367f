package auth

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const jwtish = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln"

func TestTokenFromQuery(t *testing.T) {
	for query, want := range map[string]string{
		"token=" + jwtish:                         jwtish,
		"user=alice&token=" + jwtish + "&since=3": jwtish,
		"since=3&token=" + jwtish:                 jwtish,
		// percent-encoded, as url.QueryEscape or a browser's URLSearchParams writes it
		"token=" + strings.ReplaceAll(jwtish, ".", "%2E"): jwtish,
		"token=" + url.QueryEscape("a b+c/d=="):           "a b+c/d==",
		"token=a+b":                                       "a b", // form encoding: + is a space
		"tokens=x&token=" + jwtish:                        jwtish,
	} {
		got, e := TokenFrom([]byte(query), nil)
		require.Nil(t, e, query)
		assert.Equal(t, want, got, query)
	}
}

func TestTokenFromHeader(t *testing.T) {
	for _, h := range []string{
		"Bearer " + jwtish,
		"bearer " + jwtish,
		"BEARER " + jwtish,
		"Bearer   " + jwtish + "  ",
		"Bearer\t" + jwtish,
		" Bearer " + jwtish,
	} {
		got, e := TokenFrom(nil, []byte(h))
		require.Nil(t, e, "%q", h)
		assert.Equal(t, jwtish, got, "%q", h)
	}
}

func TestTokenFromNone(t *testing.T) {
	for _, tc := range []struct{ query, header string }{
		{"", ""},
		{"user=alice", ""},
		{"token=", ""},
		{"token", ""},
		{"xtoken=" + jwtish, ""},
		{"", "Bearer"},
		{"", "Bearer "},
		{"", "Basic YWxpY2U6cHc="}, // another scheme is not ours
		{"", "Bearer" + jwtish},    // no space: not the Bearer scheme
		{"", "Token " + jwtish},
	} {
		_, e := TokenFrom([]byte(tc.query), []byte(tc.header))
		require.NotNil(t, e, "%+v", tc)
		assert.Equal(t, &Error{Status: http.StatusUnauthorized, Reason: ReasonNoToken}, e, "%+v", tc)
	}
}

// Both places, or the query twice: refused (RFC 6750 §2, §3.1), not a
// silent choice.
func TestTokenFromTwice(t *testing.T) {
	for _, tc := range []struct{ query, header string }{
		{"token=" + jwtish, "Bearer " + jwtish},
		{"token=a", "Bearer b"},
		{"token=a&token=b", ""},
		{"token=a&token=", ""},
	} {
		_, e := TokenFrom([]byte(tc.query), []byte(tc.header))
		require.NotNil(t, e, "%+v", tc)
		assert.Equal(t, http.StatusBadRequest, e.Status)
		assert.Equal(t, ReasonTwoTokens, e.Reason)
	}
	// A Basic header beside a query token is not a second token.
	got, e := TokenFrom([]byte("token=a"), []byte("Basic YWxpY2U6cHc="))
	require.Nil(t, e)
	assert.Equal(t, "a", got)
}

func TestTokenFromBadEscape(t *testing.T) {
	_, e := TokenFrom([]byte("token=abc%zz"), nil)
	require.NotNil(t, e)
	assert.Equal(t, ReasonMalformed, e.Reason)
	assert.Equal(t, 401, e.Status)
}

func TestTokenFromTooLong(t *testing.T) {
	exact := strings.Repeat("a", MaxTokenLen)
	over := exact + "a"

	got, e := TokenFrom([]byte("token="+exact), nil)
	require.Nil(t, e)
	assert.Len(t, got, MaxTokenLen)
	got, e = TokenFrom(nil, []byte("Bearer "+exact))
	require.Nil(t, e)
	assert.Len(t, got, MaxTokenLen)
	// Encoded, the raw query is longer than the limit but decodes within it.
	got, e = TokenFrom([]byte("token="+strings.Repeat("%61", MaxTokenLen)), nil)
	require.Nil(t, e)
	assert.Equal(t, exact, got)

	for name, tc := range map[string]struct{ query, header string }{
		"query":                 {"token=" + over, ""},
		"query encoded":         {"token=" + strings.Repeat("%61", MaxTokenLen+1), ""},
		"query raw beyond 3x":   {"token=" + strings.Repeat("%", 3*MaxTokenLen+1), ""}, // refused before decoding: it would be a bad escape
		"header":                {"", "Bearer " + over},
		"header, query present": {"user=a", "Bearer " + over},
	} {
		_, e := TokenFrom([]byte(tc.query), []byte(tc.header))
		require.NotNil(t, e, name)
		assert.Equal(t, &Error{Status: http.StatusRequestHeaderFieldsTooLarge, Reason: ReasonTooLong}, e, name)
	}
}

// TokenBytes is a view of the request where nothing was escaped, and
// allocates nothing then.
func TestTokenBytesViewAllocatesNothing(t *testing.T) {
	q := []byte("user=a&token=" + jwtish + "&since=1")
	got, e := TokenBytes(q, nil)
	require.Nil(t, e)
	assert.Equal(t, jwtish, string(got))
	assert.Same(t, &q[len("user=a&token=")], &got[0])
	h := []byte("Bearer " + jwtish)
	got, e = TokenBytes(nil, h)
	require.Nil(t, e)
	assert.Same(t, &h[len("Bearer ")], &got[0])
	if !raceEnabled {
		assert.Zero(t, testing.AllocsPerRun(100, func() { _, _ = TokenBytes(q, nil) }))
		assert.Zero(t, testing.AllocsPerRun(100, func() { _, _ = TokenBytes(nil, h) }))
	}

	// A name without a value still counts as a token= parameter.
	_, e = TokenBytes([]byte("token&token=a"), nil)
	require.NotNil(t, e)
	assert.Equal(t, ReasonTwoTokens, e.Reason)
}
