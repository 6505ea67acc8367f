// Package trace renders a WebSocket connection's traffic for people
// learning the protocol: the opening handshake with the accept-key
// derivation step by step, then every frame in both directions — bits,
// length encoding, masking, payload, fragment place, reassembled message,
// close codes — and every RFC 6455 violation with its section. With
// permessage-deflate (RFC 7692) it shows the negotiation (offers, answer,
// the four parameters, what the server added), RSV1 as "compressed", and
// each compressed message beside what it inflates to, inflating it itself
// per connection and direction (context takeover windows kept, bounded by
// Options.MaxMessage: a bomb is reported, never inflated past it). It never
// stops the traffic it watches: it is fed copies of the bytes (by wsdump's
// proxy, or by wsd -trace) and says where it stopped understanding them.
package trace

import (
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// Options choose the output.
type Options struct {
	JSON    bool // one JSON object per line, Wireshark field names
	Color   bool // ANSI colours in the human format
	MaxShow int  // payload bytes shown per frame in the human format [256]; JSON shows all
	MaxKeep int  // payload bytes kept per frame and per message for display [1 MiB]
	// MaxMessage bounds a compressed message (permessage-deflate): its
	// compressed payload is kept up to it for inflating, and inflating
	// stops there (a bomb is reported, never inflated further) [16 MiB].
	MaxMessage int64
	// Tap, when set, gets every event as a JSON line while it is
	// watching (trace/web's live page), beside what the writer gets.
	Tap Tap
}

// DefaultMaxMessage is Options.MaxMessage by default: wsd's own limit.
const DefaultMaxMessage = 16 << 20

// Tracer writes the dump of many connections to one writer, an event at a
// time (events of different connections interleave, never mix).
type Tracer struct {
	opt  Options
	mu   sync.Mutex
	w    io.Writer
	next atomic.Int64
	now  func() time.Time

	decomps decompressors
}

// New makes a tracer writing to w; with w nil it writes nothing and
// renders events only for its Options.Tap, while someone watches.
func New(w io.Writer, opt Options) *Tracer {
	if opt.MaxShow <= 0 {
		opt.MaxShow = 256
	}
	if opt.MaxKeep <= 0 {
		opt.MaxKeep = 1 << 20
	}
	if opt.MaxMessage <= 0 {
		opt.MaxMessage = DefaultMaxMessage
	}
	return &Tracer{opt: opt, w: w, now: time.Now, decomps: decompressors{limit: opt.MaxMessage}}
}

// write emits one rendered event.
func (t *Tracer) write(b []byte) {
	t.mu.Lock()
	t.w.Write(b)
	t.mu.Unlock()
}

// Direction of a byte stream within a connection.
type Direction int

const (
	ClientToServer Direction = iota
	ServerToClient
)

func (d Direction) String() string {
	if d == ClientToServer {
		return "client→server"
	}
	return "server→client"
}

func (d Direction) short() string {
	if d == ClientToServer {
		return "c2s"
	}
	return "s2c"
}

// Conn traces one connection. Feed and End may be called from several
// goroutines (one per direction); events come out whole and in order per
// direction.
type Conn struct {
	t      *Tracer
	ID     int64
	mu     sync.Mutex
	dirs   [2]stream
	key    []byte // the request's Sec-WebSocket-Key
	offers string // the request's Sec-WebSocket-Extensions, all lines
	neg    *negotiation
	rsv    uint8 // RSV bits allowed by the negotiated extensions
	state  connState
	client string
	server string
}

type connState uint8

const (
	stHandshake connState = iota // heads being read
	stFrames                     // 101 seen: frames both ways
	stPlain                      // not a WebSocket connection: bytes relayed, not parsed
)

// Conn starts tracing a new connection between the two addresses.
func (t *Tracer) Conn(client, server string) *Conn {
	c := &Conn{t: t, ID: t.next.Add(1), client: client, server: server}
	for i := range c.dirs {
		c.dirs[i].dir = Direction(i)
		c.dirs[i].c = c
	}
	c.emitOpen()
	return c
}

// Feed gives the tracer bytes that crossed the connection in direction d.
// It never fails: what it cannot parse it reports and then counts.
func (c *Conn) Feed(d Direction, b []byte) {
	if len(b) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	defer func() {
		// The dump must never take the relay down with it.
		if r := recover(); r != nil {
			c.dirs[d].broken("internal error in the tracer", r)
		}
	}()
	c.dirs[d].feed(b)
}

// End reports the connection's end (who closed, why) and where each
// direction stopped if it stopped mid-message.
func (c *Conn) End(reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range c.dirs {
		if s := &c.dirs[i]; s.notHTTPAt > 0 {
			s.reportNotHTTP(s.head) // ended before the bytes a report waits for
		}
	}
	c.emitEnd(reason)
}

// Received and Sent make a Conn, seen from the server's side, the
// observer that wsconn asks for (wsconn.Observer): bytes from the client,
// bytes to it.
func (c *Conn) Received(b []byte) { c.Feed(ClientToServer, b) }

// Sent: see Received.
func (c *Conn) Sent(b []byte) { c.Feed(ServerToClient, b) }
