package wsconn

import (
	"hash/maphash"
	"math"
	"net/netip"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/wsd-dev/wsd/frame"
)

// connSlot is per-connection state that only some features need: an
// expiry (signed tokens), an application tag, a message rate bucket. It
// lives in the engine's per-fd slots, not in Conn, so that connections of
// a server that uses none of these pay nothing, and the others 16 bytes.
// Atomics: the owning loop reads and writes it, and a new connection on
// the same fd resets it from the accepting goroutine.
type connSlot struct {
	exp    atomic.Uint32 // Unix seconds when the connection expires; 0: never
	tag    atomic.Uint32 // the application's number for the connection
	rateAt atomic.Uint32 // ms clock of the bucket's last refill
	tokens atomic.Uint32 // the bucket, in thousandths of a message
}

func (s *connSlot) reset() {
	s.exp.Store(0)
	s.tag.Store(0)
	s.rateAt.Store(0)
	s.tokens.Store(0)
}

// Expirer is a Handler that hears when a connection's expiry (SetExpiry)
// passes; the sweep calls OnExpire once, on the connection's loop. Without
// it the connection is closed with 1008.
type Expirer interface {
	OnExpire(c *Conn)
}

// SetExpiry makes the connection expire at t (the zero time: never). The
// loop's sweep checks it: no timer or goroutine per connection.
func (c *Conn) SetExpiry(t time.Time) {
	var v uint32
	if !t.IsZero() {
		v = uint32(max(t.Unix(), 1))
	}
	c.l.e.slots.At(int(c.fd)).exp.Store(v)
}

// Expiry returns when the connection expires, the zero time for never.
func (c *Conn) Expiry() time.Time {
	if s := c.l.e.slots.Peek(int(c.fd)); s != nil {
		if v := s.exp.Load(); v != 0 {
			return time.Unix(int64(v), 0)
		}
	}
	return time.Time{}
}

// SetTag keeps a number for the connection, the application's (an index
// into a table of its own, say), so that a handler shared by many
// connections can tell them apart without a field of its own.
func (c *Conn) SetTag(v uint32) { c.l.e.slots.At(int(c.fd)).tag.Store(v) }

// Tag returns what SetTag kept, 0 if nothing.
func (c *Conn) Tag() uint32 {
	if s := c.l.e.slots.Peek(int(c.fd)); s != nil {
		return s.tag.Load()
	}
	return 0
}

// expired reports whether c's expiry has passed at unix (seconds), and
// clears it: the handler hears it once.
func (c *Conn) expired(unix uint32) bool {
	s := c.l.e.slots.Peek(int(c.fd))
	if s == nil {
		return false
	}
	if v := s.exp.Load(); v != 0 && unix >= v {
		return s.exp.CompareAndSwap(v, 0)
	}
	return false
}

// expire tells the handler, or closes the connection.
func (c *Conn) expire() {
	c.l.stats.expired.Add(1)
	if ex, ok := c.h.(Expirer); ok {
		ex.OnExpire(c)
		return
	}
	c.Close(frame.ClosePolicyViolation, "expired")
}

// allowMessage takes one message from the connection's bucket:
// Options.ClientMsgRate per second, up to twice that in a burst.
func (c *Conn) allowMessage(now uint32) bool {
	rate := c.l.e.opt.ClientMsgRate
	s := c.l.e.slots.At(int(c.fd))
	burst := uint32(min(2*rate*1000, math.MaxUint32/2))
	tokens, at := s.tokens.Load(), s.rateAt.Load()
	if at == 0 { // the first message: a full bucket
		tokens = burst
	} else {
		tokens = uint32(min(float64(tokens)+float64(now-at)*rate, float64(burst)))
	}
	s.rateAt.Store(nonzero(now))
	if tokens < 1000 {
		s.tokens.Store(tokens)
		return false
	}
	s.tokens.Store(tokens - 1000)
	return true
}

// ipLimiter counts new connections per client IP for
// Options.HandshakeRate: a fixed, direct-mapped table of buckets (an IP
// whose bucket another IP took starts afresh). Used by the accepting loop
// only.
type ipLimiter struct {
	rate    float64
	seed    maphash.Seed
	buckets [4096]ipBucket
}

type ipBucket struct {
	ip     [16]byte
	at     uint32 // ms clock of the last refill
	tokens float32
}

// allow takes one connection from ip's bucket (burst: twice the rate, at
// least 1).
func (r *ipLimiter) allow(ip netip.Addr, now uint32) bool {
	key := ip.As16()
	b := &r.buckets[maphash.Bytes(r.seed, key[:])%uint64(len(r.buckets))]
	burst := float32(max(2*r.rate, 1))
	if b.ip != key || b.at == 0 {
		*b = ipBucket{ip: key, at: nonzero(now), tokens: burst}
	} else {
		b.tokens = min(b.tokens+float32(float64(now-b.at)*r.rate/1000), burst)
		b.at = nonzero(now)
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// retryAfter is the Retry-After header for a refused handshake: the whole
// seconds until a bucket holds one connection again.
func (r *ipLimiter) retryAfter() string {
	return "Retry-After: " + strconv.Itoa(int(math.Ceil(1/r.rate)))
}
