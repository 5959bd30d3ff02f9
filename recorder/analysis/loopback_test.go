package analysis

import (
	"math/rand/v2"
	"testing"
)

// The analyzer's one-entry memo of the last remote host's loopback-ness says what parsing it says, whatever the
// order of the hosts asked about: the same one again and again (a local client, a tunnel), alternating, empty,
// IPv6, names, ports left on.
func TestLoopbackIsIsLoopback(t *testing.T) {
	hosts := []string{"127.0.0.1", "127.0.0.2", "::1", "[::1]", "10.0.0.1", "160.79.106.160", "", "localhost",
		"127.0.0.1:80", "::ffff:127.0.0.1", "fe80::1", "0.0.0.0", "127.0.0.1 ", "x"}
	want := map[string]bool{"127.0.0.1": true, "127.0.0.2": true, "::1": true, "::ffff:127.0.0.1": true}
	for _, h := range hosts {
		if isLoopback(h) != want[h] {
			t.Fatalf("isLoopback(%q) = %v", h, !want[h])
		}
	}
	a := New(Options{})
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range 20_000 {
		h := hosts[rng.IntN(len(hosts))]
		if i%3 == 0 {
			h = "127.0.0.1" // runs of the same host
		}
		if got := a.loopback(h); got != isLoopback(h) {
			t.Fatalf("ask %d: loopback(%q) = %v, want %v", i, h, got, !got)
		}
	}
}
