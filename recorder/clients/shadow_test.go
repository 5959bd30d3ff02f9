package clients

import "testing"

// Every decisive fingerprint with a literal (Exact, or Prefix) names its own client when its literal is seen: one
// that an earlier client's fingerprint matches first (a second profile claiming "Windsurf", say) would never name
// its client, and TestFingerprintTable, which asks for one case per client, would not see it.
func TestNoDecisiveFingerprintIsShadowed(t *testing.T) {
	n := 0
	for i := range profiles {
		p := &profiles[i]
		for j := range p.Fingerprints {
			f := &p.Fingerprints[j]
			if f.Strength != Decisive {
				continue
			}
			v := f.Exact
			if v == "" && f.Prefix != "" {
				v = f.Prefix + "x"
			}
			if v == "" {
				continue // a pattern or Contains: TestFingerprintTable's cases
			}
			n++
			if m, ok := Lookup(f.Field, v); !ok || m.Profile.ID != p.ID {
				got := "nothing"
				if ok {
					got = m.Profile.ID
				}
				t.Errorf("%s's fingerprint %s %q names %s", p.ID, f.Field, v, got)
			}
		}
	}
	if n < 40 {
		t.Errorf("only %d fingerprints checked", n)
	}
}
