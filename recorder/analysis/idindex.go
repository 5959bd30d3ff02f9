package analysis

// idIndex is the records an analyzer holds, by exchange id: id → slot in recs. A store numbers exchanges one
// after another and the analyzer holds a window of the newest, so an id's place in a ring of a power of two
// entries, id modulo its length, is one load and almost always its own: an exchange is looked up four to six times
// as it is observed and reported (its record, its pair's, the oldest one forgotten), and a hash map of the
// window's 20,000 ids, written and deleted once per exchange, cost about a µs a proxied call in its probes' cache
// misses. An id whose place a newer one takes (an exchange held open while the ring's length of newer ones came,
// or ids not in sequence: a capture's, a test's) moves to a map. Neither holds a pointer.
type idIndex struct {
	ring  []idEnt           // ring[id&(len(ring)-1)]: the id there and its slot+1 (0: empty)
	spill map[uint64]uint32 // held ids whose place in the ring a newer one took
	n     int               // ids held
}

// idEnt is an id held in the ring and its record's slot+1 (0: the place is empty).
type idEnt struct {
	id   uint64
	slot uint32
}

const (
	minIDRing = 64
	// maxIDRing bounds the ring (16 B an entry: 1 MiB); beyond it ids spill. The ring grows while it is more than
	// three quarters full: a window of DefaultWindow holds its ids in 32,768 places.
	maxIDRing = 1 << 16
)

// len is the number of ids held.
func (x *idIndex) len() int { return x.n }

// get is id's slot, if it is held.
func (x *idIndex) get(id uint64) (uint32, bool) {
	if len(x.ring) > 0 {
		if e := &x.ring[id&uint64(len(x.ring)-1)]; e.id == id && e.slot != 0 {
			return e.slot - 1, true
		}
	}
	if len(x.spill) > 0 {
		s, ok := x.spill[id]
		return s, ok
	}
	return 0, false
}

// set holds id (not held) at slot.
func (x *idIndex) set(id uint64, slot uint32) {
	x.n++
	if len(x.ring) == 0 {
		x.ring = make([]idEnt, minIDRing)
	} else if len(x.ring) < maxIDRing && x.n > len(x.ring)/4*3 {
		x.grow()
	}
	e := &x.ring[id&uint64(len(x.ring)-1)]
	if e.slot != 0 {
		// The id observed now takes the place: usually the newer in a store's order (the one there is looked up
		// less); a long stream's id first observed when it completes is the older, and pushes a newer one out.
		// Either way both stay found: the one displaced is spilled.
		if x.spill == nil {
			x.spill = map[uint64]uint32{}
		}
		x.spill[e.id] = e.slot - 1
	}
	*e = idEnt{id: id, slot: slot + 1}
}

// del lets go of id (held).
func (x *idIndex) del(id uint64) {
	if len(x.ring) > 0 {
		if e := &x.ring[id&uint64(len(x.ring)-1)]; e.id == id && e.slot != 0 {
			*e = idEnt{}
			x.n--
			return
		}
	}
	if _, ok := x.spill[id]; ok {
		delete(x.spill, id)
		x.n--
		if len(x.spill) == 0 {
			x.spill = nil // a cleared map keeps its size
		}
	}
}

// grow doubles the ring and places every id held again (the spilled ones too, where their place is free).
func (x *idIndex) grow() {
	old, spill := x.ring, x.spill
	x.ring, x.spill = make([]idEnt, 2*len(old)), nil
	mask := uint64(len(x.ring) - 1)
	spillID := func(id uint64, slot1 uint32) {
		if x.spill == nil {
			x.spill = map[uint64]uint32{}
		}
		x.spill[id] = slot1 - 1
	}
	put := func(id uint64, slot1 uint32) {
		e := &x.ring[id&mask]
		switch {
		case e.slot == 0:
		case e.id > id: // the newer keeps the place
			spillID(id, slot1)
			return
		default:
			spillID(e.id, e.slot)
		}
		*e = idEnt{id: id, slot: slot1}
	}
	for _, e := range old {
		if e.slot != 0 {
			put(e.id, e.slot)
		}
	}
	for id, s := range spill {
		put(id, s+1)
	}
}
