package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/internal/wstest"
)

// -deflate on (the default), takeover with -deflate-window-bits, and off,
// through the binary: what each answers to a browser's offer, and that a
// compressed message comes back compressed (on) or plain (off).
func TestDeflateFlags(t *testing.T) {
	bin := buildWSD(t)
	const offer = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits"
	body := bytes.Repeat([]byte(`{"type":"message","body":"hello"} `), 30)
	for _, tc := range []struct {
		flags  []string
		answer string
	}{
		{nil, "permessage-deflate; server_no_context_takeover; client_no_context_takeover"},
		{[]string{"-deflate", "takeover", "-deflate-window-bits", "12"}, "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12"},
		{[]string{"-deflate", "off"}, ""},
	} {
		t.Run(tc.answer, func(t *testing.T) {
			p := runWSD(t, bin, tc.flags...)
			c, err := wstest.Dial(p.addr, "/echo", offer)
			require.NoError(t, err)
			defer c.Close()
			assert.Equal(t, tc.answer, c.Extension)
			if tc.answer == "" {
				require.NoError(t, c.Send(true, frame.OpText, body))
			} else {
				_, err = c.Write(wstest.MaskedRsv(true, frame.Rsv1, frame.OpText, wstest.Deflate(body)))
				require.NoError(t, err)
			}
			f, err := c.ReadFrame(3 * time.Second)
			require.NoError(t, err)
			got := f.Payload
			if tc.answer != "" {
				require.Equal(t, frame.Rsv1, f.Header.Rsv, "the echo comes back compressed")
				got, err = wstest.Inflate(got)
				require.NoError(t, err)
			} else {
				assert.Zero(t, f.Header.Rsv)
			}
			assert.Equal(t, body, got)
		})
	}
}

// Bad -deflate values stop wsd with a line that says what was wrong.
func TestDeflateFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-deflate", "gzip"}, `deflate mode "gzip": want off, on or takeover`},
		{[]string{"-deflate-window-bits", "16"}, "-deflate-window-bits 16: want 8..15"},
		{[]string{"-deflate-level", "0"}, "-deflate-level 0: want 1..9"},
	} {
		err := run(append([]string{"-addr", "127.0.0.1:0"}, tc.args...))
		require.Error(t, err, "%v", tc.args)
		assert.Contains(t, err.Error(), tc.want)
	}
}
