package proc

import (
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// SetCongestion sets the TCP congestion control algorithm (reno, cubic,
// bbr: /proc/sys/net/ipv4/tcp_available_congestion_control) on every TCP
// socket the process holds now, from outside: each fd is duplicated into
// this process with pidfd_getfd(2) (root, or ptrace rights over it), set
// with setsockopt(TCP_CONGESTION) — the socket's own setting, as if the
// server had set it — and closed again. It returns how many sockets were
// set; fds that are not TCP sockets are skipped. Connections opened later
// (other than through a listener that was set) keep the default.
func SetCongestion(pid int, algo string) (int, error) {
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return 0, fmt.Errorf("pidfd_open %d: %w", pid, err)
	}
	defer unix.Close(pidfd)
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return 0, err
	}
	set := 0
	var firstErr error
	for _, e := range ents {
		target, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		link, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%d", pid, target))
		if err != nil || len(link) < 7 || link[:7] != "socket:" {
			continue
		}
		fd, err := unix.PidfdGetfd(pidfd, target, 0)
		if err != nil {
			continue // closed meanwhile
		}
		// Go's listeners are MPTCP (the accepted sockets plain TCP when
		// the client is): both take TCP_CONGESTION.
		if typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PROTOCOL); err == nil && (typ == unix.IPPROTO_TCP || typ == unix.IPPROTO_MPTCP) {
			if err := unix.SetsockoptString(fd, unix.IPPROTO_TCP, unix.TCP_CONGESTION, algo); err != nil {
				if firstErr == nil {
					firstErr = fmt.Errorf("setsockopt TCP_CONGESTION %q: %w", algo, err)
				}
			} else if got, err := unix.GetsockoptString(fd, unix.IPPROTO_TCP, unix.TCP_CONGESTION); err == nil && got == algo {
				set++
			}
		}
		unix.Close(fd)
	}
	if set == 0 && firstErr != nil {
		return 0, firstErr
	}
	return set, nil
}
