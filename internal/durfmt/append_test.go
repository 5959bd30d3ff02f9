package durfmt

import (
	"math/rand/v2"
	"testing"
	"time"
)

// AppendSig3 appends what Sig3 returns, for every magnitude (each power of ten and its neighbours, values that
// round up into the next unit, a minute and beyond) and for random durations, without allocating under a minute.
func TestAppendSig3IsSig3(t *testing.T) {
	ds := []time.Duration{-time.Second, 0, 1, 9, 10, 999, 1000, 1001, 1005, 1049, 9995, 9999, 99950, 999500, 999_999,
		1_000_500, 59_949_999_999, 59_950_000_000, time.Minute, 75300 * time.Millisecond, 2 * time.Hour,
		1<<63 - 1}
	for p := time.Duration(1); p < time.Hour*1000; p *= 10 {
		for _, k := range []time.Duration{1, 2, 5, 9, 10, 11, 99, 100, 101, 999, 1000, 1001, 1234, 9995} {
			ds = append(ds, p*k, p*k-1, p*k+1)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 200_000 {
		ds = append(ds, time.Duration(r.Int64N(int64(2*time.Minute))), time.Duration(r.Int64N(1_000_000)))
	}
	for _, d := range ds {
		if got, want := string(AppendSig3([]byte("x"), d)), "x"+Sig3(d); got != want {
			t.Fatalf("AppendSig3(%d) = %q, want %q", d, got, want)
		}
	}
	buf := make([]byte, 0, 64)
	if n := testing.AllocsPerRun(100, func() { buf = AppendSig3(buf[:0], 1490*time.Microsecond) }); n != 0 {
		t.Errorf("AppendSig3: %v allocations, want 0", n)
	}
}
