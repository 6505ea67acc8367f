package hub

import (
	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/wsconn"
)

// broadcastChunk is how many connections a loop writes a broadcast to
// before it serves its other sockets again: ~1.5 ms of sends here, so that
// a fan-out to 10,000 connections does not hold every other connection of
// the loop for 50 ms.
const broadcastChunk = 256

// loopMembers is one loop's hub connections and its broadcasts in progress.
// Everything in it is touched only on that loop's goroutine.
type loopMembers struct {
	list  []*member
	queue []*wsconn.Prepared // broadcasts waiting; queue[head] is being written
	head  int
	pos   int // list[:pos] has queue[head] already
	chunk int // broadcastChunk; tests make it small
	h     *Hub
	id    int
	step  func()
	_     [64]byte // keep the loops' fields on separate cache lines
}

// Broadcast sends body to every hub connection. The frame is encoded once;
// each loop writes it to its own connections, in parallel, a chunk at a
// time between its other work, and the call returns at once. It returns
// the number of connections at the time.
func (h *Hub) Broadcast(op frame.Opcode, body []byte) int {
	p := wsconn.Prepare(op, body)
	for i := range h.loops {
		lm := &h.loops[i]
		h.srv.Post(i, func() {
			lm.queue = append(lm.queue, p)
			if len(lm.queue)-lm.head == 1 { // nothing was in progress
				lm.broadcastStep()
			}
		})
	}
	h.broadcasts.Add(1)
	return int(h.online.Load())
}

// broadcastStep writes the current broadcast to the next chunk of
// connections, then posts itself again while any broadcast is left.
func (lm *loopMembers) broadcastStep() {
	if lm.head == len(lm.queue) {
		return
	}
	p := lm.queue[lm.head]
	end := min(lm.pos+lm.chunk, len(lm.list))
	for _, m := range lm.list[lm.pos:end] {
		m.c.SendPrepared(p)
	}
	lm.h.delivered.Add(int64(end - lm.pos))
	lm.pos = end
	if lm.pos == len(lm.list) {
		lm.queue[lm.head] = nil // the frame may go
		lm.head++
		lm.pos = 0
		if lm.head == len(lm.queue) {
			// Done: the next broadcast reuses the array, allocating nothing.
			lm.queue, lm.head = lm.queue[:0], 0
			return
		}
		if lm.head >= 64 && lm.head*2 >= len(lm.queue) {
			// Broadcasts keep coming: slide the waiting ones down rather
			// than let the spent slots grow the array.
			n := copy(lm.queue, lm.queue[lm.head:])
			clear(lm.queue[n:])
			lm.queue, lm.head = lm.queue[:n], 0
		}
	}
	lm.h.srv.Post(lm.id, lm.step)
}

// add appends m; a broadcast in progress reaches it too.
func (lm *loopMembers) add(m *member) {
	m.slot = int32(len(lm.list))
	lm.list = append(lm.list, m)
}

// remove takes m out by moving another member into its slot, keeping the
// order a broadcast in progress relies on: list[:pos] has the frame,
// list[pos:] has not.
func (lm *loopMembers) remove(m *member) {
	hole, last := int(m.slot), len(lm.list)-1
	if hole < lm.pos {
		// m had the frame: the last one that had it fills the hole, and
		// its old slot becomes the hole, now on the boundary.
		lm.pos--
		lm.move(lm.pos, hole)
		hole = lm.pos
	}
	if hole != last {
		lm.move(last, hole)
	}
	lm.list[last] = nil
	lm.list = lm.list[:last]
}

func (lm *loopMembers) move(from, to int) {
	m := lm.list[from]
	lm.list[to] = m
	m.slot = int32(to)
}
