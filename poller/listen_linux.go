package poller

import (
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ListenOptions tune the listening socket.
type ListenOptions struct {
	ReusePort bool // SO_REUSEPORT: several processes or listeners on one port
	Backlog   int  // 0: net.core.somaxconn
}

// Listen makes a non-blocking TCP listening socket on addr ("ip:port",
// IPv4 or IPv6) with socket/bind/listen and SO_REUSEADDR, and returns its
// fd and the address it is bound to (port 0 picks one).
func Listen(addr string, o ListenOptions) (fd int, bound netip.AddrPort, err error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return -1, bound, fmt.Errorf("poller: listen address %q: %w", addr, err)
	}
	family := unix.AF_INET
	var sa unix.Sockaddr
	if ap.Addr().Is4() {
		sa = &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	} else {
		family = unix.AF_INET6
		sa = &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
	}
	fd, err = unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
	if err != nil {
		return -1, bound, fmt.Errorf("poller: socket: %w", err)
	}
	fail := func(what string, err error) (int, netip.AddrPort, error) {
		unix.Close(fd)
		return -1, bound, fmt.Errorf("poller: %s %s: %w", what, addr, err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return fail("SO_REUSEADDR", err)
	}
	if o.ReusePort {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
			return fail("SO_REUSEPORT", err)
		}
	}
	if err := unix.Bind(fd, sa); err != nil {
		return fail("bind", err)
	}
	backlog := o.Backlog
	if backlog <= 0 {
		backlog = somaxconn()
	}
	if err := unix.Listen(fd, backlog); err != nil {
		return fail("listen", err)
	}
	got, err := unix.Getsockname(fd)
	if err != nil {
		return fail("getsockname", err)
	}
	return fd, SockaddrToAddrPort(got), nil
}

// somaxconn reads net.core.somaxconn, the kernel's cap on the backlog.
func somaxconn() int {
	b, err := os.ReadFile("/proc/sys/net/core/somaxconn")
	if err != nil {
		return 4096
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || n <= 0 {
		return 4096
	}
	return n
}

// Accept takes one connection from a listening socket with accept4
// (SOCK_NONBLOCK|SOCK_CLOEXEC). It does not ask for the peer address, so it
// allocates nothing. unix.EAGAIN means none is waiting.
func Accept(lfd int) (int, error) {
	for {
		nfd, _, e := unix.Syscall6(unix.SYS_ACCEPT4, uintptr(lfd), 0, 0, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return -1, e
		}
		return int(nfd), nil
	}
}

// AcceptFrom is Accept that also returns the peer's address, read into a
// buffer on the stack: still no allocation.
func AcceptFrom(lfd int) (int, netip.Addr, error) {
	var rsa unix.RawSockaddrAny
	for {
		n := uint32(unix.SizeofSockaddrAny)
		nfd, _, e := unix.Syscall6(unix.SYS_ACCEPT4, uintptr(lfd), uintptr(unsafe.Pointer(&rsa)), uintptr(unsafe.Pointer(&n)), unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return -1, netip.Addr{}, e
		}
		var ip netip.Addr
		switch rsa.Addr.Family {
		case unix.AF_INET:
			ip = netip.AddrFrom4((*unix.RawSockaddrInet4)(unsafe.Pointer(&rsa)).Addr)
		case unix.AF_INET6:
			ip = netip.AddrFrom16((*unix.RawSockaddrInet6)(unsafe.Pointer(&rsa)).Addr).Unmap()
		}
		return int(nfd), ip, nil
	}
}

// SockaddrToAddrPort converts a unix.Sockaddr to a netip.AddrPort.
func SockaddrToAddrPort(sa unix.Sockaddr) netip.AddrPort {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port))
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(a.Addr), uint16(a.Port))
	}
	return netip.AddrPort{}
}

// PeerAddr returns the remote address of a connected socket.
func PeerAddr(fd int) netip.AddrPort {
	sa, err := unix.Getpeername(fd)
	if err != nil {
		return netip.AddrPort{}
	}
	return SockaddrToAddrPort(sa)
}
