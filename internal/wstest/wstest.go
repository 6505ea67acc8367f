// Package wstest is a byte-level WebSocket client for tests: it sends
// exactly the frames a test asks for, valid or not, and reads what the
// server answers, frame by frame.
//
// Why it exists beside wsconn's Client, which is the real client role of
// the connection core: a test of the server needs a client that breaks
// the rules on purpose (unmasked frames, bad RSV bits, a header split at
// any byte, no answer to a ping, a Close never sent) and reads in
// lockstep, blocking, with deadlines. The core's client does everything
// right and hands over whole messages on its loops, which is what load
// generation needs and exactly what such a test must not get. So this
// client has no protocol logic of its own: no read dispatch, no automatic
// control frames, no close handshake; it parses with package frame and
// leaves every decision to the test.
package wstest

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/upgrade"
)

// Client is one raw connection.
type Client struct {
	net.Conn
	r   frame.Reader
	buf []byte // bytes read but not parsed
	Key [24]byte
	// Extension is the server's Sec-WebSocket-Extensions answer, if any.
	Extension string
}

// Dial connects to addr and completes the handshake for uri.
func Dial(addr, uri string, extraHeader string) (*Client, error) {
	return DialFrom("", addr, uri, extraHeader)
}

// DialFrom is Dial from a local IP address ("" for any): tests that open
// many connections spread them over 127.0.0.x to have ports enough.
func DialFrom(localIP, addr, uri string, extraHeader string) (*Client, error) {
	d := net.Dialer{Timeout: 5 * time.Second}
	if localIP != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(localIP)}
	}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	return DialOn(nc, addr, uri, extraHeader)
}

// DialTLS is Dial over TLS (wss://) with cfg.
func DialTLS(addr, uri, extraHeader string, cfg *tls.Config) (*Client, error) {
	nc, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return nil, err
	}
	return DialOn(nc, addr, uri, extraHeader)
}

// DialOn completes the handshake for uri on a connection already made (a
// TLS one, say); addr goes in the Host header. It closes nc on failure.
func DialOn(nc net.Conn, addr, uri, extraHeader string) (*Client, error) {
	c := &Client{Conn: nc, Key: upgrade.NewKey()}
	c.r.Role = frame.RoleClient
	req := upgrade.AppendRequest(nil, upgrade.ClientRequest{Host: addr, URI: uri, Key: c.Key[:], Header: extraHeader})
	if _, err := nc.Write(req); err != nil {
		nc.Close()
		return nil, err
	}
	resp, err := c.ReadHead()
	if err != nil {
		nc.Close()
		return nil, err
	}
	check := resp.Check
	if strings.Contains(strings.ToLower(extraHeader), "sec-websocket-extensions:") {
		// The test offered extensions and checks the answer itself.
		check = resp.CheckAccept
	}
	if err := check(c.Key[:]); err != nil {
		nc.Close()
		return nil, fmt.Errorf("%w: %s", err, resp.Head)
	}
	c.Extension = string(resp.Extension)
	if bytes.HasPrefix(resp.Extension, []byte("permessage-deflate")) {
		c.r.Rsv = frame.Rsv1 // RFC 7692 §6: compressed messages carry RSV1
	}
	return c, nil
}

// ReadHead reads an HTTP response head; bytes after it stay buffered.
func (c *Client) ReadHead() (upgrade.Response, error) {
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	defer c.SetReadDeadline(time.Time{})
	tmp := make([]byte, 4096)
	for {
		resp, n, err := upgrade.ParseResponse(c.buf, 0)
		if err == nil {
			resp.Head = append([]byte(nil), resp.Head...)
			c.buf = c.buf[n:]
			return resp, nil
		}
		if err != upgrade.ErrIncomplete {
			return resp, err
		}
		k, rerr := c.Read(tmp)
		c.buf = append(c.buf, tmp[:k]...)
		if rerr != nil {
			return resp, fmt.Errorf("reading response head (%q so far): %w", c.buf, rerr)
		}
	}
}

// Masked encodes a client frame with a random key.
func Masked(fin bool, op frame.Opcode, payload []byte) []byte {
	return MaskedRsv(fin, 0, op, payload)
}

