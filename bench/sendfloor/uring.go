package main

import (
	"fmt"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A minimal io_uring (io_uring_setup(2), io_uring_enter(2)): just enough to
// submit a batch of IORING_OP_SEND and reap the completions, to see what
// batching the syscalls of a broadcast saves.

type uringParams struct {
	sqEntries, cqEntries, flags, sqThreadCPU, sqThreadIdle, features, wqFd uint32
	resv                                                                   [3]uint32
	sqOff                                                                  [10]uint32 // head, tail, ring_mask, ring_entries, flags, dropped, array, resv1, user_addr (u64)
	cqOff                                                                  [10]uint32 // head, tail, ring_mask, ring_entries, overflow, cqes, flags, resv1, user_addr (u64)
}

type uringSQE struct {
	opcode, flags uint8
	ioprio        uint16
	fd            int32
	off, addr     uint64
	len, msgFlags uint32
	userData      uint64
	bufIndex      uint16
	personality   uint16
	spliceFdIn    int32
	addr3, pad    uint64
}

type uringCQE struct {
	userData uint64
	res      int32
	flags    uint32
}

const (
	opSend        = 26     // IORING_OP_SEND
	sqeFixedFile  = 1 << 0 // IOSQE_FIXED_FILE
	enterGetevent = 1 << 0 // IORING_ENTER_GETEVENTS
	offSQEs       = 0x10000000
	registerFiles = 2 // IORING_REGISTER_FILES
)

type uring struct {
	fd                     int
	sqTail, sqMask         *uint32
	sqes                   []uringSQE
	cqHead, cqTail, cqMask *uint32
	cqes                   []uringCQE
	entries                uint32
}

func newUring(entries uint32) (*uring, error) {
	var p uringParams
	fd, _, e := unix.Syscall(unix.SYS_IO_URING_SETUP, uintptr(entries), uintptr(unsafe.Pointer(&p)), 0)
	if e != 0 {
		return nil, fmt.Errorf("io_uring_setup: %w", e)
	}
	r := &uring{fd: int(fd), entries: p.sqEntries}
	size := max(p.sqOff[6]+p.sqEntries*4, p.cqOff[5]+p.cqEntries*16) // one mapping for both rings (IORING_FEAT_SINGLE_MMAP)
	rings, err := unix.Mmap(r.fd, 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return nil, fmt.Errorf("mmap rings: %w", err)
	}
	at := func(off uint32) *uint32 { return (*uint32)(unsafe.Pointer(&rings[off])) }
	r.sqTail, r.sqMask = at(p.sqOff[1]), at(p.sqOff[2])
	r.cqHead, r.cqTail, r.cqMask = at(p.cqOff[0]), at(p.cqOff[1]), at(p.cqOff[2])
	r.cqes = unsafe.Slice((*uringCQE)(unsafe.Pointer(&rings[p.cqOff[5]])), p.cqEntries)
	sqes, err := unix.Mmap(r.fd, offSQEs, int(p.sqEntries)*int(unsafe.Sizeof(uringSQE{})), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return nil, fmt.Errorf("mmap sqes: %w", err)
	}
	r.sqes = unsafe.Slice((*uringSQE)(unsafe.Pointer(&sqes[0])), p.sqEntries)
	// The index array maps ring slots to SQEs one to one, once.
	for i, a := 0, unsafe.Slice(at(p.sqOff[6]), p.sqEntries); i < len(a); i++ {
		a[i] = uint32(i)
	}
	return r, nil
}

// registerFiles makes fds usable as fixed files, indexed by their number.
func (r *uring) registerFiles(fds []int) error {
	top := 0
	for _, f := range fds {
		top = max(top, f)
	}
	table := make([]int32, top+1)
	for i := range table {
		table[i] = -1
	}
	for _, f := range fds {
		table[f] = int32(f)
	}
	_, _, e := unix.Syscall6(unix.SYS_IO_URING_REGISTER, uintptr(r.fd), registerFiles, uintptr(unsafe.Pointer(&table[0])), uintptr(len(table)), 0, 0)
	if e != 0 {
		return fmt.Errorf("io_uring_register files: %w", e)
	}
	return nil
}

// sendAll sends buf to every fd, a ring-full per io_uring_enter, and
// returns how many sends did not take the whole buffer.
func (r *uring) sendAll(fds []int, buf []byte, fixed bool) (short int, err error) {
	for len(fds) > 0 {
		k := min(uint32(len(fds)), r.entries)
		tail := atomic.LoadUint32(r.sqTail)
		for i := range k {
			s := &r.sqes[(tail+i)&*r.sqMask]
			// MSG_DONTWAIT: a full socket fails at once instead of being
			// parked in io_uring's poll machinery.
			*s = uringSQE{opcode: opSend, fd: int32(fds[i]), addr: uint64(uintptr(unsafe.Pointer(&buf[0]))),
				len: uint32(len(buf)), msgFlags: unix.MSG_DONTWAIT}
			if fixed {
				s.flags = sqeFixedFile
			}
		}
		atomic.StoreUint32(r.sqTail, tail+k)
		if _, _, e := unix.Syscall6(unix.SYS_IO_URING_ENTER, uintptr(r.fd), uintptr(k), uintptr(k), enterGetevent, 0, 0); e != 0 {
			return short, fmt.Errorf("io_uring_enter: %w", e)
		}
		head, end := atomic.LoadUint32(r.cqHead), atomic.LoadUint32(r.cqTail)
		for ; head != end; head++ {
			if r.cqes[head&*r.cqMask].res != int32(len(buf)) {
				short++
			}
		}
		atomic.StoreUint32(r.cqHead, head)
		fds = fds[k:]
	}
	return short, nil
}
