package wsconn

import (
	"bytes"
	"iter"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/internal/wstest"
	"github.com/wsd-dev/wsd/upgrade"
)

// An idle client gets pings; one that answers stays, one that does not is
// closed after two more silent intervals.
func TestPingAndPingTimeout(t *testing.T) {
	const interval = 150 * time.Millisecond
	s, rec := startEcho(t, func(o *Options) { o.PingInterval = interval })
	addr := s.Addr().String()
	good, err := wstest.Dial(addr, "/echo", "")
	require.NoError(t, err)
	defer good.Close()
	silent, err := wstest.Dial(addr, "/echo", "")
	require.NoError(t, err)
	defer silent.Close()

	start := time.Now()
	for range 4 { // the good client answers every ping
		f, err := good.ReadFrame(2 * time.Second)
		require.NoError(t, err)
		require.Equal(t, frame.OpPing, f.Header.OpCode)
		good.Write(wstest.Masked(true, frame.OpPong, f.Payload))
	}
	assert.GreaterOrEqual(t, time.Since(start), 3*interval, "pings come about once per interval of silence")

	// The silent client: one ping, then the connection is cut.
	f, err := silent.ReadFrame(2 * time.Second)
	require.NoError(t, err)
	assert.Equal(t, frame.OpPing, f.Header.OpCode)
	require.NoError(t, silent.ExpectEOF(2*time.Second))
	eventually(t, time.Second, func() bool { return s.Stats().PingTimeouts == 1 }, "ping timeout not counted")
	assert.Equal(t, []frame.CloseCode{frame.CloseAbnormal}, rec.list())
	assert.Equal(t, 1, s.Conns(), "the answering client is still connected")
}

// Connections that went idle together are not all pinged in one sweep:
// each one's ping is due up to half an interval later than the interval,
// by its fd, and none goes out before it is due. (Timed as the server
// reads and writes, through an Observer; when the last sweep was late, on
// a loaded machine, the pings due meanwhile go out together, as they
// should: this checks the schedule, not the machine.)
func TestPingsSpreadOverSweeps(t *testing.T) {
	const interval = 400 * time.Millisecond
	var mu sync.Mutex
	heard := map[string]time.Time{} // remote address → when its message arrived
	pinged := map[string]time.Time{}
	// A 40 ms close timeout makes the sweep run every 10 ms.
	s, _ := startEcho(t, func(o *Options) {
		o.PingInterval = interval
		o.CloseTimeout = 40 * time.Millisecond
		o.Observe = func(_ *upgrade.Request, remote, _ netip.AddrPort) Observer {
			return &pingTimer{mu: &mu, remote: remote.String(), heard: heard, pinged: pinged}
		}
	})
	var clients []*wstest.Client
	for range 200 {
		c, err := wstest.Dial(s.Addr().String(), "/echo", "")
		require.NoError(t, err)
		defer c.Close()
		clients = append(clients, c)
	}
	// Which fd serves which client (before the pings: unanswered, they
	// end the connections two intervals later).
	fds := map[string]int32{}
	s.OnLoops(func(_ int, conns iter.Seq[*Conn]) {
		mu.Lock()
		defer mu.Unlock()
		for c := range conns {
			fds[c.RemoteAddr().String()] = c.fd
		}
	})
	// All go quiet at the same moment: one message each, echoed; then
	// nobody reads or answers.
	for _, c := range clients {
		c.Write(wstest.Masked(true, frame.OpText, []byte("hi")))
	}
	eventually(t, 10*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(pinged) == len(clients)
	}, "not every client was pinged")
	mu.Lock()
	defer mu.Unlock()
	ping := ms(interval)
	lo, hi := ping, uint32(0)
	for remote, at := range pinged {
		fd, ok := fds[remote]
		require.True(t, ok, "no connection from %s", remote)
		due := time.Duration(ping+pingSpread(fd, ping)) * time.Millisecond
		// The clock counts whole milliseconds: allow 2 ms.
		require.GreaterOrEqual(t, at.Sub(heard[remote]), due-2*time.Millisecond, "fd %d pinged before it was due", fd)
		lo, hi = min(lo, pingSpread(fd, ping)), max(hi, pingSpread(fd, ping))
	}
	assert.GreaterOrEqual(t, hi-lo, ping/2*60/64, "the pings' due times spread over half an interval")
}

