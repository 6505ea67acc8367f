package web

import (
	"encoding/json"
	"strconv"
	"sync"
	"time"

	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/wsconn"
)

// Sending to a page: events wait in the viewer's queue; its goroutine
// sends them as one message of at most batchBytes (or one event) whenever
// the socket's own queue is under sendBelow, so that a page that reads
// slowly holds at most its queue, a batch and what the kernel buffers.
const (
	sendBelow  = 256 << 10
	batchBytes = 256 << 10
	recheck    = 10 * time.Millisecond // how often a full socket is looked at again
)

// viewer is one open page: a wsconn.Handler, its queue and its sender.
type viewer struct {
	s    *Server
	c    *wsconn.Conn
	wake chan struct{} // a token when events are queued or the page resumes
	gone chan struct{} // closed when the page's socket is

	mu      sync.Mutex
	q       [][]byte // events, oldest first, from head
	head    int
	bytes   int   // of q[head:]
	dropped int64 // since the last message sent
	paused  bool
}

// Messages to the page.
type hello struct {
	Type      string `json:"type"` // "hello"
	Source    string `json:"source"`
	MaxEvents int    `json:"max_events"`
	MaxBytes  int    `json:"max_bytes"`
}

// push queues one event, dropping the oldest past the bounds.
func (v *viewer) push(ev []byte) {
	v.mu.Lock()
	if len(ev) > v.s.opt.MaxBytes {
		v.drop(1)
		v.mu.Unlock()
		return
	}
	for n := len(v.q) - v.head; n > 0 && (n >= v.s.opt.MaxEvents || v.bytes+len(ev) > v.s.opt.MaxBytes); n-- {
		v.bytes -= len(v.q[v.head])
		v.q[v.head] = nil
		v.head++
		v.drop(1)
	}
	if v.head > 0 && v.head >= len(v.q)/2 { // keep the slice from creeping
		v.q = v.q[:copy(v.q, v.q[v.head:])]
		clear(v.q[len(v.q):cap(v.q)])
		v.head = 0
	}
	v.q = append(v.q, ev)
	v.bytes += len(ev)
	v.mu.Unlock()
	v.signal()
}

func (v *viewer) drop(n int64) {
	v.dropped += n
	v.s.dropped.Add(n)
}

func (v *viewer) signal() {
	select {
	case v.wake <- struct{}{}:
	default:
	}
}

// take returns the next message for the page: {"type":"events",
// "dropped":N,"events":[…]}, or nil when there is nothing to send or the
// page is paused.
func (v *viewer) take() []byte {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.paused || (v.head == len(v.q) && v.dropped == 0) {
		return nil
	}
	msg := append(make([]byte, 0, min(v.bytes, batchBytes)+64), `{"type":"events","dropped":`...)
	msg = strconv.AppendInt(msg, v.dropped, 10)
	msg = append(msg, `,"events":[`...)
	v.dropped = 0
	for i := 0; v.head < len(v.q); i++ {
		ev := v.q[v.head]
		if i > 0 && len(msg)+len(ev) > batchBytes {
			break
		}
		if i > 0 {
			msg = append(msg, ',')
		}
		msg = append(msg, ev...)
		v.bytes -= len(ev)
		v.q[v.head] = nil
		v.head++
	}
	if v.head == len(v.q) {
		v.q, v.head = v.q[:0], 0
	}
	return append(msg, "]}"...)
}

// run sends the queue to the page until its socket closes.
func (v *viewer) run() {
	for {
		select {
		case <-v.wake:
		case <-v.gone:
			return
		}
		for {
			if v.c.Buffered() > sendBelow {
				select {
				case <-time.After(recheck):
					continue
				case <-v.gone:
					return
				}
			}
			msg := v.take()
			if msg == nil {
				break
			}
			if v.c.Send(frame.OpText, msg) != nil {
				return
			}
		}
	}
}

// OnOpen greets the page and starts its sender.
func (v *viewer) OnOpen(c *wsconn.Conn) {
	v.c = c
	b, _ := json.Marshal(hello{"hello", v.s.opt.Source, v.s.opt.MaxEvents, v.s.opt.MaxBytes})
	c.Send(frame.OpText, b)
	v.s.add(v)
	go v.run()
}

// OnMessage takes the page's pause and resume: while paused its events
// wait in the queue (bounded as ever), then come at once.
func (v *viewer) OnMessage(_ *wsconn.Conn, _ frame.Opcode, p []byte) {
	var m struct {
		Type string `json:"type"`
	}
	if json.Unmarshal(p, &m) != nil {
		return
	}
	v.mu.Lock()
	switch m.Type {
	case "pause":
		v.paused = true
	case "resume":
		v.paused = false
	}
	v.mu.Unlock()
	v.signal()
}

// OnClose stops the sender and forgets the page.
func (v *viewer) OnClose(*wsconn.Conn, frame.CloseCode, string) {
	v.s.remove(v)
	close(v.gone)
	v.mu.Lock()
	v.q, v.head, v.bytes = nil, 0, 0
	v.mu.Unlock()
}
