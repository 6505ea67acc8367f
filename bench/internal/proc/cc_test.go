package proc

import (
	"net"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// SetCongestion reaches the sockets of a process from outside: here this
// test's own, a connected pair.
func TestSetCongestion(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	n, err := SetCongestion(os.Getpid(), "reno")
	if err != nil {
		t.Skipf("pidfd_getfd not allowed here: %v", err)
	}
	if n < 2 { // the client side and the accepted one (and the listener when the kernel lets MPTCP take it)
		t.Fatalf("set %d sockets, want at least 2", n)
	}
	raw, _ := s.(*net.TCPConn).SyscallConn()
	var got string
	raw.Control(func(fd uintptr) { got, err = unix.GetsockoptString(int(fd), unix.IPPROTO_TCP, unix.TCP_CONGESTION) })
	if err != nil || got != "reno" {
		t.Fatalf("accepted socket: congestion control %q, %v; want reno", got, err)
	}
}
