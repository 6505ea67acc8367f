package auth

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A handshake's check allocates nothing for HMAC and Ed25519, with the
// buffer on the caller's stack as the hub keeps it: a buffer that escaped
// would be 8 KiB a call. (The RSA and ECDSA verifiers of the standard
// library allocate on their own: BenchmarkVerify shows how much.)
func TestCheckAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector drops sync.Pool items, and allocates")
	}
	for _, alg := range []string{"HS256", "HS384", "HS512", "EdDSA"} {
		v, tok := benchTokenT(t, alg)
		allocs := testing.AllocsPerRun(200, func() {
			var buf [CheckBufSize]byte
			c, e := v.Check(tok, now, buf[:])
			if e != nil {
				t.Fatal(e)
			}
			n := 0
			for room, rest, ok := c.Rooms.Cut(); ok; room, rest, ok = rest.Cut() {
				n += len(room)
			}
			if !c.Allows([]byte("alice")) || !c.MayUseRoom([]byte("ops")) || n != len("lobbyops") {
				// Not c itself: formatting it would make buf escape.
				t.Fatal("wrong claims")
			}
		})
		assert.Zero(t, allocs, alg)
	}
}

func benchTokenT(t *testing.T, alg string) (*Verifier, []byte) {
	v := verifierFor(t, alg, Config{Issuer: "https://login.example", Audience: "wsd", Leeway: DefaultLeeway})
	// Escapes, decoded into the buffer.
	payload := `{"sub":"al\u0069ce","exp":` + itoa(now.Unix()+3600) + `,"iat":` + itoa(now.Unix()) +
		`,"iss":"https://login.example","aud":["api","wsd"],"rooms":["lobby","o\u0070s"]}`
	tok := signRaw(t, alg, []byte(`{"alg":"`+alg+`","typ":"JWT"}`), []byte(payload))
	_, e := v.Verify(tok, now)
	require.Nil(t, e)
	return v, []byte(tok)
}
