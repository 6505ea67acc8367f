package wsconn

import (
	"log/slog"
	"net/http"
	"runtime"
	"time"

	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/trace"
	"github.com/wsd-dev/wsd/upgrade"
)

// Handler receives a connection's events on its loop's goroutine. The
// calls must not block: a slow handler delays every connection of the loop.
type Handler interface {
	// OnOpen is called once the 101 response is written.
	OnOpen(c *Conn)
	// OnMessage is called for each whole text or binary message. payload
	// points into the loop's read buffer or a pooled buffer and is valid
	// only during the call (zero-copy): copy what you keep.
	OnMessage(c *Conn, op frame.Opcode, payload []byte)
	// OnClose is called once when the connection is gone, with the close
	// code received (or 1006 when none was: the TCP connection dropped, a
	// timeout, a protocol error on our side is reported with its code).
	OnClose(c *Conn, code frame.CloseCode, reason string)
}

// UpgradeFunc decides an upgrade request that passed the §4.2.1 checks: it
// returns the Handler for the new connection, or an *upgrade.Error (404 for
// an unknown path, 403, ...) to refuse it. req and its fields are valid only
// during the call.
type UpgradeFunc func(req *upgrade.Request) (Handler, *upgrade.Error)

// Options configure a Server. Zero fields take the defaults in brackets.
type Options struct {
	Addr      string // listen address [127.0.0.1:8080]
	Loops     int    // event loops [GOMAXPROCS]
	ReusePort bool   // SO_REUSEPORT on the listener
	MaxConns  int    // connections at once; more are refused [no cap beyond the fd limit]

	MaxHead          int   // request head limit, → 431 [8 KiB]
	MaxMessage       int64 // message size limit, → 1009 [16 MiB]
	MaxMessageMemory int64 // all partly received messages together, → 1009 [256 MiB]
	QueueCap         int   // bytes queued per connection before it counts as a slow consumer [4 MiB]
	DropOldest       bool  // at the queue cap drop the oldest queued messages instead of closing with 1008
	ReadBuffer       int   // per-loop read buffer [64 KiB]

	HandshakeTimeout time.Duration // from accept to a complete request head [5s]
	PingInterval     time.Duration // idle time before a ping (up to 1.5× it, spread by fd); no traffic for 2 more intervals closes [30s]
	CloseTimeout     time.Duration // wait for the peer's Close after ours [5s]

	Origins   []string // allowed Origin values; empty or "*" allows any (→ 403)
	Protocols []string // subprotocols the server speaks, in preference order

	// Trace, when set, dumps the handshake and every frame of the upgrade
	// requests TraceFilter accepts (all when nil), both ways.
	Trace       *trace.Tracer
	TraceFilter func(req *upgrade.Request) bool

	Upgrade UpgradeFunc  // routes upgrade requests; nil refuses all with 404
	HTTP    http.Handler // serves requests that are not upgrades; nil answers 404
	Logger  *slog.Logger // [slog.Default()]
}

func (o *Options) setDefaults() {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def64 := func(v *int64, d int64) {
		if *v <= 0 {
			*v = d
		}
	}
	dur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	if o.Addr == "" {
		o.Addr = "127.0.0.1:8080"
	}
	def(&o.Loops, runtime.GOMAXPROCS(0))
	def(&o.MaxHead, upgrade.DefaultMaxHead)
	def64(&o.MaxMessage, 16<<20)
	def64(&o.MaxMessageMemory, 256<<20)
	def(&o.QueueCap, 4<<20)
	def(&o.ReadBuffer, 64<<10)
	dur(&o.HandshakeTimeout, 5*time.Second)
	dur(&o.PingInterval, 30*time.Second)
	dur(&o.CloseTimeout, 5*time.Second)
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// tick is how often the loops sweep their connections' timers: fine enough
// for the shortest timeout.
func (o *Options) tick() time.Duration {
	t := min(o.HandshakeTimeout, o.PingInterval, o.CloseTimeout) / 4
	return max(min(t, time.Second), 10*time.Millisecond)
}
