package trace

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/upgrade"
)

const (
	reset  = "\033[0m"
	bold   = "\033[1m"
	red    = "\033[31m"
	green  = "\033[32m"
	yellow = "\033[33m"
	cyan   = "\033[36m"
	dim    = "\033[2m"
)

func (c *Conn) paint(color, s string) string {
	if !c.t.opt.Color {
		return s
	}
	return color + s + reset
}

func (c *Conn) dirColor(d Direction) string {
	if d == ClientToServer {
		return cyan
	}
	return yellow
}

// title is the first line of a human event.
func (c *Conn) title(d Direction, what string, color string) string {
	ts := c.t.now().Format("15:04:05.000000")
	return c.paint(bold+color, fmt.Sprintf("── #%d %s %s  %s", c.ID, ts, d, what)) + "\n"
}

// event is a JSON event's common fields.
type event struct {
	Conn  int64  `json:"conn"`
	Dir   string `json:"dir,omitempty"`
	Time  string `json:"time"`
	Event string `json:"event"`
}

func (c *Conn) ev(d Direction, kind string, hasDir bool) event {
	e := event{Conn: c.ID, Time: c.t.now().UTC().Format(time.RFC3339Nano), Event: kind}
	if hasDir {
		e.Dir = d.short()
	}
	return e
}

func (c *Conn) emitJSON(o outputs, v any) {
	b, _ := json.Marshal(v)
	c.t.emitLine(o, b)
}

func (c *Conn) emitOpen() {
	o := c.t.outputs()
	if o.renderJSON() {
		c.emitJSON(o, struct {
			event
			Client string `json:"client"`
			Server string `json:"server"`
		}{c.ev(0, "open", false), c.client, c.server})
	}
	if !o.text {
		return
	}
	c.t.write([]byte(c.paint(bold, fmt.Sprintf("══ #%d %s connection from %s to %s", c.ID, c.t.now().Format("15:04:05.000000"), c.client, c.server)) + "\n"))
}

// headerLines returns a head's header fields in order.
func headerLines(head []byte) [][2]string {
	var out [][2]string
	lines := strings.Split(strings.TrimRight(string(head), "\r\n"), "\r\n")
	for _, l := range lines[1:] {
		if name, value, ok := strings.Cut(l, ":"); ok {
			out = append(out, [2]string{name, strings.TrimSpace(value)})
		}
	}
	return out
}

func firstLine(head []byte) string {
	l, _, _ := strings.Cut(string(head), "\r\n")
	return l
}

func (c *Conn) emitRequest(s *stream, r *upgrade.Request, notes []violation) {
	var protocols, extensions []string
	r.Protocols(func(p []byte) bool { protocols = append(protocols, string(p)); return true })
	r.Extensions(func(e []byte) bool { extensions = append(extensions, string(e)); return true })
	o := c.t.outputs()
	if o.renderJSON() {
		c.emitJSON(o, struct {
			event
			Method     string      `json:"http.request.method"`
			URI        string      `json:"http.request.uri"`
			Version    string      `json:"http.request.version"`
			Headers    [][2]string `json:"headers"`
			Key        string      `json:"websocket.key,omitempty"`
			Protocols  []string    `json:"wsd.subprotocols_offered,omitempty"`
			Extensions []string    `json:"wsd.extensions_offered,omitempty"`
			ExtHeader  string      `json:"http.sec_websocket_extensions,omitempty"`
			Violations []violation `json:"violations,omitempty"`
		}{c.ev(s.dir, "request", true), string(r.Method), string(r.URI), fmt.Sprintf("HTTP/%d.%d", r.ProtoMajor, r.ProtoMinor),
			headerLines(r.Head), string(r.Key), protocols, extensions, c.offers, notes})
	}
	if !o.text {
		return
	}
	var b strings.Builder
	b.WriteString(c.title(s.dir, "opening handshake: request (RFC 6455 §4.1)", c.dirColor(s.dir)))
	for _, l := range strings.Split(strings.TrimRight(string(r.Head), "\r\n"), "\r\n") {
		b.WriteString("  " + l + "\n")
	}
	if !r.IsUpgrade() {
		b.WriteString("  (not an upgrade request: plain HTTP)\n")
	} else {
		fmt.Fprintf(&b, "  → path %s, Sec-WebSocket-Key %s (16 random bytes in base64), version %s\n", r.Path, r.Key, r.Version)
		fmt.Fprintf(&b, "  → subprotocols offered: %s; extensions offered: %s\n", listOrNone(protocols), listOrNone(extensions))
	}
	c.writeNotes(&b, notes)
	c.t.write([]byte(b.String()))
}

