package main

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The walk-through generator runs a real session and documents each step.
func TestWalkthrough(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, walkthrough(&b))
	doc := b.String()
	for _, want := range []string{
		"## 1. The opening handshake", "✓ matches", "## 2. A masked text frame", `text    "Hello"`,
		"16-bit encoding", "64-bit encoding", "first fragment of a text message", "message reassembled, 11 bytes: \"Hello world\"",
		"## 5. Ping and pong", "close   1000 Normal Closure", "connection ended",
		"## 7. Compression: negotiating permessage-deflate", "offer 1  permessage-deflate; client_max_window_bits  ← accepted",
		"the server added: server_max_window_bits", "## 8. Compressed messages, with context takeover", "text, FIN, masked, compressed",
		"inflated after 101 bytes of this direction's earlier messages",
	} {
		assert.Contains(t, doc, want)
	}
}
