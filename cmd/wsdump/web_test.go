package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/internal/browser"
	"github.com/wsd-dev/wsd/internal/testkit"
	"github.com/wsd-dev/wsd/internal/wstest"
)

var (
	relayingLine = regexp.MustCompile(`wsdump: relaying (\S+) →`)
	pageLine     = regexp.MustCompile(`wsdump: live page on (\S+)`)
)

// wsdump -web: the page shows what crosses the proxy, while the dump goes
// to its file as before.
func TestWebFlagInChromium(t *testing.T) {
	upstream := startWSD(t)
	dumpFile := filepath.Join(t.TempDir(), "dump.txt")
	var stderr testkit.SyncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-listen", "127.0.0.1:0", "-upstream", upstream, "-web", "127.0.0.1:0", "-o", dumpFile}, io.Discard, &stderr)
	}()
	t.Cleanup(func() { cancel(); <-done })
	var proxy, pageURL string
	require.Eventually(t, func() bool {
		if m := relayingLine.FindStringSubmatch(stderr.String()); m != nil {
			proxy = m[1]
		}
		if m := pageLine.FindStringSubmatch(stderr.String()); m != nil {
			pageURL = m[1]
		}
		return proxy != "" && pageURL != ""
	}, 5*time.Second, 5*time.Millisecond, "stderr: %s", stderr.String())

	tab := browser.New(t)
	require.NoError(t, browser.Navigate(tab, pageURL))
	require.NoError(t, browser.WaitTrue(tab, `document.getElementById('status').textContent === 'live'`, `document.getElementById('status').textContent`, 10*time.Second))
	// The page's title line: what the server's hello says it traces.
	require.NoError(t, browser.WaitTrue(tab, `document.getElementById('source').textContent === `+strconv.Quote("wsdump "+proxy+" → "+upstream),
		`document.getElementById('source').textContent`, 10*time.Second))

	c, err := wstest.Dial(proxy, "/echo", "")
	require.NoError(t, err)
	defer c.Close()
	// RFC 6455 §5.7's masked "Hello".
	_, err = c.Write([]byte{0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58})
	require.NoError(t, err)
	_, p, err := c.ReadMessage(3 * time.Second)
	require.NoError(t, err)
	require.Equal(t, "Hello", string(p))
	require.NoError(t, c.Send(true, frame.OpClose, frame.AppendClose(nil, frame.CloseGoingAway, "")))
	require.NoError(t, c.ExpectEOF(3*time.Second))
	c.Close() // as a browser does once the server has closed

	require.NoError(t, browser.WaitTrue(tab, `document.querySelector('#f-1-c2s-1')`, `document.getElementById('count').textContent`, 10*time.Second))
	require.NoError(t, browser.Click(tab, "#f-1-c2s-1"))
	detail := func(f string) string {
		s, err := browser.Eval[string](tab, `(document.querySelector('#detail [data-f="`+f+`"]') || {textContent: '(absent)'}).textContent`)
		require.NoError(t, err)
		return strings.Join(strings.Fields(s), " ")
	}
	require.NoError(t, browser.WaitTrue(tab, `document.getElementById('detail').dataset.showing === 'f-1-c2s-1'`, `document.getElementById('detail').dataset.showing`, 5*time.Second))
	assert.Equal(t, "1000 0001", detail("byte0"))
	assert.Equal(t, "1000 0101", detail("byte1"))
	assert.Equal(t, "37 fa 21 3d", detail("mask-key"))
	assert.Equal(t, "7f 9f 4d 51 58", detail("masked"))
	assert.Equal(t, "Hello", detail("text"))
	require.NoError(t, browser.WaitTrue(tab, `document.querySelector('#f-1-s2c-2')`, `document.getElementById('count').textContent`, 10*time.Second))
	require.NoError(t, browser.Click(tab, "#f-1-c2s-2"))
	require.NoError(t, browser.WaitTrue(tab, `document.getElementById('detail').dataset.showing === 'f-1-c2s-2'`, `document.getElementById('detail').dataset.showing`, 5*time.Second))
	assert.Equal(t, "1001", detail("close-code"))
	assert.Equal(t, "Going Away", detail("close-name"))

	require.Eventually(t, func() bool {
		b, _ := os.ReadFile(dumpFile)
		return strings.Contains(string(b), "connection ended")
	}, 15*time.Second, 10*time.Millisecond, "the dump goes on beside the page")
	b, _ := os.ReadFile(dumpFile)
	assert.Contains(t, string(b), `text    "Hello"`)
}