func listOrNone(l []string) string {
	if len(l) == 0 {
		return "(none)"
	}
	return strings.Join(l, ", ")
}

// emitResponse shows the answer with the accept key's derivation and, for
// a 101, the extensions agreed (notes: what is wrong with them).
func (c *Conn) emitResponse(s *stream, r *upgrade.Response, extNotes []violation) {
	keyGUID := string(c.key) + upgrade.GUID
	sum := sha1.Sum([]byte(keyGUID))
	want := base64.StdEncoding.EncodeToString(sum[:])
	ok := string(r.Accept) == want
	var notes []violation
	if r.Status == 101 {
		// The extensions are checked against the offer in extNotes.
		if err := r.CheckAccept(c.key); err != nil {
			notes = append(notes, violation{Section: "4.1", Reason: err.Error()})
		}
		notes = append(notes, extNotes...)
	}
	var neg *jsonNegotiation
	if c.neg != nil {
		neg = c.neg.json()
	}
	o := c.t.outputs()
	if o.renderJSON() {
		c.emitJSON(o, struct {
			event
			Status     int              `json:"http.response.code"`
			Line       string           `json:"http.response.line"`
			Headers    [][2]string      `json:"headers"`
			KeyGUID    string           `json:"wsd.accept.key_guid,omitempty"`
			SHA1       string           `json:"wsd.accept.sha1,omitempty"`
			Expected   string           `json:"wsd.accept.expected,omitempty"`
			Received   string           `json:"websocket.accept,omitempty"`
			OK         bool             `json:"wsd.accept.ok"`
			Protocol   string           `json:"websocket.protocol,omitempty"`
			Extensions string           `json:"websocket.extensions,omitempty"`
			ExtHeader  string           `json:"http.sec_websocket_extensions,omitempty"`
			Deflate    *jsonNegotiation `json:"wsd.deflate,omitempty"`
			Violations []violation      `json:"violations,omitempty"`
		}{c.ev(s.dir, "response", true), r.Status, firstLine(r.Head), headerLines(r.Head), keyGUID, hex.EncodeToString(sum[:]), want,
			string(r.Accept), ok, string(r.Protocol), string(r.Extension), extensionValue(r.Head), neg, notes})
	}
	if !o.text {
		return
	}
	var b strings.Builder
	b.WriteString(c.title(s.dir, "opening handshake: response (RFC 6455 §4.2.2)", c.dirColor(s.dir)))
	for _, l := range strings.Split(strings.TrimRight(string(r.Head), "\r\n"), "\r\n") {
		b.WriteString("  " + l + "\n")
	}
	if r.Status != 101 {
		fmt.Fprintf(&b, "  → status %d, not 101: this connection is not upgraded; the rest is relayed without parsing\n", r.Status)
	} else {
		b.WriteString("  Sec-WebSocket-Accept, step by step (§4.2.2):\n")
		fmt.Fprintf(&b, "    key + GUID   %q\n", keyGUID)
		fmt.Fprintf(&b, "    SHA-1        %s\n", hex.EncodeToString(sum[:]))
		fmt.Fprintf(&b, "    base64       %s\n", want)
		mark := c.paint(green, "✓ matches")
		if !ok {
			mark = c.paint(red, "✗ does not match: the client must fail the connection (§4.1)")
		}
		fmt.Fprintf(&b, "    server sent  %s  %s\n", r.Accept, mark)
		fmt.Fprintf(&b, "  → subprotocol: %s; extensions: %s\n", orNone(string(r.Protocol)), orNone(extensionValue(r.Head)))
		if c.neg != nil {
			c.neg.appendHuman(&b)
		}
	}
	c.writeNotes(&b, notes)
	c.t.write([]byte(b.String()))
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func (c *Conn) emitNotHTTP(s *stream, err error, seen []byte) {
	if len(seen) > 64 {
		seen = seen[:64]
	}
	o := c.t.outputs()
	if o.renderJSON() {
		c.emitJSON(o, struct {
			event
			Reason string `json:"reason"`
			Seen   string `json:"wsd.seen_hex"`
		}{c.ev(s.dir, "not-http", true), err.Error(), hex.EncodeToString(seen)})
	}
	if !o.text {
		return
	}
	var b strings.Builder
	b.WriteString(c.title(s.dir, "not a WebSocket handshake", red))
	fmt.Fprintf(&b, "  %s\n  first bytes seen: %q\n  the connection is relayed as is, without parsing\n", err, seen)
	c.t.write([]byte(b.String()))
}

func (c *Conn) emitFrame(s *stream, d *Dump, notes []violation, truncated bool) {
	h := d.Header
	o := c.t.outputs()
	if o.renderJSON() {
		var b []byte
		ev := c.ev(s.dir, "frame", true)
		b = append(b, fmt.Sprintf(`{"conn":%d,"dir":%q,"time":%q,"event":"frame","frame":%d,"offset":%d,`, ev.Conn, ev.Dir, ev.Time, s.frames, s.hStart)...)
		b = d.AppendJSONFields(b)
		if truncated {
			b = append(b, `,"wsd.truncated":true`...)
		}
		if len(notes) > 0 {
			nb, _ := json.Marshal(notes)
			b = append(b, `,"violations":`...)
			b = append(b, nb...)
		}
		c.t.emitLine(o, append(b, '}'))
	}
	if !o.text {
		return
	}
	flags := []string{h.OpCode.String()}
	if h.Fin {
		flags = append(flags, "FIN")
	}
	if h.Masked {
		flags = append(flags, "masked")
	}
	if d.PMCE && h.Rsv&frame.Rsv1 != 0 && (h.OpCode == frame.OpText || h.OpCode == frame.OpBinary) {
		flags = append(flags, "compressed")
	}
	what := fmt.Sprintf("frame %d (stream byte %d): %s, %d bytes", s.frames, s.hStart, strings.Join(flags, ", "), h.Length)
	if d.Fragment != "" {
		what += ", " + d.Fragment + " fragment"
	}
	var b strings.Builder
	b.WriteString(c.title(s.dir, what, c.dirColor(s.dir)))
	b.Write(d.AppendText(nil, c.t.opt.MaxShow))
	if truncated {
		fmt.Fprintf(&b, "  (only the first %d payload bytes were kept for display)\n", len(d.Wire))
	}
	c.writeNotes(&b, notes)
	c.t.write([]byte(b.String()))
}

func (c *Conn) writeNotes(b *strings.Builder, notes []violation) {
	for _, n := range notes {
		line := "  ! VIOLATION RFC 6455 §" + n.Section
		if strings.HasPrefix(n.Section, "RFC ") {
			line = "  ! VIOLATION " + n.Section // another RFC's, as "RFC 7692 §7.2.2"
		}
		if n.Code != 0 {
			line += " (answer: close " + strconv.Itoa(int(n.Code)) + ")"
		}
		b.WriteString(c.paint(red, line+": "+n.Reason) + "\n")
	}
}

func (c *Conn) emitStop(s *stream, why string, err error) {
	var notes []violation
	if err != nil {
		notes = append(notes, fromError(err))
	}
	o := c.t.outputs()
	if o.renderJSON() {
		c.emitJSON(o, struct {
			event
			Reason     string      `json:"reason"`
			Violations []violation `json:"violations,omitempty"`
		}{c.ev(s.dir, "stop", true), why, notes})
	}
	if !o.text {
		return
	}
	var b strings.Builder
	b.WriteString(c.title(s.dir, "parsing stopped (the relay goes on)", red))
	b.WriteString("  " + why + "\n")
	c.writeNotes(&b, notes)
	c.t.write([]byte(b.String()))
}

func (c *Conn) emitEnd(reason string) {
	cs, sc := c.dirs[ClientToServer].where(), c.dirs[ServerToClient].where()
	o := c.t.outputs()
	if o.renderJSON() {
		c.emitJSON(o, struct {
			event
			Reason   string `json:"reason"`
			C2S      string `json:"c2s"`
			S2C      string `json:"s2c"`
			C2SBytes int64  `json:"c2s_bytes"`
			S2CBytes int64  `json:"s2c_bytes"`
		}{c.ev(0, "end", false), reason, cs, sc, c.dirs[0].off, c.dirs[1].off})
	}
	if !o.text {
		return
	}
	var b strings.Builder
	b.WriteString(c.paint(bold, fmt.Sprintf("══ #%d %s connection ended: %s", c.ID, c.t.now().Format("15:04:05.000000"), reason)) + "\n")
	fmt.Fprintf(&b, "  client→server: %d bytes, %d frames, %s\n", c.dirs[0].off, c.dirs[0].frames, cs)
	fmt.Fprintf(&b, "  server→client: %d bytes, %d frames, %s\n", c.dirs[1].off, c.dirs[1].frames, sc)
	c.t.write([]byte(b.String()))
}
