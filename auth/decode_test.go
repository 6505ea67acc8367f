package auth

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Strings with escapes or invalid UTF-8 go through the full JSON decoder,
// plain ones take the short path; both give what encoding/json gives.
func TestClaimStrings(t *testing.T) {
	v := verifierFor(t, "HS256", Config{Audience: "wsd"})
	exp := itoa(now.Add(3600e9).Unix())
	for payload, want := range map[string]Claims{
		`{"sub":"alice","exp":` + exp + `,"aud":"wsd"}`:                                       {Subject: "alice", Audience: []string{"wsd"}},
		`{"sub":"al\u0069ce","exp":` + exp + `,"aud":["w\u0073d"],"rooms":["a\"b","\\"]}`:     {Subject: "alice", Audience: []string{"wsd"}, Rooms: []string{`a"b`, `\`}},
		`{"sub":"a` + "\xff" + `b","exp":` + exp + `,"aud":"wsd","rooms":["` + "\xfe" + `"]}`: {Subject: "a\uFFFDb", Audience: []string{"wsd"}, Rooms: []string{"\uFFFD"}},
		`{"sub":"ünï","exp":` + exp + `,"aud":"wsd","rooms":[]}`:                              {Subject: "ünï", Audience: []string{"wsd"}, Rooms: []string{}},
		`{"sub":"a","sub":"b","exp":` + exp + `,"aud":"wsd"}`:                                 {Subject: "b", Audience: []string{"wsd"}}, // RFC 7519 §4: the last duplicate
	} {
		c, e := v.Verify(signRaw(t, "HS256", []byte(`{"alg":"HS256"}`), []byte(payload)), now)
		require.Nil(t, e, payload)
		assert.Equal(t, want.Subject, c.Subject, payload)
		assert.Equal(t, want.Audience, c.Audience, payload)
		assert.Equal(t, want.Rooms, c.Rooms, payload)
	}
}

// Fractional NumericDates (RFC 7519 §2) are accepted and kept to the second.
func TestNumericDateFraction(t *testing.T) {
	v := verifierFor(t, "HS256", Config{})
	c, e := v.Verify(signRaw(t, "HS256", []byte(`{"alg":"HS256"}`), []byte(`{"sub":"a","exp":`+itoa(now.Unix()+60)+`.9}`)), now)
	require.Nil(t, e)
	assert.Equal(t, now.Unix()+60, c.Expires.Unix())
	assert.Zero(t, c.Expires.Nanosecond())
}
