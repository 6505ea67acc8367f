package upgrade

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestExtensionElementsKeepQuotedCommas(t *testing.T) {
	var got []string
	for _, e := range ExtensionElements([]byte(` x-foo; a="1,2" ,, permessage-deflate; client_max_window_bits , permessage-deflate`)) {
		got = append(got, string(e))
	}
	assert.Equal(t, []string{`x-foo; a="1,2"`, "permessage-deflate; client_max_window_bits", "permessage-deflate"}, got)
	assert.Equal(t, "x-foo", string(ExtensionName([]byte(`x-foo ; a="1;2"`))))
	assert.Empty(t, ExtensionElements(nil))
}

func TestParseDeflateOfferSaysWhy(t *testing.T) {
	o, err := ParseDeflateOffer([]byte("permessage-deflate; client_max_window_bits; server_max_window_bits=10"))
	require.NoError(t, err)
	assert.Equal(t, DeflateOffer{ClientMaxWindowBits: OfferNoValue, ServerMaxWindowBits: 10}, o)
	for offer, why := range map[string]string{
		"permessage-deflate; foo":                          "unknown parameter",
		"permessage-deflate; server_max_window_bits":       "server_max_window_bits needs a value",
		"permessage-deflate; client_max_window_bits=16":    "client_max_window_bits is not 8..15",
		"permessage-deflate; server_no_context_takeover=1": "takes no value",
		"x-webkit-deflate-frame":                           "not permessage-deflate",
	} {
		_, err := ParseDeflateOffer([]byte(offer))
		require.Error(t, err, offer)
		assert.Contains(t, err.Error(), why, offer)
	}
}
