package wsconn

import (
	"errors"
	"sync"
	"sync/atomic"

	"github.com/wsd-dev/wsd/internal/chunked"
)

// GroupChunk is how many connections a loop writes a group send to before
// it serves its other sockets again: ~1.5 ms of sends here, so that a
// fan-out to 10,000 connections does not hold every other connection of
// the loop for 50 ms.
const GroupChunk = 256

// Group is a set of connections that receive the same frames: everyone, a
// room, a topic. Each loop keeps its own members, so a send walks them on
// their own loops, in parallel, without a lock, a chunk at a time between
// the loops' other work; the frame is encoded once (Prepare) and the same
// bytes go to every member.
//
// A connection is in at most one Group. Add and Remove run on the
// connection's loop (in its handler's calls); a connection that closes
// leaves its group by itself.
type Group struct {
	e     *engine
	id    uint16
	mu    sync.Mutex // orders Sends: every loop queues them in the same order
	loops []groupLoop
	size  atomic.Int64
	sent  atomic.Int64 // frames handed to members
	fan   fanout       // fan-out times (fanout.go)
}

// groupLoop is one loop's members and the sends in progress there.
// Everything in it is touched only on that loop's goroutine.
type groupLoop struct {
	g     *Group
	l     *loop
	list  chunked.List[Conn]
	queue []*Prepared // sends waiting; queue[head] is being written
	head  int
	pos   int    // list[:pos] has queue[head] already
	done  uint64 // sends finished here: the number of the next to finish
	chunk int    // GroupChunk; tests make it small
	step  func()
	_     [64]byte // keep the loops' fields on separate cache lines
}

// ErrInGroup is returned by Add for a connection already in another group.
var ErrInGroup = errors.New("wsconn: the connection is in another group")

// groupRegistry numbers an engine's groups, so that a closing connection
// finds its group from two bytes.
type groupRegistry struct {
	mu   sync.Mutex
	list atomic.Pointer[[]*Group] // index 0 unused
}

func (r *groupRegistry) get(id uint16) *Group { return (*r.list.Load())[id] }

// NewGroup makes an empty group on this engine's loops.
func (e *engine) NewGroup() *Group {
	g := &Group{e: e, loops: make([]groupLoop, len(e.loops))}
	for i := range g.loops {
		gl := &g.loops[i]
		gl.g, gl.l, gl.chunk = g, e.loops[i], GroupChunk
		gl.step = gl.sendStep // one func value for the loop's life: posting it allocates nothing
	}
	r := &e.groups
	r.mu.Lock()
	defer r.mu.Unlock()
	old := []*Group{nil}
	if p := r.list.Load(); p != nil {
		old = *p
	}
	if len(old) > 0xFFFF {
		panic("wsconn: more than 65535 groups")
	}
	list := append(old[:len(old):len(old)], g)
	g.id = uint16(len(list) - 1)
	r.list.Store(&list)
	return g
}

// Add puts c in the group; a send in progress reaches it too. Call it on
// c's loop (from its handler).
func (g *Group) Add(c *Conn) error {
	switch {
	case c.gid == g.id:
		return nil
	case c.gid != 0:
		return ErrInGroup
	case c.l.e != g.e:
		return errors.New("wsconn: the connection belongs to another server or client")
	case c.flags.Load()&fClosed != 0:
		return ErrClosed
	}
	gl := &g.loops[c.l.id]
	c.gid, c.gslot = g.id, int32(gl.list.Len())
	gl.list.Push(c)
	g.size.Add(1)
	return nil
}

// Remove takes c out of the group. Call it on c's loop.
func (g *Group) Remove(c *Conn) {
	if c.gid == g.id {
		g.remove(c)
	}
}

// Sent returns how many frames the group's sends have handed to members.
func (g *Group) Sent() int64 { return g.sent.Load() }

// Len returns the number of members.
func (g *Group) Len() int { return int(g.size.Load()) }

// Send writes p to every member, from any goroutine, and returns at once
// with the number of members at the time. Sends reach each member whole
// and in the order they were made.
func (g *Group) Send(p *Prepared) int {
	g.mu.Lock()
	g.fan.begin(g.e.since(), len(g.loops))
	for i := range g.loops {
		gl := &g.loops[i]
		gl.l.pl.Post(func() {
			gl.queue = append(gl.queue, p)
			if len(gl.queue)-gl.head == 1 { // nothing was in progress
				gl.sendStep()
			}
		})
	}
	g.mu.Unlock()
	return g.Len()
}

// sendStep writes the current send to the next chunk of members, then
// posts itself again while any send is left.
func (gl *groupLoop) sendStep() {
	if gl.head == len(gl.queue) {
		return
	}
	p := gl.queue[gl.head]
	end := min(gl.pos+gl.chunk, gl.list.Len())
	for i := gl.pos; i < end; i++ {
		gl.list.At(i).SendPrepared(p)
	}
	gl.g.sent.Add(int64(end - gl.pos))
	gl.pos = end
	if gl.pos == gl.list.Len() {
		gl.queue[gl.head] = nil // the frame may go
		gl.head++
		gl.g.fan.end(gl.done, gl.g.e)
		gl.done++
		gl.pos = 0
		if gl.head == len(gl.queue) {
			// Done: the next send reuses the array, allocating nothing.
			gl.queue, gl.head = gl.queue[:0], 0
			return
		}
		if gl.head >= 64 && gl.head*2 >= len(gl.queue) {
			// Sends keep coming: slide the waiting ones down rather than
			// let the spent slots grow the array.
			n := copy(gl.queue, gl.queue[gl.head:])
			clear(gl.queue[n:])
			gl.queue, gl.head = gl.queue[:n], 0
		}
	}
	gl.l.pl.Post(gl.step)
}

// remove takes c out by moving another member into its slot, keeping the
// order a send in progress relies on: list[:pos] has the frame, list[pos:]
// has not.
func (g *Group) remove(c *Conn) {
	gl := &g.loops[c.l.id]
	hole, last := int(c.gslot), gl.list.Len()-1
	if hole < gl.pos {
		// c had the frame: the last one that had it fills the hole, and
		// its old slot becomes the hole, now on the boundary.
		gl.pos--
		gl.move(gl.pos, hole)
		hole = gl.pos
	}
	if hole != last {
		gl.move(last, hole)
	}
	gl.list.Pop()
	c.gid, c.gslot = 0, 0
	g.size.Add(-1)
}

func (gl *groupLoop) move(from, to int) {
	c := gl.list.At(from)
	gl.list.Set(to, c)
	c.gslot = int32(to)
}
