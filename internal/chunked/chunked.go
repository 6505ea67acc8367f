// Package chunked keeps large arrays of pointers in small fixed chunks.
//
// A server that holds 20,000 connections keeps a few arrays of 20,000
// pointers (connections by fd, by loop, by group; users by name). As one
// slice each, such an array costs memory three times over: growing it by
// doubling leaves the old copy as garbage, half of its capacity is unused
// on average, and the garbage collector, which scans a large object in
// 128 KiB pieces, queues every pointer of a piece at once in its work
// buffers — memory the runtime keeps (measured here: ~35 bytes per
// connection of runtime metadata with flat arrays). In chunks of Len
// pointers nothing is ever copied, at most one chunk is partly empty, and
// the collector's queue stays short.
package chunked

import "sync/atomic"

// Len is the number of pointers in a chunk (2 KiB).
const Len = 256

// List is a list of pointers in chunks: push and pop at the end, read and
// write by index. Not safe for concurrent use.
type List[T any] struct {
	chunks []*[Len]*T
	n      int
}

// Len returns the number of elements.
func (l *List[T]) Len() int { return l.n }

// At returns the i-th element.
func (l *List[T]) At(i int) *T { return l.chunks[i/Len][i%Len] }

// Set sets the i-th element.
func (l *List[T]) Set(i int, v *T) { l.chunks[i/Len][i%Len] = v }

// Push appends v.
func (l *List[T]) Push(v *T) {
	if l.n == len(l.chunks)*Len {
		l.chunks = append(l.chunks, new([Len]*T))
	}
	l.chunks[l.n/Len][l.n%Len] = v
	l.n++
}

// Pop removes the last element. A chunk two chunks past the end is freed:
// one spare stays, so that a list that hovers at a chunk boundary does not
// allocate on every push.
func (l *List[T]) Pop() {
	l.n--
	l.chunks[l.n/Len][l.n%Len] = nil
	if k := l.n/Len + 2; k < len(l.chunks) {
		l.chunks[len(l.chunks)-1] = nil
		l.chunks = l.chunks[:len(l.chunks)-1]
	}
}

// SwapRemove removes the i-th element: the last one takes its place.
func (l *List[T]) SwapRemove(i int) {
	last := l.n - 1
	l.Set(i, l.At(last))
	l.Pop()
}

// All calls yield for each element in order until it returns false.
func (l *List[T]) All(yield func(*T) bool) {
	for i := range l.n {
		if !yield(l.At(i)) {
			return
		}
	}
}

// Table is a fixed number of atomic pointers by index, its chunks made on
// first store: connections by fd, with the pages of unused fds never
// touched. Load and Store are safe for concurrent use.
type Table[T any] struct {
	chunks []atomic.Pointer[[Len]atomic.Pointer[T]]
}

// NewTable makes a table of n pointers, all nil.
func NewTable[T any](n int) *Table[T] {
	return &Table[T]{chunks: make([]atomic.Pointer[[Len]atomic.Pointer[T]], (n+Len-1)/Len)}
}

// Size returns the number of pointers.
func (t *Table[T]) Size() int { return len(t.chunks) * Len }

// Load returns the i-th pointer.
func (t *Table[T]) Load(i int) *T {
	c := t.chunks[i/Len].Load()
	if c == nil {
		return nil
	}
	return c[i%Len].Load()
}

// Store sets the i-th pointer.
func (t *Table[T]) Store(i int, v *T) {
	p := &t.chunks[i/Len]
	c := p.Load()
	if c == nil {
		if v == nil {
			return
		}
		c = new([Len]atomic.Pointer[T])
		if !p.CompareAndSwap(nil, c) {
			c = p.Load()
		}
	}
	c[i%Len].Store(v)
}

// Array is a fixed number of pointers in chunks, made zeroed. Not safe
// for concurrent use.
type Array[T any] struct {
	chunks []*[Len]*T
}

// NewArray makes an array of at least n pointers (a whole number of
// chunks), all nil.
func NewArray[T any](n int) Array[T] {
	a := Array[T]{chunks: make([]*[Len]*T, (n+Len-1)/Len)}
	for i := range a.chunks {
		a.chunks[i] = new([Len]*T)
	}
	return a
}

// Len returns the number of pointers.
func (a Array[T]) Len() int { return len(a.chunks) * Len }

// At returns the i-th pointer.
func (a Array[T]) At(i int) *T { return a.chunks[i/Len][i%Len] }

// Set sets the i-th pointer.
func (a Array[T]) Set(i int, v *T) { a.chunks[i/Len][i%Len] = v }

// Slots is a fixed number of values of T by index, in chunks made on first
// use (safe for concurrent use: a chunk is installed with a compare and
// swap); the values themselves are the caller's to synchronise (atomics).
// Per-connection state by fd that only some connections need lives here,
// so that the others pay nothing for it.
type Slots[T any] struct {
	chunks []atomic.Pointer[[Len]T]
}

// NewSlots makes n slots.
func NewSlots[T any](n int) *Slots[T] {
	return &Slots[T]{chunks: make([]atomic.Pointer[[Len]T], (n+Len-1)/Len)}
}

// At returns the i-th slot, making its chunk if needed.
func (s *Slots[T]) At(i int) *T {
	p := &s.chunks[i/Len]
	c := p.Load()
	if c == nil {
		c = new([Len]T)
		if !p.CompareAndSwap(nil, c) {
			c = p.Load()
		}
	}
	return &c[i%Len]
}

// Peek returns the i-th slot, or nil when its chunk was never made.
func (s *Slots[T]) Peek(i int) *T {
	if c := s.chunks[i/Len].Load(); c != nil {
		return &c[i%Len]
	}
	return nil
}
