package durfmt

import (
	"testing"
	"time"
)

// Durations keep three significant digits (the TUI shows 149µs; a fixed 100 µs unit printed 100µs).
func TestSig3(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0s", 850 * time.Nanosecond: "850ns", 149 * time.Microsecond: "149µs", 1600 * time.Microsecond: "1.6ms",
		14934 * time.Microsecond: "14.9ms", 149 * time.Millisecond: "149ms", 12345 * time.Millisecond: "12.3s",
		75300 * time.Millisecond: "1m15.3s", 2 * time.Hour: "2h0m0s",
	} {
		if got := Sig3(d); got != want {
			t.Errorf("Sig3(%d) = %q, want %q", d, got, want)
		}
	}
}
