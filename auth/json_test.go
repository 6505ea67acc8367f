package auth

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

// scanObject reads b as the scanner does for a claims set: every member,
// the last of duplicates kept.
func scanObject(b []byte) (map[string]string, error) {
	s := jsonScanner{b: b}
	if err := s.open(); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for {
		m, ok, err := s.member()
		if err != nil {
			return nil, err
		}
		if !ok {
			return out, nil
		}
		out[string(appendUnquoted(nil, m.name))] = string(m.value)
	}
}

// FuzzScannerAgainstEncodingJSON: the scanner accepts exactly the JSON
// objects encoding/json accepts, with the same members (the last of
// duplicates), and decodes strings as it does.
//
//	go test ./auth -run '^$' -fuzz FuzzScannerAgainstEncodingJSON -fuzztime 30s
func FuzzScannerAgainstEncodingJSON(f *testing.F) {
	for _, s := range []string{
		`{}`, ` { "a" : [1, -0.5e+3, true, false, null, {"b": []}] } `, `{"a":"\u00e9\ud83d\ude00\ud800\"\\\/\b\f\n\r\t"}`,
		"{\"a\":\"\xff\xed\xa0\x80\"}", `{"a":1,"a":"x"}`, `{"a":01}`, `{"a":1.}`, `{"a":"\x"}`, `{"a":[1,]}`, `{"a":1}x`, `[1]`,
		`{"\u0073ub":"\uD83D"}`, `{"a":{"b":{"c":[[[]]]}}}`, `{"a":1e400}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > MaxTokenLen {
			return
		}
		mine, err := scanObject(b)
		var theirs map[string]json.RawMessage
		jerr := json.Unmarshal(b, &theirs)
		if jerr == nil && theirs == nil { // null
			jerr = json.Unmarshal([]byte("x"), &theirs)
		}
		if (err == nil) != (jerr == nil) {
			t.Fatalf("%q: scanner %v, encoding/json %v", b, err, jerr)
		}
		if err != nil {
			return
		}
		require.Equal(t, len(theirs), len(mine), "%q", b)
		for name, raw := range theirs {
			require.Equal(t, string(raw), mine[name], "%q: member %q", b, name)
			in, esc, ok := stringValue(raw)
			if !ok {
				continue
			}
			var want string
			require.NoError(t, json.Unmarshal(raw, &want))
			got := string(in)
			if esc {
				got = string(appendUnquoted(nil, in))
			}
			require.Equal(t, want, got, "%q: member %q", b, name)
		}
	})
}
