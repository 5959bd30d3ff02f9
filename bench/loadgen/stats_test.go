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

// Combine adds the turns of a round up: the throughput is every turn's operations over their windows together
// (a ratio of sums, not the mean of the turns' rates), and the latencies are those of all the operations.
func TestCombine(t *testing.T) {
	ms := func(xs ...int) []time.Duration {
		var out []time.Duration
		for _, x := range xs {
			out = append(out, time.Duration(x)*time.Millisecond)
		}
		return out
	}
	a := &Result{Duration: time.Second, Ops: 4, Completed: 5, Sent: 6, Answered: 6, Status: map[int]uint64{200: 6}, lat: ms(1, 2, 3, 4)}
	b := &Result{Duration: 3 * time.Second, Ops: 2, Completed: 2, Sent: 3, Answered: 2, Errors: 1, Status: map[int]uint64{200: 2},
		ErrorKinds: map[string]uint64{"call: timeout": 1}, Samples: []string{"x"}, lat: ms(10, 20)}
	c := Combine(a, b)
	if c.Ops != 6 || c.Completed != 7 || c.Sent != 9 || c.Answered != 8 || c.Errors != 1 || c.Status[200] != 8 || c.ErrorKinds["call: timeout"] != 1 || len(c.Samples) != 1 {
		t.Errorf("counts: %+v", c)
	}
	if c.Duration != 4*time.Second || c.Throughput != 1.5 { // 6 ops in 4 s; the mean of the rates would be 2.33
		t.Errorf("window %s, throughput %g; want 4s, 1.5", c.Duration, c.Throughput)
	}
	if c.Latency.N != 6 || c.Latency.P50 != 3*time.Millisecond || c.Latency.Max != 20*time.Millisecond {
		t.Errorf("latency %+v", c.Latency)
	}
}
