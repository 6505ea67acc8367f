//go:build linux

package poller

import (
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

type recorder struct {
	events chan [2]int
	ticks  chan tick
	n      int64 // ticks so far; on the loop's goroutine only
}

// tick is what a Tick call saw: its number, its time, and how many times
// the loop had polled by then.
type tick struct {
	n     int64
	at    time.Time
	polls uint64
}

func (r *recorder) Event(l *Loop, fd int, ev uint32) {
	r.events <- [2]int{fd, int(ev)}
	if ev&In != 0 {
		unix.Read(fd, l.Buf) // level-triggered: drain so it does not fire again (a pipe: not a socket)
	}
}

// Tick reports each tick on r.ticks without ever blocking the loop: a tick
// nobody is reading is dropped (its number tells).
func (r *recorder) Tick(l *Loop, now time.Time) {
	r.n++
	select {
	case r.ticks <- tick{r.n, now, l.Polls()}:
	default:
	}
}

// nextTicks returns the next k ticks reported, failing the test if they do
// not all come within the deadline.
func (r *recorder) nextTicks(t *testing.T, k int, deadline time.Duration) []tick {
	t.Helper()
	timeout := time.After(deadline)
	var got []tick
	for len(got) < k {
		select {
		case tk := <-r.ticks:
			got = append(got, tk)
		case <-timeout:
			t.Fatalf("%d ticks in %v, want %d", len(got), deadline, k)
		}
	}
	return got
}

func newLoop(t *testing.T) (*Loop, *recorder) {
	r := &recorder{events: make(chan [2]int, 100), ticks: make(chan tick, 1024)}
	l, err := NewLoop(0, r, 4096, 10*time.Millisecond)
	require.NoError(t, err)
	go l.Run()
	t.Cleanup(func() { l.Stop(); <-l.Done() })
	return l, r
}

func TestListenAcceptReadWrite(t *testing.T) {
	lfd, addr, err := Listen("127.0.0.1:0", ListenOptions{})
	require.NoError(t, err)
	defer Close(lfd)
	assert.NotZero(t, addr.Port())
	_, err = Accept(lfd)
	assert.Equal(t, ErrAgain, err, "non-blocking: nothing waiting")

	c, err := net.Dial("tcp", addr.String())
	require.NoError(t, err)
	defer c.Close()
	var fd int
	require.Eventually(t, func() bool { fd, err = Accept(lfd); return err == nil }, time.Second, time.Millisecond)
	defer Close(fd)
	assert.Equal(t, c.LocalAddr().String(), PeerAddr(fd).String())

	n, err := Write(fd, []byte("ab"), nil, []byte("cd"))
	require.NoError(t, err)
	assert.Equal(t, 4, n)
	buf := make([]byte, 10)
	c.SetReadDeadline(time.Now().Add(time.Second))
	k, _ := c.Read(buf)
	assert.Equal(t, "abcd", string(buf[:k]), "one writev, buffers in order, empty ones skipped")

	_, err = Read(fd, buf)
	assert.Equal(t, ErrAgain, err)
	c.Write([]byte("xyz"))
	require.Eventually(t, func() bool { k, err = Read(fd, buf); return err == nil }, time.Second, time.Millisecond)
	assert.Equal(t, "xyz", string(buf[:k]))
}

func TestListenBadAddress(t *testing.T) {
	_, _, err := Listen("not-an-address", ListenOptions{})
	assert.ErrorContains(t, err, "not-an-address")
	lfd, addr, err := Listen("127.0.0.1:0", ListenOptions{})
	require.NoError(t, err)
	defer Close(lfd)
	_, _, err = Listen(addr.String(), ListenOptions{})
	assert.ErrorContains(t, err, "bind", "the port is taken")
	// With SO_REUSEPORT on both, two listeners share a port.
	a, ap, err := Listen("127.0.0.1:0", ListenOptions{ReusePort: true})
	require.NoError(t, err)
	defer Close(a)
	b, _, err := Listen(ap.String(), ListenOptions{ReusePort: true})
	require.NoError(t, err)
	Close(b)
}

func TestLoopEventsTicksAndPost(t *testing.T) {
	l, r := newLoop(t)
	rfd, wfd, err := os.Pipe()
	require.NoError(t, err)
	defer rfd.Close()
	defer wfd.Close()
	require.NoError(t, l.Add(int(rfd.Fd()), In))
	wfd.Write([]byte("x"))
	select {
	case ev := <-r.events:
		assert.Equal(t, int(rfd.Fd()), ev[0])
		assert.NotZero(t, ev[1]&In)
	case <-time.After(time.Second):
		t.Fatal("no event")
	}
	ran := make(chan bool)
	l.Post(func() { ran <- true })
	select {
	case <-ran:
	case <-time.After(time.Second):
		t.Fatal("posted task did not run")
	}
	// Ticks come, never closer together than the 10 ms interval.
	ticks := r.nextTicks(t, 4, 10*time.Second)
	for i := 1; i < len(ticks); i++ {
		assert.GreaterOrEqual(t, ticks[i].at.Sub(ticks[i-1].at), 10*time.Millisecond, "ticks %d and %d", ticks[i-1].n, ticks[i].n)
	}
	require.NoError(t, l.Del(int(rfd.Fd())))
	assert.Error(t, l.Del(int(rfd.Fd())), "not registered any more")
}

// An idle loop sleeps in epoll_wait until its next tick: it must not spin
// (a wait rounded down to 0 ms once polled ~200,000 times a second through
// the last millisecond of every tick).
//
// Counted between ticks, on the loop itself: an idle tick interval is one
// poll without waiting, one epoll_wait to the next tick, and at most a
// spare one if the wait returns a moment early.
func TestIdleLoopSleeps(t *testing.T) {
	_, r := newLoop(t)
	ticks := r.nextTicks(t, 31, 30*time.Second)
	first, last := ticks[0], ticks[len(ticks)-1]
	n := last.n - first.n
	polls := last.polls - first.polls
	assert.LessOrEqual(t, polls, uint64(3*n+10), "polls while idle over %d ticks (%v)", n, last.at.Sub(first.at))
	assert.GreaterOrEqual(t, last.at.Sub(first.at), time.Duration(n)*10*time.Millisecond, "%d ticks at least 10 ms apart", n)
}

func TestDialAndSocketError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	target := netip.MustParseAddrPort(ln.Addr().String())
	fd, err := Dial(netip.MustParseAddr("127.0.0.7"), target)
	require.NoError(t, err)
	defer Close(fd)
	c, err := ln.Accept()
	require.NoError(t, err)
	defer c.Close()
	assert.Equal(t, "127.0.0.7", netip.MustParseAddrPort(c.RemoteAddr().String()).Addr().String(), "bound to the source address")
	require.Eventually(t, func() bool { return SocketError(fd) == nil }, time.Second, time.Millisecond)
	ln.Close()
	fd2, err := Dial(netip.Addr{}, target)
	require.NoError(t, err)
	defer Close(fd2)
	require.Eventually(t, func() bool { return IsRefused(SocketError(fd2)) }, time.Second, time.Millisecond)
}
