package recorder

import (
	"bufio"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// wordMap is how words were looked up before wordsByLen and wordSlots: the reference the look-up must agree with.
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

// The transport writes a request's URL again only when it is not the last one's: the text is always the URL's, a
// URL changed in place included.
func TestTransportURLText(t *testing.T) {
	tr := &Transport{}
	u, _ := url.Parse("http://127.0.0.1:9000/mcp")
	for i, change := range []func(){
		func() {},
		func() {},
		func() { u.Path = "/other" },
		func() { u.RawQuery = "a=1" },
		func() { u.Host = "127.0.0.1:9001" },
		func() { u.User = url.UserPassword("a", "b") },
		func() { u.User = url.UserPassword("a", "c") },
		func() { u.Fragment = "f" },
	} {
		change()
		if got, want := tr.urlString(u), u.String(); got != want {
			t.Errorf("step %d: %q, want %q", i, got, want)
		}
	}
	u2, _ := url.Parse("http://127.0.0.1:9000/mcp")
	tr.urlString(u2)
	if n := testing.AllocsPerRun(100, func() { tr.urlString(u2) }); n != 0 {
		t.Errorf("the same URL again: %.0f allocations, want 0", n)
	}
}

// A Began update is queued only when a subscriber takes Began updates: with `--no-tui` every subscriber hears of
// an exchange when it is answered (SubscribeOptions.NoBegan), and the two Began updates of a proxied call were
// queued, then passed over by every subscriber.
func TestBeganQueuedOnlyForItsSubscribers(t *testing.T) {
	s := NewStore(StoreOptions{PublishDelay: time.Hour})
	pending := func() (began, other int) {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, u := range s.pending {
			if u.Kind == Began {
				began++
			} else {
				other++
			}
		}
		return
	}
	answered := s.SubscribeWith(SubscribeOptions{Buffer: 16, NoBegan: true})
	s.Add(smallExchange(1))
	if b, o := pending(); b != 0 || o != 1 {
		t.Fatalf("answered-only subscriber: %d Began and %d other updates queued, want 0 and 1", b, o)
	}
	all := s.Subscribe(16)
	s.Add(smallExchange(2))
	if b, o := pending(); b != 1 || o != 1 {
		t.Fatalf("with a subscriber of every update: %d Began and %d other updates queued, want 1 and 1", b, o)
	}
	all.Close()
	s.Add(smallExchange(3))
	if b, o := pending(); b != 0 || o != 1 {
		t.Fatalf("after it closed: %d Began and %d other updates queued, want 0 and 1", b, o)
	}
	s.Publish()
	var kinds []UpdateKind
	for len(answered.C) > 0 {
		kinds = append(kinds, (<-answered.C).Kind)
	}
	if want := []UpdateKind{Completed, Completed, Completed}; !slices.Equal(kinds, want) {
		t.Errorf("the answered-only subscriber heard %v, want %v", kinds, want)
	}
	var heard []UpdateKind
	for u := range all.C {
		heard = append(heard, u.Kind)
	}
	if want := []UpdateKind{Began, Completed}; !slices.Equal(heard, want) {
		t.Errorf("the subscriber of every update heard %v, want %v", heard, want)
	}
}

// mcploadRequest is a tools/call as the benchmarks' load generator sends it, on the wire.
const mcploadRequest = "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:32945\r\nUser-Agent: Go-http-client/1.1\r\nContent-Length: 100\r\n" +
	"Accept: application/json, text/event-stream\r\nContent-Type: application/json\r\nMcp-Protocol-Version: 2025-11-25\r\n" +
	"Mcp-Session-Id: 013cb5228192403b7326097bc164f9af\r\nAccept-Encoding: gzip\r\n\r\n" +
	`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}`

// BenchmarkWireHeaders finds a tools/call's header block in its connection's bytes, as the recorder's begin does.
func BenchmarkWireHeaders(b *testing.B) {
	r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(mcploadRequest)))
	if err != nil {
		b.Fatal(err)
	}
	c := &wireConn{}
	b.ReportAllocs()
	for b.Loop() {
		c.buf = append(c.buf[:0], mcploadRequest...)
		if h := c.headersFor(r); len(h) != 8 {
			b.Fatalf("%d headers", len(h))
		}
	}
}

// cutCRLF is strings.Cut(s, "\r\n") for lines with lone CRs and LFs anywhere.
func TestCutCRLFIsCut(t *testing.T) {
	for _, s := range []string{"", "\r", "\n", "\r\n", "a\r\nb", "a\rb\r\nc", "a\nb\r\nc", "\r\r\n", "a\r", "a\r\n\r\n", "ab\rc\rd", "a\n\r"} {
		b, a, f := cutCRLF(s)
		wb, wa, wf := strings.Cut(s, "\r\n")
		if b != wb || a != wa || f != wf {
			t.Errorf("cutCRLF(%q) = %q, %q, %v; strings.Cut: %q, %q, %v", s, b, a, f, wb, wa, wf)
		}
	}
}

// holdsEvery passes over names of another length only when the block's names are ASCII: a name that folds to
// one of the request's through a non-ASCII letter (the Kelvin sign folds to k) is found as Headers.Get finds it.
func TestHoldsEveryFoldsAsGet(t *testing.T) {
	hdr := http.Header{"Key": {"v"}, "Accept": {"x"}}
	for _, tc := range []struct {
		h    Headers
		want bool
	}{
		{Headers{{"key", "v"}, {"ACCEPT", "x"}}, true},
		{Headers{{"Keys", "v"}, {"Accept", "x"}}, false},
		{Headers{{"\u212aey", "v"}, {"Accept", "x"}}, true}, // as Get: EqualFold("Key", "\u212aey")
		{Headers{{"Key", ""}, {"Accept", "x"}}, false},
		{Headers{{"Accept", "x"}}, false},
	} {
		want := true
		for name, vs := range hdr {
			if vs[0] != "" && tc.h.Get(name) == "" {
				want = false
			}
		}
		if want != tc.want {
			t.Fatalf("case %v: Get says %v, the test %v", tc.h, want, tc.want)
		}
		if got := holdsEvery(tc.h, hdr); got != tc.want {
			t.Errorf("holdsEvery(%v) = %v, want %v", tc.h, got, tc.want)
		}
	}
}

// isEventStream answers as the look-up it replaced: strings.HasPrefix(strings.ToLower(h.Get("Content-Type")),
// "text/event-stream").
func TestIsEventStream(t *testing.T) {
	for _, ct := range []string{"", "text/event-stream", "TEXT/Event-Stream; charset=utf-8", "text/event-strea", "application/json",
		" text/event-stream", "text/event-streamx", "text/event-stream\u212a", "text/event-\u017ftream", "text/event-\u017ftreamm"} {
		for _, h := range []http.Header{{"Content-Type": {ct}}, {"Content-Type": {ct, "text/event-stream"}}, {}} {
			want := strings.HasPrefix(strings.ToLower(h.Get("Content-Type")), "text/event-stream")
			if got := isEventStream(h); got != want {
				t.Errorf("isEventStream(%q) = %v, want %v", h, got, want)
			}
		}
	}
}
