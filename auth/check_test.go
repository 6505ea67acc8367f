package auth

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// checkRaw signs a payload under HS256 and checks it with Check.
func checkRaw(t *testing.T, v *Verifier, payload string, buf []byte) Checked {
	t.Helper()
	c, e := v.Check([]byte(signRaw(t, "HS256", []byte(`{"alg":"HS256"}`), []byte(payload))), now, buf)
	require.Nil(t, e, payload)
	return c
}

// Check's views: the subject, the lists and their keys.
func TestCheckedViews(t *testing.T) {
	v := verifierFor(t, "HS256", Config{})
	exp := itoa(now.Unix() + 60)
	var buf [CheckBufSize]byte
	c := checkRaw(t, v, `{"sub":"al\u0069ce","exp":`+exp+`,"iat":`+itoa(now.Unix())+`,"jti":"j","rooms":["lobby","o\u0070s",""]}`, buf[:])
	assert.Equal(t, "alice", string(c.Subject))
	assert.True(t, c.Allows([]byte("alice")))
	assert.False(t, c.Allows([]byte("alic")))
	assert.Equal(t, now.Unix()+60, c.Expires)
	assert.Equal(t, now.Unix()+60, c.Expiry().Unix())
	assert.True(t, c.HasIssuedAt)
	assert.False(t, c.HasNotBefore)
	assert.Equal(t, "j", string(c.ID))
	assert.Equal(t, 3, c.Rooms.Len())
	assert.True(t, c.MayUseRoom([]byte("ops")))
	assert.True(t, c.MayUseRoom([]byte("")))
	assert.False(t, c.MayUseRoom([]byte("Ops")))
	var got []string
	for room, rest, ok := c.Rooms.Cut(); ok; room, rest, ok = rest.Cut() {
		got = append(got, string(room))
	}
	assert.Equal(t, []string{"lobby", "ops", ""}, got)
	assert.Equal(t, got, c.Rooms.Strings())
	assert.False(t, c.Audience.Present())
	assert.Nil(t, c.Audience.Strings())

	// The same rooms spelled otherwise have the same key; other rooms, or
	// the same in another order, another.
	key := string(c.Rooms.Key())
	same := checkRaw(t, v, `{"sub":"a","exp":`+exp+`,"rooms":[ "lob\u0062y" , "ops","" ]}`, nil)
	assert.Equal(t, key, string(same.Rooms.Key()))
	for _, rooms := range []string{`["ops","lobby",""]`, `["lobby","ops"]`, `["lobby\u0000ops",""]`, `["lobbyops",""]`, `[]`} {
		other := checkRaw(t, v, `{"sub":"a","exp":`+exp+`,"rooms":`+rooms+`}`, nil)
		assert.NotEqual(t, key, string(other.Rooms.Key()), rooms)
	}
	// A present empty list is not an absent one.
	empty := checkRaw(t, v, `{"sub":"a","exp":`+exp+`,"rooms":[]}`, nil)
	assert.True(t, empty.Rooms.Present())
	assert.Equal(t, []string{}, empty.Rooms.Strings())
	_, _, ok := empty.Rooms.Cut()
	assert.False(t, ok)
}

// Any buffer works: too small for the payload, or for the decoded
// strings after it, Check allocates what it lacks, and the views of the
// first buffer stay good.
func TestCheckBufferSizes(t *testing.T) {
	v := verifierFor(t, "HS256", Config{})
	long := strings.Repeat(`\u0061`, 300)
	payload := `{"sub":"` + long + `","exp":` + itoa(now.Unix()+60) + `,"rooms":["` + long + `","b"]}`
	want := strings.Repeat("a", 300)
	for _, n := range []int{0, 1, 100, len(payload), len(payload) + 310, len(payload) + 700, CheckBufSize} {
		c := checkRaw(t, v, payload, make([]byte, n))
		assert.Equal(t, want, string(c.Subject), n)
		assert.Equal(t, []string{want, "b"}, c.Rooms.Strings(), n)
	}
}
