package headless

import (
	"math/rand/v2"
	"testing"
)

// The set of printed exchanges answers as a map of them would, ids below what the feeder holds forgotten (a whole
// word of them at a time), and
// holds a bit per exchange held: 1,000,000 printed with 100,000 held keep at most twice the bits of those held.
func TestIDSet(t *testing.T) {
	var s idSet
	want := map[uint64]bool{}
	r := rand.New(rand.NewPCG(1, 2))
	const total, held = 1_000_000, 100_000
	for id := uint64(1); id <= total; id++ {
		// completions come a little out of order
		x := id
		if id > 8 {
			x = id - uint64(r.IntN(8))
		}
		if !s.has(x) {
			s.add(x)
			want[x] = true
		}
		if id%1000 == 0 && id > held {
			from := id - held
			if s.forget(from) {
				if s.base > from {
					t.Fatalf("forgot up to %d, below %d only was let go", s.base, from)
				}
				for k := range want {
					if k < s.base {
						delete(want, k)
					}
				}
			}
			if bits := len(s.words) * 64; bits > 2*held+128 {
				t.Fatalf("#%d: %d bits for %d exchanges held", id, bits, held)
			}
		}
	}
	for id := s.base; id <= total; id++ {
		if s.has(id) != want[id] {
			t.Fatalf("#%d: has %v, want %v", id, s.has(id), want[id])
		}
	}
	if s.n != len(want) {
		t.Fatalf("%d ids counted, want %d", s.n, len(want))
	}
	if s.has(s.base - 1) {
		t.Fatal("an id below the base is in the set")
	}
	s.reset()
	if s.has(total) || s.n != 0 {
		t.Fatal("reset kept ids")
	}
	s.add(5_000_000) // a new epoch: ids go on from where they were, and the bitmap starts there
	if !s.has(5_000_000) || len(s.words) != 1 {
		t.Fatalf("after reset: %d words", len(s.words))
	}
}

// BenchmarkPrintedSet is the printer's "printed already?" for each exchange it prints, 100,000 exchanges held (the
// store's default): the map it used before, and the bitmap.
func BenchmarkPrintedSet(b *testing.B) {
	const held = 100_000
	b.Run("map", func(b *testing.B) {
		m := map[uint64]bool{}
		kept := 0
		id := uint64(0)
		for b.Loop() {
			id++
			if !m[id] {
				m[id] = true
			}
			if len(m) > 2*max(kept, 4096) {
				for k := range m {
					if k+held < id {
						delete(m, k)
					}
				}
				kept = len(m)
			}
		}
	})
	b.Run("bitmap", func(b *testing.B) {
		var s idSet
		id := uint64(0)
		for b.Loop() {
			id++
			if !s.has(id) {
				s.add(id)
			}
			if id > held {
				s.forget(id - held)
			}
		}
	})
}
