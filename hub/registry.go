package hub

import (
	"hash/maphash"

	"github.com/wsd-dev/wsd/internal/chunked"
)

// registry finds users by name: an open-addressing hash table (linear
// probing) of *user, the key being the user's own name. A Go
// map[string]*user costs ~40 bytes per user (its groups hold a copy of the
// key's string header, the value and control bytes, 7/8 full at most and
// half that after it grows); this table costs one 8-byte slot at most 3/4
// full, kept in chunks (see package chunked). Guarded by Hub.mu.
type registry struct {
	seed  maphash.Seed
	slots chunked.Array[user] // Len is a power of two, or 0
	n     int
}

const minSlots = chunked.Len

func (r *registry) hash(name string) uint64 { return maphash.String(r.seed, name) }

// find returns the slot holding name, or the empty slot where it would go.
func (r *registry) find(name string) int {
	mask := r.slots.Len() - 1
	for i := int(r.hash(name)) & mask; ; i = (i + 1) & mask {
		if u := r.slots.At(i); u == nil || u.name == name {
			return i
		}
	}
}

// get returns the user called name, or nil.
func (r *registry) get(name string) *user {
	if r.n == 0 {
		return nil
	}
	return r.slots.At(r.find(name))
}

// put adds u, whose name is not in the table.
func (r *registry) put(u *user) {
	if (r.n+1)*4 > r.slots.Len()*3 {
		r.resize(max(minSlots, 2*r.slots.Len()))
	}
	r.slots.Set(r.find(u.name), u)
	r.n++
}

// del removes u. The entries after it in its probe run move back into the
// hole where their own probe would find them (no tombstones, so lookups
// stay short however many users come and go).
func (r *registry) del(u *user) {
	mask := r.slots.Len() - 1
	i := r.find(u.name)
	if r.slots.At(i) != u {
		return
	}
	r.slots.Set(i, nil)
	for j := (i + 1) & mask; r.slots.At(j) != nil; j = (j + 1) & mask {
		v := r.slots.At(j)
		home := int(r.hash(v.name)) & mask
		// v may fill the hole at i unless its home lies cyclically in
		// (i, j]: then a lookup would stop at the hole before reaching it.
		if (i < j && (home <= i || home > j)) || (i > j && home <= i && home > j) {
			r.slots.Set(i, v)
			r.slots.Set(j, nil)
			i = j
		}
	}
	r.n--
	if r.slots.Len() > minSlots && r.n*8 < r.slots.Len() {
		r.resize(r.slots.Len() / 2)
	}
}

func (r *registry) resize(size int) {
	old := r.slots
	r.slots = chunked.NewArray[user](size)
	for i := range old.Len() {
		if u := old.At(i); u != nil {
			r.slots.Set(r.find(u.name), u)
		}
	}
}

// each calls fn for every user.
func (r *registry) each(fn func(u *user)) {
	for i := range r.slots.Len() {
		if u := r.slots.At(i); u != nil {
			fn(u)
		}
	}
}
