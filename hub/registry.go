package hub

import "hash/maphash"

// registry finds users by name: an open-addressing hash table (linear
// probing) of *user, the key being the user's own name. A Go
// map[string]*user costs ~40 bytes per user (its groups hold a copy of the
// key's string header, the value and control bytes, 7/8 full at most and
// half that after it grows); this table costs one 8-byte slot at most 3/4
// full. Guarded by Hub.mu.
type registry struct {
	seed  maphash.Seed
	slots []*user // len is a power of two, or 0
	n     int
}

const minSlots = 64

func (r *registry) hash(name string) uint64 { return maphash.String(r.seed, name) }

// find returns the slot holding name, or the empty slot where it would go.
func (r *registry) find(name string) int {
	mask := len(r.slots) - 1
	for i := int(r.hash(name)) & mask; ; i = (i + 1) & mask {
		if u := r.slots[i]; u == nil || u.name == name {
			return i
		}
	}
}

// get returns the user called name, or nil.
func (r *registry) get(name string) *user {
	if r.n == 0 {
		return nil
	}
	return r.slots[r.find(name)]
}

// put adds u, whose name is not in the table.
func (r *registry) put(u *user) {
	if (r.n+1)*4 > len(r.slots)*3 {
		r.resize(max(minSlots, 2*len(r.slots)))
	}
	r.slots[r.find(u.name)] = u
	r.n++
}

// del removes u. The entries after it in its probe run move back into the
// hole where their own probe would find them (no tombstones, so lookups
// stay short however many users come and go).
func (r *registry) del(u *user) {
	mask := len(r.slots) - 1
	i := r.find(u.name)
	if r.slots[i] != u {
		return
	}
	r.slots[i] = nil
	for j := (i + 1) & mask; r.slots[j] != nil; j = (j + 1) & mask {
		v := r.slots[j]
		home := int(r.hash(v.name)) & mask
		// v may fill the hole at i unless its home lies cyclically in
		// (i, j]: then a lookup would stop at the hole before reaching it.
		if (i < j && (home <= i || home > j)) || (i > j && home <= i && home > j) {
			r.slots[i], r.slots[j] = v, nil
			i = j
		}
	}
	r.n--
	if len(r.slots) > minSlots && r.n*8 < len(r.slots) {
		r.resize(len(r.slots) / 2)
	}
}

func (r *registry) resize(size int) {
	old := r.slots
	r.slots = make([]*user, size)
	for _, u := range old {
		if u != nil {
			r.slots[r.find(u.name)] = u
		}
	}
}

// each calls fn for every user.
func (r *registry) each(fn func(u *user)) {
	for _, u := range r.slots {
		if u != nil {
			fn(u)
		}
	}
}
