package poller

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Event bits, as epoll reports them.
const (
	In    = unix.EPOLLIN
	Out   = unix.EPOLLOUT
	RdHup = unix.EPOLLRDHUP
	Hup   = unix.EPOLLHUP
	Err   = unix.EPOLLERR
)

// Handler receives a loop's events, always on the loop's goroutine.
type Handler interface {
	// Event reports readiness of fd (a bitmask of In, Out, RdHup, Hup, Err).
	Event(l *Loop, fd int, events uint32)
	// Tick is called about once per tick interval, for timer sweeps.
	Tick(l *Loop, now time.Time)
}

// Loop is one event loop: an epoll instance and the goroutine that waits
// on it.
type Loop struct {
	ID  int
	Buf []byte // read buffer shared by every fd of this loop; use it only on the loop

	epfd   int
	wakefd int // eventfd: Post wakes the loop through it
	h      Handler
	tick   time.Duration
	events [256]unix.EpollEvent
	iov    [64]unix.Iovec

	mu      sync.Mutex
	tasks   []func()
	running []func()
	woken   atomic.Bool
	stopped atomic.Bool
	polls   atomic.Uint64
	done    chan struct{}
}

// NewLoop creates a loop with a read buffer of bufSize bytes that calls
// h.Tick about every tick.
func NewLoop(id int, h Handler, bufSize int, tick time.Duration) (*Loop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("poller: epoll_create1: %w", err)
	}
	wakefd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("poller: eventfd: %w", err)
	}
	l := &Loop{ID: id, Buf: make([]byte, bufSize), epfd: epfd, wakefd: wakefd, h: h, tick: tick, done: make(chan struct{})}
	if err := l.Add(wakefd, In); err != nil {
		l.close()
		return nil, err
	}
	return l, nil
}

// Add registers fd for events (level-triggered).
func (l *Loop) Add(fd int, events uint32) error {
	ev := unix.EpollEvent{Events: events, Fd: int32(fd)}
	if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return fmt.Errorf("poller: epoll_ctl add fd %d: %w", fd, err)
	}
	return nil
}

// Mod changes the events fd is registered for. Safe from any goroutine
// (epoll_ctl is).
func (l *Loop) Mod(fd int, events uint32) error {
	ev := unix.EpollEvent{Events: events, Fd: int32(fd)}
	if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_MOD, fd, &ev); err != nil {
		return fmt.Errorf("poller: epoll_ctl mod fd %d: %w", fd, err)
	}
	return nil
}

// Del removes fd from the loop.
func (l *Loop) Del(fd int) error {
	if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, fd, nil); err != nil {
		return fmt.Errorf("poller: epoll_ctl del fd %d: %w", fd, err)
	}
	return nil
}

// Post runs fn on the loop's goroutine soon. Safe from any goroutine.
func (l *Loop) Post(fn func()) {
	l.mu.Lock()
	l.tasks = append(l.tasks, fn)
	l.mu.Unlock()
	l.wake()
}

func (l *Loop) wake() {
	if l.woken.CompareAndSwap(false, true) {
		var one = [8]byte{1}
		unix.Write(l.wakefd, one[:])
	}
}

// Stop makes Run return after the current iteration; Done is closed then.
func (l *Loop) Stop() {
	l.stopped.Store(true)
	l.wake()
}

// Done is closed when Run has returned.
func (l *Loop) Done() <-chan struct{} { return l.done }

