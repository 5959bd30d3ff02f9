package timeword

import (
	"testing"
	"time"
)

// Split and Join keep a time exactly: its instant, its monotonic reading (== compares it) and its location.
func TestSplitJoin(t *testing.T) {
	if !OK {
		t.Skip("time.Time's layout changed: callers fall back, and this package must not be used")
	}
	for _, tm := range []time.Time{time.Now(), time.Now().UTC(), time.Unix(1, 2), {}, time.Date(2026, 12, 6, 1, 2, 3, 4, time.FixedZone("", 3600))} {
		w, l := Split(&tm)
		if got := Join(w, l); got != tm {
			t.Errorf("%v: read back %v", tm, got)
		}
	}
}
