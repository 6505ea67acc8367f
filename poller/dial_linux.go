package poller

import (
	"errors"
	"fmt"
	"net/netip"

	"golang.org/x/sys/unix"
)

// Dial starts a non-blocking TCP connect from src (any port; the zero Addr
// lets the kernel choose) to dst. The connection completes when the fd
// turns writable; SocketError then tells whether it worked.
func Dial(src netip.Addr, dst netip.AddrPort) (int, error) {
	family := unix.AF_INET
	if dst.Addr().Is6() {
		family = unix.AF_INET6
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
	if err != nil {
		return -1, fmt.Errorf("poller: socket: %w", err)
	}
	if src.IsValid() {
		// Let connect pick the port, so that many source addresses each
		// get their own ~28K ephemeral ports.
		unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
		if err := unix.Bind(fd, sockaddr(netip.AddrPortFrom(src, 0))); err != nil {
			unix.Close(fd)
			return -1, fmt.Errorf("poller: bind %s: %w", src, err)
		}
	}
	unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	if err := unix.Connect(fd, sockaddr(dst)); err != nil && err != unix.EINPROGRESS {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

func sockaddr(ap netip.AddrPort) unix.Sockaddr {
	if ap.Addr().Is4() {
		return &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	}
	return &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
}

// SocketError returns the pending error of a socket (SO_ERROR): after a
// non-blocking connect, nil means connected.
func SocketError(fd int) error {
	v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err != nil {
		return err
	}
	if v != 0 {
		return unix.Errno(v)
	}
	return nil
}

// IsRefused and IsTimeout classify connect errors.
func IsRefused(err error) bool { return errors.Is(err, unix.ECONNREFUSED) }

func IsTimeout(err error) bool { return errors.Is(err, unix.ETIMEDOUT) }
