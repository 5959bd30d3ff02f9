package recorder

import "testing"

// Two lists whose refs pick one set of the materialised lists' cache both stay, however often they are put in
// turn (a proxied call's client and upstream lists, put on every call: with one slot a ref they took turns, each
// turn a new list, in about one recorder of 80); a third of that set drops the one put longest ago; a dropped
// slab's lists leave both slots.
func TestMatCacheKeepsTwoListsOfOneSet(t *testing.T) {
	var c matCache[Header]
	a := ref{slab: slabIDs + 3, off: 40}
	var same []ref
	for off := uint32(41); len(same) < 2; off++ {
		if r := (ref{slab: slabIDs + 3, off: off}); c.set(r) == c.set(a) {
			same = append(same, r)
		}
	}
	b, d := same[0], same[1]
	la, lb, ld := Headers{{Name: "A"}}, Headers{{Name: "B"}}, Headers{{Name: "D"}}
	c.put(a, la)
	c.put(b, lb)
	if allocs := testing.AllocsPerRun(100, func() { c.put(a, la); c.put(b, lb) }); allocs != 0 {
		t.Errorf("putting two lists of one set in turn: %v allocations a turn, want 0 (they evict each other)", allocs)
	}
	if got := c.get(a); len(got) != 1 || got[0].Name != "A" {
		t.Fatalf("a: %v", got)
	}
	if got := c.get(b); len(got) != 1 || got[0].Name != "B" {
		t.Fatalf("b: %v", got)
	}
	c.put(d, ld) // b was put last of the two (first slot): a goes
	if c.get(a) != nil || c.get(b) == nil || c.get(d) == nil {
		t.Fatalf("after a third: a %v, b %v, d %v; want a dropped, b and d kept", c.get(a), c.get(b), c.get(d))
	}
	other := ref{slab: slabIDs + 4, off: 40}
	c.put(other, la)
	c.dropSlab(slabIDs + 3)
	if c.get(b) != nil || c.get(d) != nil || c.get(other) == nil {
		t.Fatalf("after dropping slab %d: b %v, d %v, the other slab's %v", slabIDs+3, c.get(b), c.get(d), c.get(other))
	}
}