// pingTimer is an Observer that notes when the client's message arrived
// and when the server wrote a ping.
type pingTimer struct {
	mu            *sync.Mutex
	remote        string
	heard, pinged map[string]time.Time
	open          bool
}

func (p *pingTimer) Received(b []byte) {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.open { // after the request head: the message
		p.heard[p.remote] = now
	}
	p.open = true
}

func (p *pingTimer) Sent(b []byte) {
	if len(b) == 2 && b[0] == 0x89 { // FIN + ping, empty: the header the sweep writes
		p.mu.Lock()
		p.pinged[p.remote] = time.Now()
		p.mu.Unlock()
	}
}

func (*pingTimer) End(string) {}

// A server-initiated Close waits for the client's Close; a client that
// never answers is cut at the close timeout.
func TestServerCloseWaitsBoundedTime(t *testing.T) {
	s, rec := startEcho(t, func(o *Options) { o.CloseTimeout = 200 * time.Millisecond })
	c, err := wstest.Dial(s.Addr().String(), "/echo", "")
	require.NoError(t, err)
	defer c.Close()
	conn := serverConn(t, s)
	conn.Close(4000, "bye")
	assert.ErrorIs(t, conn.Send(frame.OpText, []byte("late")), ErrClosed, "no data after our Close")
	f, err := c.ReadFrame(time.Second)
	require.NoError(t, err)
	code, reason := f.Close()
	assert.Equal(t, frame.CloseCode(4000), code)
	assert.Equal(t, "bye", reason)
	start := time.Now()
	require.NoError(t, c.ExpectEOF(2*time.Second))
	assert.GreaterOrEqual(t, time.Since(start), 150*time.Millisecond, "the server waited for our answer")
	eventually(t, time.Second, func() bool { return len(rec.list()) == 1 }, "no close recorded")
	assert.Equal(t, frame.CloseAbnormal, rec.list()[0], "no answer: reported as abnormal")
}

func TestMaxConns(t *testing.T) {
	s, _ := startEcho(t, func(o *Options) { o.MaxConns = 3 })
	var cs []*wstest.Client
	for range 3 {
		c, err := wstest.Dial(s.Addr().String(), "/echo", "")
		require.NoError(t, err)
		cs = append(cs, c)
	}
	_, err := wstest.Dial(s.Addr().String(), "/echo", "")
	assert.Error(t, err, "the fourth is refused")
	assert.Equal(t, int64(1), s.Stats().Refused)
	cs[0].Close()
	eventually(t, time.Second, func() bool { return s.Conns() == 2 }, "close not seen")
	c, err := wstest.Dial(s.Addr().String(), "/echo", "")
	require.NoError(t, err, "room again")
	c.Close()
	for _, c := range cs[1:] {
		c.Close()
	}
}

// Partial messages across all connections are capped: the connection that
// would pass the cap is closed with 1009; the others go on.
func TestMessageMemoryCap(t *testing.T) {
	// 2.5 MiB: two 1 MiB messages fit, a third does not.
	s, _ := startEcho(t, func(o *Options) { o.MaxMessageMemory = 5 << 19 })
	addr := s.Addr().String()
	big := wstest.Masked(true, frame.OpBinary, bytes.Repeat([]byte("m"), 1<<20))
	var holders []*wstest.Client
	for range 2 {
		c, err := wstest.Dial(addr, "/echo", "")
		require.NoError(t, err)
		c.Write(big[:len(big)-10]) // all but the end: the server holds it
		holders = append(holders, c)
	}
	eventually(t, 2*time.Second, func() bool { return s.Stats().MessageMemory >= 2<<20 }, "messages not held: %d", s.Stats().MessageMemory)
	third, err := wstest.Dial(addr, "/echo", "")
	require.NoError(t, err)
	defer third.Close()
	third.Write(big[:len(big)-10])
	f, err := third.ReadFrame(2 * time.Second)
	require.NoError(t, err)
	code, reason := f.Close()
	assert.Equal(t, frame.CloseMessageTooBig, code, reason)
	// The holders finish their messages and get them back whole.
	for _, c := range holders {
		c.Write(big[len(big)-10:])
		_, p, err := c.ReadMessage(2 * time.Second)
		require.NoError(t, err)
		assert.Len(t, p, 1<<20)
		c.Close()
	}
	eventually(t, 2*time.Second, func() bool { return s.Stats().MessageMemory == 0 }, "memory not given back")
}
