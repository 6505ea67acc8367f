// Command sendfloor measures what the kernel charges a sender for one small
// frame written to each of many loopback TCP connections: the floor under
// any broadcast that makes one send per recipient, whatever its user-space
// code. It compares one sendto(2) per socket with io_uring batches of
// IORING_OP_SEND (one io_uring_enter per 1,024 sends), with and without
// registered files, rotating the methods round by round so that they share
// the machine's noise. The receiving sockets are drained between rounds,
// outside the measurement; on loopback their TCP receive path and their
// ACKs still run in the sender's softirq, as they do in the hub benchmark.
package main

import (
	"cmp"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

var (
	pairs  = flag.Int("n", 9000, "connections (two fds each; the process may hold ~19,500)")
	rounds = flag.Int("rounds", 30, "rounds per method")
	gap    = flag.Duration("gap", 300*time.Millisecond, "pause between rounds (longer than the minimum RTO, as between broadcasts)")
	size   = flag.Int("size", 64, "payload bytes")
	outDir = flag.String("out", "", "write sendfloor.md here")
)

type method struct {
	name string
	send func(fds []int, buf []byte) (short int, err error)
	cpu  time.Duration
	wall time.Duration
}

func main() {
	flag.Parse()
	log.SetFlags(0)
	// CPU is the whole process's: io_uring may complete work on its own
	// kernel threads, which belong to the process.
	srv, cli, keep, err := connect(*pairs)
	if err != nil {
		log.Fatal(err)
	}
	defer runtime.KeepAlive(keep) // the net.Conns own the fds
	ring, err := newUring(1024)
	if err != nil {
		log.Fatal(err)
	}
	fixed, err := newUring(1024)
	if err == nil {
		err = fixed.registerFiles(srv)
	}
	if err != nil {
		log.Fatal(err)
	}
	methods := []*method{
		{name: "sendto(2) per socket", send: sendtoAll},
		{name: "sendto(2) per socket, two threads at once", send: func(f []int, b []byte) (int, error) { return inParallel(2, f, b, sendtoAll) }},
		{name: "io_uring SEND, 1,024 per enter", send: func(f []int, b []byte) (int, error) { return ring.sendAll(f, b, false) }},
		{name: "io_uring SEND, registered files", send: func(f []int, b []byte) (int, error) { return fixed.sendAll(f, b, true) }},
	}
	// A server frame: FIN+binary, 7-bit length (payloads up to 125 bytes).
	buf := append([]byte{0x82, byte(min(*size, 125))}, make([]byte, min(*size, 125))...)
	drain := make([]byte, 64<<10)
	for r := 0; r <= *rounds; r++ {
		for i := range methods {
			m := methods[(r+i)%len(methods)]
			c0, w0 := processCPU(), time.Now()
			short, err := m.send(srv, buf)
			if err != nil {
				log.Fatalf("%s: %v", m.name, err)
			}
			if short > 0 {
				log.Fatalf("%s: %d of %d sends were short: the receivers are not drained", m.name, short, len(srv))
			}
			if r > 0 { // round 0 warms up
				m.cpu += processCPU() - c0
				m.wall += time.Since(w0)
			}
			time.Sleep(*gap)
			for _, fd := range cli {
				for {
					if n, _, err := unix.Recvfrom(fd, drain, unix.MSG_DONTWAIT); n <= 0 || err != nil {
						break
					}
				}
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "| method | CPU per send | wall per send |\n|---|---:|---:|\n")
	per := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 / float64(*rounds**pairs) }
	for _, m := range methods {
		fmt.Fprintf(&b, "| %s | %.2f µs | %.2f µs |\n", m.name, per(m.cpu), per(m.wall))
	}
	fmt.Fprintf(&b, "\n%d connections, %d-byte frames, %d rounds per method, %v apart.\n", *pairs, len(buf), *rounds, *gap)
	fmt.Print(b.String())
	if *outDir != "" {
		if err := os.WriteFile(filepath.Join(*outDir, "sendfloor.md"), []byte(b.String()), 0o644); err != nil {
			log.Fatal(err)
		}
	}
}

func sendtoAll(fds []int, buf []byte) (short int, err error) {
	for _, fd := range fds {
		n, _, e := unix.RawSyscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), unix.MSG_DONTWAIT, 0, 0)
		if e != 0 && e != unix.EAGAIN {
			return short, fmt.Errorf("sendto fd %d: %w", fd, e)
		}
		if int(n) != len(buf) {
			short++
		}
	}
	return short, nil
}

// inParallel splits fds between k threads that send at the same time, as
// a server's loops do.
func inParallel(k int, fds []int, buf []byte, send func([]int, []byte) (int, error)) (short int, err error) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i := range k {
		part := fds[i*len(fds)/k : (i+1)*len(fds)/k]
		wg.Go(func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			n, e := send(part, buf)
			mu.Lock()
			short += n
			err = cmp.Or(err, e)
			mu.Unlock()
		})
	}
	wg.Wait()
	return short, err
}

// connect makes n loopback connections and returns the server-side and
// client-side fds, and the conns that own them.
func connect(n int) (srv, cli []int, keep []net.Conn, err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, nil, err
	}
	defer ln.Close()
	fdOf := func(c net.Conn) (fd int) {
		rc, _ := c.(*net.TCPConn).SyscallConn()
		rc.Control(func(f uintptr) { fd = int(f) })
		return fd
	}
	for range n {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			return nil, nil, nil, fmt.Errorf("dial %d of %d: %w", len(cli)+1, n, err)
		}
		s, err := ln.Accept()
		if err != nil {
			return nil, nil, nil, err
		}
		s.(*net.TCPConn).SetNoDelay(true)
		keep = append(keep, c, s)
		srv, cli = append(srv, fdOf(s)), append(cli, fdOf(c))
	}
	return srv, cli, keep, nil
}

func processCPU() time.Duration {
	var ru unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
