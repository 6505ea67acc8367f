package wsconn

import (
	"crypto/tls"
	"github.com/wsd-dev/wsd/deflate"
	"iter"
	"log/slog"
	"net/netip"
	"runtime"
	"time"

	"github.com/wsd-dev/wsd/tlsrec"
	"github.com/wsd-dev/wsd/upgrade"
)

// Defaults, named so that a command's flags and the library agree.
const (
	DefaultAddr             = "127.0.0.1:8080"
	DefaultMaxHead          = upgrade.DefaultMaxHead
	DefaultMaxMessage       = 16 << 20
	DefaultMaxMessageMemory = 256 << 20
	DefaultQueueCap         = 4 << 20
	DefaultReadBuffer       = 64 << 10
	DefaultHandshakeTimeout = 5 * time.Second
	DefaultPingInterval     = 30 * time.Second
	DefaultCloseTimeout     = 5 * time.Second
)

// Options configure a Server or a Client: the same connection core serves
// both roles. Zero fields take the defaults in brackets; fields marked
// (server) mean nothing to a Client.
type Options struct {
	Addr      string // (server) listen address [DefaultAddr]
	Loops     int    // event loops [GOMAXPROCS]
	ReusePort bool   // (server) SO_REUSEPORT on the listener
	MaxConns  int    // (server) connections at once; more are refused [no cap beyond the fd limit]

	MaxHead          int   // (server) request head limit, → 431 [8 KiB]
	MaxMessage       int64 // message size limit, → 1009 [16 MiB]
	MaxMessageMemory int64 // all partly received messages together, → 1009 [256 MiB]
	QueueCap         int   // bytes queued per connection before it counts as a slow consumer [4 MiB]
	DropOldest       bool  // at the queue cap drop the oldest queued messages instead of closing with 1008
	ReadBuffer       int   // per-loop read buffer [64 KiB]

	ClientMsgRate float64 // messages a connection may send per second, twice that in a burst; more → close 1008 "rate limit" [no limit]
	HandshakeRate float64 // (server) new connections per second per client IP, twice that in a burst; more → 429 with Retry-After [no limit]

	HandshakeTimeout time.Duration // accept (or dial) to a complete head [5s]
	PingInterval     time.Duration // idle time before a ping (up to 1.5× it, spread by fd); no traffic for 2 more intervals closes; < 0: never ping [30s]
	CloseTimeout     time.Duration // wait for the peer's Close after ours [5s]
	TickInterval     time.Duration // how often each loop sweeps its connections' timers [from the timeouts, 10ms-1s]

	// Deflate is permessage-deflate (RFC 7692): a server accepts offers by
	// its Mode (DeflateOn: no context kept between messages either way;
	// DeflateTakeover: windows of 2^WindowBits), a client offers by it; the
	// zero value declines. DeflateMinSize: smaller messages go plain
	// [DefaultDeflateMinSize]; DeflateLevel: 1 (fastest) to 9 [1].
	Deflate        upgrade.DeflatePolicy
	DeflateMinSize int
	DeflateLevel   int
	// DeflateOffer (client) is the Sec-WebSocket-Extensions offer to send
	// as is, instead of the one Deflate makes; the answer is checked
	// against the permessage-deflate offers in it.
	DeflateOffer string
	// TLS, when set, makes the server's listener speak TLS 1.2 and 1.3 on
	// every connection (upgrades and the HTTP hand-off alike), or the
	// client dial wss://. It needs a certificate (server) or ServerName or
	// InsecureSkipVerify (client); the core turns session tickets off,
	// offers ALPN http/1.1 and keeps TLS 1.2 as the least. A
	// GetCertificate that reads an atomic pointer swaps certificates
	// without touching open connections. See tls.go.
	TLS *tls.Config

	Origins   []string // (server) allowed Origin values; empty or "*" allows any (→ 403)
	Protocols []string // (server) subprotocols the server speaks, in preference order

	// Observe, when set, is asked for an Observer of each upgrade request
	// (server) that passed parsing; nil leaves the connection unobserved.
	Observe func(req *upgrade.Request, remote, local netip.AddrPort) Observer

	// OnTick, when set, runs on each loop after its timer sweep with the
	// loop's connections (handshaking ones included); it must not keep
	// the slice.
	OnTick func(loop int, conns iter.Seq[*Conn])

	Logger *slog.Logger // [slog.Default()]
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
		if *v == 0 {
			*v = d
		}
	}
	if o.Addr == "" {
		o.Addr = DefaultAddr
	}
	def(&o.Loops, runtime.GOMAXPROCS(0))
	def(&o.MaxHead, DefaultMaxHead)
	def64(&o.MaxMessage, DefaultMaxMessage)
	def64(&o.MaxMessageMemory, DefaultMaxMessageMemory)
	def(&o.QueueCap, DefaultQueueCap)
	def(&o.ReadBuffer, DefaultReadBuffer)
	def(&o.DeflateMinSize, DefaultDeflateMinSize)
	def(&o.DeflateLevel, deflate.DefaultLevel)
	o.DeflateLevel = min(o.DeflateLevel, 9)
	dur(&o.HandshakeTimeout, DefaultHandshakeTimeout)
	if o.TLS != nil {
		o.ReadBuffer = max(o.ReadBuffer, 4*tlsrec.MaxRecord) // a partial record, then a read
	}
	dur(&o.PingInterval, DefaultPingInterval)
	dur(&o.CloseTimeout, DefaultCloseTimeout)
	if o.TickInterval <= 0 {
		o.TickInterval = o.tick()
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// tick is how often the loops sweep their connections' timers: fine enough
// for the shortest timeout.
func (o *Options) tick() time.Duration {
	t := min(o.HandshakeTimeout, o.CloseTimeout) / 4
	if o.PingInterval > 0 {
		t = min(t, o.PingInterval/4)
	}
	return max(min(t, time.Second), 10*time.Millisecond)
}
