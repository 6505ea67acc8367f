package jsonw

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Whatever the input, the output is one valid JSON string that decodes to
// the input with invalid UTF-8 replaced, and it allocates nothing.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", `quote " and \ backslash`, "tab\tnew\nline\r", "\x00\x1f\x7f", "中文 😀", "\xff\xfe bad", "a\xe4\xb8"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := AppendString(nil, s)
		require.Equal(t, string(out), string(AppendString(nil, []byte(s))), "string and []byte agree")
		var got string
		require.NoError(t, json.Unmarshal(out, &got), "%q", out)
		var want strings.Builder
		for _, r := range s { // one U+FFFD per invalid byte, as range does
			want.WriteRune(r)
		}
		require.Equal(t, want.String(), got)
		if !utf8.ValidString(s) {
			return
		}
		for _, c := range []byte(string(out[1 : len(out)-1])) {
			require.False(t, c < 0x20 || c == 0x7F, "raw control byte in %q", out)
		}
	})
}

func TestAppendStringAllocatesNothing(t *testing.T) {
	buf := make([]byte, 0, 256)
	s := "a \"quoted\" line\n with 中文 and \xff"
	assert.Zero(t, testing.AllocsPerRun(100, func() { AppendString(buf[:0], s) }))
}