// MaskedRsv is Masked with RSV bits.
func MaskedRsv(fin bool, rsv uint8, op frame.Opcode, payload []byte) []byte {
	h := frame.Header{Fin: fin, Rsv: rsv, OpCode: op, Length: int64(len(payload)), Masked: true}
	k := rand.Uint32()
	h.Mask = [4]byte{byte(k), byte(k >> 8), byte(k >> 16), byte(k >> 24)}
	b := frame.AppendHeader(nil, h)
	n := len(b)
	b = append(b, payload...)
	frame.Mask(h.Mask, 0, b[n:])
	return b
}

// Unmasked encodes a frame without a mask (a server frame, or a client
// breaking §5.1).
func Unmasked(fin bool, op frame.Opcode, payload []byte) []byte {
	b := frame.AppendHeader(nil, frame.Header{Fin: fin, OpCode: op, Length: int64(len(payload))})
	return append(b, payload...)
}

// CloseFrame encodes a masked Close with code and reason.
func CloseFrame(code frame.CloseCode, reason string) []byte {
	return Masked(true, frame.OpClose, frame.AppendClose(nil, code, reason))
}

// Send writes a client frame.
func (c *Client) Send(fin bool, op frame.Opcode, payload []byte) error {
	_, err := c.Write(Masked(fin, op, payload))
	return err
}

// Frame is one frame read from the server.
type Frame struct {
	Header  frame.Header
	Payload []byte
}

// Close code and reason of a Close frame.
func (f Frame) Close() (frame.CloseCode, string) {
	if len(f.Payload) < 2 {
		return frame.CloseNoStatus, ""
	}
	return frame.CloseCode(uint16(f.Payload[0])<<8 | uint16(f.Payload[1])), string(f.Payload[2:])
}

// ErrEOF is returned when the server closed the TCP connection.
var ErrEOF = errors.New("wstest: server closed the connection")

// ReadFrame reads the next whole frame, within timeout.
func (c *Client) ReadFrame(timeout time.Duration) (Frame, error) {
	c.SetReadDeadline(time.Now().Add(timeout))
	defer c.SetReadDeadline(time.Time{})
	var f Frame
	started := false
	tmp := make([]byte, 64<<10)
	for {
		for len(c.buf) > 0 {
			ch, n, err := c.r.Next(c.buf)
			c.buf = c.buf[n:]
			if err == frame.ErrNeedMore {
				break
			}
			if err != nil {
				return f, fmt.Errorf("server sent a bad frame: %w", err)
			}
			if ch.First {
				f.Header, started = ch.Header, true
			}
			f.Payload = append(f.Payload, ch.Payload...)
			if ch.Last && started {
				if f.Payload == nil {
					f.Payload = []byte{}
				}
				return f, nil
			}
		}
		k, err := c.Read(tmp)
		c.buf = append(c.buf, tmp[:k]...)
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) {
				return f, ErrEOF
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return f, fmt.Errorf("no frame within %v: %w", timeout, err)
			}
			return f, err
		}
	}
}

// ReadMessage reads frames until a whole data message or a control frame.
func (c *Client) ReadMessage(timeout time.Duration) (frame.Opcode, []byte, error) {
	var op frame.Opcode
	var msg []byte
	deadline := time.Now().Add(timeout)
	for {
		f, err := c.ReadFrame(time.Until(deadline))
		if err != nil {
			return 0, nil, err
		}
		if f.Header.OpCode.IsControl() {
			return f.Header.OpCode, f.Payload, nil
		}
		if f.Header.OpCode != frame.OpContinuation {
			op = f.Header.OpCode
		}
		msg = append(msg, f.Payload...)
		if f.Header.Fin {
			if msg == nil {
				msg = []byte{}
			}
			return op, msg, nil
		}
	}
}

// ExpectEOF waits for the server to close the TCP connection, skipping
// frames.
func (c *Client) ExpectEOF(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		_, err := c.ReadFrame(time.Until(deadline))
		if err == ErrEOF {
			return nil
		}
		if err != nil && !isBadFrame(err) {
			return err
		}
	}
}

func isBadFrame(err error) bool {
	var pe *frame.ProtocolError
	return errors.As(err, &pe)
}
