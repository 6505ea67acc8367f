// Package poller runs event loops over Linux epoll on raw file descriptors,
// through golang.org/x/sys/unix: no net.Conn, no goroutine per connection,
// one fd per connection. Each Loop owns an epoll instance, a read buffer
// shared by all its connections, and a task queue that other goroutines
// post to. Listen and Accept make the listening socket and take
// connections from it without allocating.
//
// On systems other than Linux the package builds, and every constructor
// returns ErrUnsupported.
package poller

import "errors"

// ErrUnsupported is returned on systems without epoll.
var ErrUnsupported = errors.New("poller: wsd needs Linux (epoll); this system is not supported")
