package load

import (
	"bytes"
	"compress/flate"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The JSON bodies are valid JSON of exactly the size asked, the same for a
// seed and different between seeds, and compress like real messages
// (neither like a repeated pattern nor like noise).
func TestJSONBodies(t *testing.T) {
	for _, size := range []int{MinJSONEchoSize, 100, 333, 1024, 4096} {
		stamp := PushStamp("B", 7, time.Unix(1700000000, 0))
		n := JSONNotification(stamp, size, 3)
		require.Len(t, n, max(size, 86), "or the smallest it can be with this stamp")
		require.True(t, json.Valid(n), "%s", n)
		var v struct {
			Type  string `json:"type"`
			Stamp string `json:"stamp"`
			Items []struct {
				ID  int     `json:"id"`
				Qty int     `json:"qty"`
				P   float64 `json:"price"`
			} `json:"items"`
		}
		require.NoError(t, json.Unmarshal(n, &v))
		assert.Equal(t, string(stamp), v.Stamp)
		_, kind, id, ok := parseStamp([]byte(v.Stamp))
		assert.True(t, ok && kind == "B" && id == 7, "Push finds the stamp")
		assert.Equal(t, n, JSONNotification(stamp, size, 3), "the same seed, the same bytes")
		if size >= 200 {
			assert.NotEqual(t, n, JSONNotification(stamp, size, 4))
		}

		e := &Echo{Size: size, JSON: true}
		body := append([]byte(jsonEchoHead), e.jsonTail(5)...)
		require.Len(t, body, max(size, MinJSONEchoSize))
		assert.True(t, json.Valid(body), "%s", body)
	}
	n := JSONNotification(nil, 1024, 1)
	var z bytes.Buffer
	w, _ := flate.NewWriter(&z, 1)
	w.Write(n)
	w.Flush()
	ratio := float64(z.Len()) / float64(len(n))
	assert.Greater(t, ratio, 0.2, "not a pattern")
	assert.Less(t, ratio, 0.6, "not noise")
	t.Logf("1 KB notification: %d bytes deflated at level 1 (%.2f)", z.Len(), ratio)
}
