package recorder

import "testing"

// FuzzWordIndexIsTheMapsAnswer holds wordIndex (a slot of wordSlots, then one comparison) to the map it replaced
// for any text: the seeds are the words and texts in a word's slot that are not it (a byte the slot does not read
// changed, non-ASCII), texts shorter than 3 bytes, and texts of a word's length and last bytes.
func FuzzWordIndexIsTheMapsAnswer(f *testing.F) {
	m := wordMap()
	for _, w := range words {
		f.Add(w)
		if len(w) >= 3 {
			b := []byte(w)
			b[0] ^= 0x80 // not ASCII, in the same slot
			f.Add(string(b))
			b[0] ^= 0x81
			f.Add(string(b))
		}
		if len(w) >= 4 {
			f.Add(w[:len(w)-4] + "é" + w[len(w)-2:]) // two bytes of another text where the slot does not look
		}
	}
	f.Add("\xff")
	f.Add("é")
	f.Fuzz(func(t *testing.T, s string) {
		wi, wok := m[s]
		gi, gok := wordIndex(s)
		if wi != gi || wok != gok {
			t.Errorf("wordIndex(%q) = %d, %v; the map says %d, %v", s, gi, gok, wi, wok)
		}
		if gok && words[gi-1] != s {
			t.Errorf("wordIndex(%q) names %q", s, words[gi-1])
		}
	})
}
