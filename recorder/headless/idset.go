package headless

import "math/bits"

// idSet is the set of exchanges the printer printed. A store gives out ids one after another, so it is a bitmap
// from base on: a bit an exchange held (12.5 KB for 100,000), and a look-up that stays in cache, where a map of
// every exchange held cost tens of bytes each and, once it outgrew the cache, a cache miss each exchange printed.
// Ids below base are not in it (the feeder let them go).
type idSet struct {
	base  uint64   // the id of bit 0 of words[0]: a multiple of 64
	words []uint64 // nil: empty, base not chosen yet
	n     int      // ids in the set
}

func (s *idSet) has(id uint64) bool {
	if id < s.base {
		return false
	}
	i := (id - s.base) / 64
	return i < uint64(len(s.words)) && s.words[i]&(1<<(id%64)) != 0
}

// add puts id in the set; an id below base (one the feeder let go) is not kept. The bitmap grows to the greatest
// id added: ids are the store's, consecutive, and forget drops those below what the feeder holds.
func (s *idSet) add(id uint64) {
	if s.words == nil {
		s.base = id &^ 63
	}
	if id < s.base {
		return
	}
	i := (id - s.base) / 64
	for uint64(len(s.words)) <= i {
		s.words = append(s.words, 0)
	}
	if s.words[i]&(1<<(id%64)) == 0 {
		s.words[i] |= 1 << (id % 64)
		s.n++
	}
}

// forget drops the ids below from once they take at least half the bitmap (amortised O(1) an id), and reports
// whether it did.
func (s *idSet) forget(from uint64) bool {
	if from <= s.base {
		return false
	}
	drop := min((from-s.base)/64, uint64(len(s.words)))
	if drop == 0 || drop < uint64(len(s.words))/2 {
		return false
	}
	for _, w := range s.words[:drop] {
		s.n -= bits.OnesCount64(w)
	}
	k := copy(s.words, s.words[drop:])
	clear(s.words[k:])
	s.words = s.words[:k]
	s.base += drop * 64
	return true
}

// reset empties the set (a new epoch: the store was cleared, its ids go on from where they were).
func (s *idSet) reset() {
	s.words, s.n = nil, 0
}
