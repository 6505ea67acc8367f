package main

import (
	"bufio"
	"errors"
	"io"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/internal/browser"
	"github.com/wsd-dev/wsd/internal/wstest"
)

// The picture's size: three lanes beside the opened frame.
const shotWidth, shotHeight = 1720, 1000

func init() {
	shots["wsdump-web"] = shot{"wsdump -web: the live frame view of a session through the proxy (a frame opened)", wsdumpWeb}
}

// wsdumpWeb runs wsd (-deflate on) behind wsdump -web, opens the page,
// drives a short session through the proxy — a masked "Hello", the 16-
// and 64-bit lengths, a fragmented message with a ping between, a
// compressed message on a second connection, a client frame without a mask
// on a third — and photographs the page with the "Hello" frame opened.
func wsdumpWeb(r *run) ([]byte, error) {
	upstream, err := r.startWSD("-deflate", "on", "-deflate-min-size", "1000000")
	if err != nil {
		return nil, err
	}
	proxy, page, err := r.startWsdump("-upstream", upstream, "-web", "127.0.0.1:0", "-o", "/dev/null")
	if err != nil {
		return nil, err
	}
	if err := chromedp.Do(r.tab, chromedp.EmulateViewport(shotWidth, shotHeight)); err != nil {
		return nil, err
	}
	if err := browser.Navigate(r.tab, page); err != nil {
		return nil, err
	}
	if err := browser.WaitTrue(r.tab, `document.getElementById('status').textContent === 'live'`, `document.getElementById('status').textContent`, 10*time.Second); err != nil {
		return nil, err
	}
	if err := session(proxy); err != nil {
		return nil, err
	}
	if err := browser.WaitTrue(r.tab, `document.querySelector('#f-3-s2c-1')`, `document.getElementById('count').textContent`, 10*time.Second); err != nil {
		return nil, err
	}
	if err := browser.Click(r.tab, "#f-1-c2s-1"); err != nil {
		return nil, err
	}
	// Scroll the lanes to their tops: the handshakes first.
	if _, err := browser.Eval[bool](r.tab, `(document.querySelectorAll('.lane .cards').forEach(c => c.scrollTop = 0), true)`); err != nil {
		return nil, err
	}
	return r.screenshot(shotWidth, shotHeight)
}

// session is what the picture shows.
func session(proxy string) error {
	key := [4]byte{0x37, 0xfa, 0x21, 0x3d} // RFC 6455 §5.7's example
	masked := func(fin bool, rsv uint8, op frame.Opcode, p []byte) []byte {
		h := frame.Header{Fin: fin, Rsv: rsv, OpCode: op, Length: int64(len(p)), Masked: true, Mask: key}
		b := frame.AppendHeader(nil, h)
		n := len(b)
		b = append(b, p...)
		frame.Mask(key, 0, b[n:])
		return b
	}
	exchange := func(c *wstest.Client, replies int, frames ...[]byte) error {
		for _, f := range frames {
			if _, err := c.Write(f); err != nil {
				return err
			}
		}
		for range replies {
			if _, _, err := c.ReadMessage(5 * time.Second); err != nil {
				return err
			}
		}
		return nil
	}
	c, err := wstest.Dial(proxy, "/echo", "")
	if err != nil {
		return err
	}
	defer c.Close()
	steps := []struct {
		replies int
		frames  [][]byte
	}{
		{1, [][]byte{masked(true, 0, frame.OpText, []byte("Hello"))}},
		{1, [][]byte{masked(true, 0, frame.OpText, []byte(strings.Repeat("a 16-bit length: ", 12)))}},
		{1, [][]byte{masked(true, 0, frame.OpBinary, make([]byte, 70000))}},
		{2, [][]byte{masked(false, 0, frame.OpText, []byte("Hel")), masked(true, 0, frame.OpPing, []byte("in between")),
			masked(false, 0, frame.OpContinuation, []byte("lo ")), masked(true, 0, frame.OpContinuation, []byte("world"))}},
		{0, [][]byte{masked(true, 0, frame.OpClose, frame.AppendClose(nil, frame.CloseNormal, "bye"))}},
	}
	for _, s := range steps {
		if err := exchange(c, s.replies, s.frames...); err != nil {
			return err
		}
	}
	if err := c.ExpectEOF(5 * time.Second); err != nil {
		return err
	}
	c.Close()

	z, err := wstest.Dial(proxy, "/echo", "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits")
	if err != nil {
		return err
	}
	defer z.Close()
	chat := []byte(`{"type":"message","room":"lobby","body":"the same words compress well; the same words compress well"}`)
	if err := exchange(z, 1, masked(true, frame.Rsv1, frame.OpText, wstest.Deflate(chat))); err != nil {
		return err
	}

	bad, err := wstest.Dial(proxy, "/echo", "")
	if err != nil {
		return err
	}
	defer bad.Close()
	if _, err := bad.Write(wstest.Unmasked(true, frame.OpText, []byte("no mask"))); err != nil {
		return err
	}
	return bad.ExpectEOF(5 * time.Second)
}

var (
	relaying = regexp.MustCompile(`wsdump: relaying (\S+) →`)
	livePage = regexp.MustCompile(`wsdump: live page on (\S+)`)
)

// startWsdump runs wsdump on a free loopback port and returns the proxy's
// address and the page's URL, read from what it says on stderr.
func (r *run) startWsdump(args ...string) (proxy, page string, err error) {
	cmd := exec.Command(filepath.Join(r.bin, "wsdump"), append([]string{"-listen", "127.0.0.1:0"}, args...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return "", "", err
	}
	if err := cmd.Start(); err != nil {
		return "", "", err
	}
	r.procs = append(r.procs, cmd)
	found := make(chan [2]string, 1)
	go func() {
		var got [2]string
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := relaying.FindStringSubmatch(sc.Text()); m != nil {
				got[0] = m[1]
			}
			if m := livePage.FindStringSubmatch(sc.Text()); m != nil {
				got[1] = m[1]
			}
			if got[0] != "" && got[1] != "" {
				found <- got
				break
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	select {
	case got := <-found:
		r.log.Info("wsdump relaying", "pid", cmd.Process.Pid, "proxy", got[0], "page", got[1])
		return got[0], got[1], nil
	case <-time.After(10 * time.Second):
		return "", "", errors.New("wsdump did not say where it relays and serves its page within 10s")
	}
}