// Run waits for events and dispatches them until Stop. It owns the calling
// goroutine.
func (l *Loop) Run() error {
	defer close(l.done)
	defer l.close()
	next := time.Now().Add(l.tick)
	for !l.stopped.Load() {
		// Poll first without blocking, as a raw syscall: under load events
		// are ready and the Go scheduler never has to hand the thread off.
		// Only an idle loop blocks, through the scheduler-aware call.
		n, err := l.pollNow()
		l.polls.Add(1)
		if n == 0 && err == nil {
			// Round up: a wait truncated to 0 ms would spin through the
			// last millisecond before every tick.
			wait := max(int((time.Until(next)+time.Millisecond-1)/time.Millisecond), 0)
			n, err = unix.EpollWait(l.epfd, l.events[:], wait)
		}
		if err != nil && err != unix.EINTR {
			return fmt.Errorf("poller: epoll_wait: %w", err)
		}
		n = max(n, 0)
		for i := range n {
			ev := &l.events[i]
			if int(ev.Fd) == l.wakefd {
				var b [8]byte
				unix.Read(l.wakefd, b[:])
				l.woken.Store(false)
				continue
			}
			l.h.Event(l, int(ev.Fd), ev.Events)
		}
		l.runTasks()
		if now := time.Now(); !now.Before(next) {
			l.h.Tick(l, now)
			next = now.Add(l.tick)
		}
	}
	l.runTasks()
	return nil
}

// Polls returns how many times the loop has asked epoll for events: a
// measure of how busy it is, and of spinning if it grows while idle.
func (l *Loop) Polls() uint64 { return l.polls.Load() }

// pollNow is epoll_wait with a zero timeout, made as a raw syscall.
func (l *Loop) pollNow() (int, error) {
	n, _, e := unix.RawSyscall6(unix.SYS_EPOLL_WAIT, uintptr(l.epfd), uintptr(unsafe.Pointer(&l.events[0])), uintptr(len(l.events)), 0, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

func (l *Loop) runTasks() {
	l.mu.Lock()
	l.tasks, l.running = l.running[:0], l.tasks
	l.mu.Unlock()
	for i, fn := range l.running {
		fn()
		l.running[i] = nil
	}
}

func (l *Loop) close() {
	unix.Close(l.wakefd)
	unix.Close(l.epfd)
}

// sendFlags: never block, never raise SIGPIPE. Socket calls (sendto,
// sendmsg) rather than write/writev skip the VFS layer: measured ~10% of
// the kernel time per small write on loopback.
const sendFlags = unix.MSG_DONTWAIT | unix.MSG_NOSIGNAL

// Writev writes bufs to fd with one sendmsg(2), using the loop's iovec
// array: call it only on the loop's goroutine. At most 64 buffers are
// written; it returns the bytes written.
func (l *Loop) Writev(fd int, bufs [][]byte) (int, error) {
	n := 0
	for _, b := range bufs {
		if len(b) == 0 {
			continue
		}
		if n == len(l.iov) {
			break
		}
		l.iov[n].Base = &b[0]
		l.iov[n].SetLen(len(b))
		n++
	}
	if n == 0 {
		return 0, nil
	}
	msg := unix.Msghdr{Iov: &l.iov[0], Iovlen: uint64(n)}
	w, _, e := unix.RawSyscall(unix.SYS_SENDMSG, uintptr(fd), uintptr(unsafe.Pointer(&msg)), sendFlags)
	for i := range n {
		l.iov[i].Base = nil // let the GC have the buffers
	}
	if e != 0 {
		return 0, e
	}
	return int(w), nil
}

// Write writes the non-empty ones of a, b and c to socket fd with one
// sendto(2) or sendmsg(2),
// from any goroutine (the iovecs live on the caller's stack): a frame
// header and its payload go out without copying the payload.
func Write(fd int, a, b, c []byte) (int, error) {
	var iov [3]unix.Iovec
	n := 0
	for _, p := range [3][]byte{a, b, c} {
		if len(p) > 0 {
			iov[n].Base = &p[0]
			iov[n].SetLen(len(p))
			n++
		}
	}
	var w uintptr
	var e unix.Errno
	switch n {
	case 0:
		return 0, nil
	case 1:
		w, _, e = unix.RawSyscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(iov[0].Base)), uintptr(iov[0].Len), sendFlags, 0, 0)
	default:
		msg := unix.Msghdr{Iov: &iov[0], Iovlen: uint64(n)}
		w, _, e = unix.RawSyscall(unix.SYS_SENDMSG, uintptr(fd), uintptr(unsafe.Pointer(&msg)), sendFlags)
	}
	if e != 0 {
		return 0, e
	}
	return int(w), nil
}
