package poller

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// Errors a non-blocking socket call returns that are not failures.
var (
	ErrAgain = unix.EAGAIN // nothing to read, or no room to write, now
	ErrIntr  = unix.EINTR
)

// Read reads from socket fd into p. It uses recvfrom(2), not read(2): a
// socket call skips the VFS layer (file position locking, rw checks) that
// read pays. The fd is non-blocking, so the call never waits: it is made
// as a raw syscall, without telling the Go scheduler, which saves the
// hand-off work a blocking call needs.
func Read(fd int, p []byte) (int, error) {
	var base unsafe.Pointer
	if len(p) > 0 {
		base = unsafe.Pointer(&p[0])
	}
	n, _, e := unix.RawSyscall6(unix.SYS_RECVFROM, uintptr(fd), uintptr(base), uintptr(len(p)), unix.MSG_DONTWAIT, 0, 0)
	if e != 0 {
		return -1, e
	}
	return int(n), nil
}

// Close closes fd.
func Close(fd int) error { return unix.Close(fd) }

// ShutdownWrite sends FIN: the peer reads EOF once it has read the rest.
func ShutdownWrite(fd int) error { return unix.Shutdown(fd, unix.SHUT_WR) }

// ShutdownBoth shuts both directions; the loop then sees the fd fail.
func ShutdownBoth(fd int) error { return unix.Shutdown(fd, unix.SHUT_RDWR) }

// SetNoDelay turns off Nagle's algorithm: frames go out when written.
func SetNoDelay(fd int) error {
	return unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
}

// MaxFDs returns the process's soft limit on open files.
func MaxFDs() (int, error) {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return 0, err
	}
	return int(min(rl.Cur, 1<<22)), nil
}

// OutOfFDs reports whether err says the process or system ran out of file
// descriptors.
func OutOfFDs(err error) bool { return err == unix.EMFILE || err == unix.ENFILE }

// TCPInfo returns the kernel's TCP_INFO for a connected socket: segment
// and byte counters, RTT, retransmissions.
func TCPInfo(fd int) (*unix.TCPInfo, error) {
	return unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO)
}
