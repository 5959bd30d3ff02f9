package analysis

import (
	"math/rand/v2"
	"testing"
)

// idIndex holds what a map holds, whatever the ids' order: runs of consecutive ids (a store's), ids a ring's
// length apart (each takes another's place), random ids, deletes in any order, and growth up to the bound.
func TestIDIndexIsAMap(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for round := range 40 {
		var x idIndex
		want := map[uint64]uint32{}
		next := uint64(r.IntN(1000))
		check := func(id uint64) {
			s, ok := x.get(id)
			w, wok := want[id]
			if ok != wok || s != w {
				t.Fatalf("round %d: get(%d) = %d, %v; want %d, %v", round, id, s, ok, w, wok)
			}
		}
		for op := range 30_000 {
			var id uint64
			switch k := r.IntN(10); {
			case k < 5:
				next++
				id = next
			case k < 6:
				id = next - uint64(minIDRing<<r.IntN(8)) // a ring's length behind
			case k < 7:
				id = r.Uint64()
			default:
				id = next - uint64(r.IntN(3*minIDRing))
			}
			if _, held := want[id]; held {
				x.del(id)
				delete(want, id)
			} else if r.IntN(4) > 0 || len(want) < 10 {
				x.set(id, uint32(op))
				want[id] = uint32(op)
			}
			check(id)
			check(id + 1)
			check(next - uint64(r.IntN(100)))
			if x.len() != len(want) {
				t.Fatalf("round %d: len %d, want %d", round, x.len(), len(want))
			}
		}
		for id := range want {
			check(id)
		}
		if len(x.ring) > maxIDRing {
			t.Fatalf("ring of %d", len(x.ring))
		}
	}
}

// The window of a store's consecutive ids is held in the ring alone: a record is found with one load, and no map
// is written or probed per exchange (on main every exchange was a map insert, a delete and its lookups). The ring
// stays within the bound: 32,768 places for the default window.
func TestConsecutiveIDsStayInTheRing(t *testing.T) {
	a := New(Options{})
	for _, u := range finalOnly(proxiedUpdates(3*DefaultWindow, 1000)) {
		a.Observe(u)
	}
	if a.exs.len() != DefaultWindow || len(a.exs.spill) != 0 || len(a.exs.ring) != 32768 {
		t.Fatalf("%d ids held, %d spilled, a ring of %d", a.exs.len(), len(a.exs.spill), len(a.exs.ring))
	}
}
