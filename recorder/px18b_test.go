package recorder

import (
	"strings"
	"testing"
)

// wordMap is how words were looked up before wordsByLen: the reference the look-up by length must agree with.
func wordMap() map[string]byte {
	m := make(map[string]byte, len(words))
	for i, w := range words {
		if _, dup := m[w]; dup {
			panic("a word twice in words: " + w)
		}
		m[w] = byte(i + 1)
	}
	return m
}

// Every word is found at its index, and nothing else is a word: the words themselves, their prefixes, longer and
// case-changed variants, and strings longer than any word.
func TestWordIndexIsTheMapsAnswer(t *testing.T) {
	m := wordMap()
	var probes []string
	for _, w := range words {
		probes = append(probes, w, w+"x", strings.ToUpper(w), " "+w, w+w)
		for i := range len(w) {
			probes = append(probes, w[:i], w[i:])
		}
	}
	probes = append(probes, strings.Repeat("a", 200), "\x00", "tools/cal1", "HTTP/1.2")
	for _, s := range probes {
		wi, wok := m[s]
		gi, gok := wordIndex(s)
		if wi != gi || wok != gok {
			t.Errorf("wordIndex(%q) = %d, %v; the map says %d, %v", s, gi, gok, wi, wok)
		}
	}
}

// BenchmarkWordIndex looks up the words a proxied tools/call's records write (kind, state, method, proto, the
// link note's key, the messages' sides and methods), by length (now) and through the map (before).
func BenchmarkWordIndex(b *testing.B) {
	ws := []string{Inbound, StateComplete, "POST", "HTTP/1.1", NoteOutbound, FromClient, "tools/call", FromServer, "", "text/event-stream"}
	b.Run("by-length", func(b *testing.B) {
		for b.Loop() {
			for _, w := range ws {
				wordIndex(w)
			}
		}
	})
	m := wordMap()
	b.Run("map", func(b *testing.B) {
		for b.Loop() {
			for _, w := range ws {
				_ = m[w]
			}
		}
	})
}
