package loadgen

import (
	"testing"
	"time"
)

func TestSummarize(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	l := summarize(ds)
	want := Latency{N: 100, Mean: 50500 * time.Microsecond, P50: 50 * time.Millisecond, P90: 90 * time.Millisecond, P99: 99 * time.Millisecond, Max: 100 * time.Millisecond}
	if l != want {
		t.Errorf("got %+v, want %+v", l, want)
	}
	if one := summarize([]time.Duration{7}); one.P50 != 7 || one.P99 != 7 || one.Max != 7 {
		t.Errorf("one sample: %+v", one)
	}
	if (summarize(nil) != Latency{}) {
		t.Error("no samples")
	}
}

func TestSSEData(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"data: a\n\n", []string{"a"}},
		{"data: a\ndata: b\n\n", []string{"a\nb"}},
		{"event: prime\nid: 1\ndata:\n\ndata: x\r\n\r\n", []string{"x"}},
		{"data: a\r\rdata: b", []string{"a", "b"}},
		{": comment\n\n", nil},
		{"", nil},
	} {
		got := sseData([]byte(tc.in))
		if len(got) != len(tc.want) {
			t.Errorf("%q: got %q, want %q", tc.in, got, tc.want)
			continue
		}
		for i := range got {
			if string(got[i]) != tc.want[i] {
				t.Errorf("%q: got %q, want %q", tc.in, got, tc.want)
			}
		}
	}
}
