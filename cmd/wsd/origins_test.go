package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsd-dev/wsd/internal/wstest"
)

// -origins takes a list with spaces after the commas, as people write it:
// both entries are allowed, others get 403.
func TestOriginsListWithSpaces(t *testing.T) {
	p := runWSD(t, buildWSD(t), "-origins", "http://a.example, http://b.example")
	for _, origin := range []string{"http://a.example", "http://b.example"} {
		c, err := wstest.Dial(p.addr, "/echo", "Origin: "+origin)
		require.NoError(t, err, "origin %s", origin)
		c.Close()
	}
	_, err := wstest.Dial(p.addr, "/echo", "Origin: http://c.example")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "403")
}
