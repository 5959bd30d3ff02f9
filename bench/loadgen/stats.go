package loadgen

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"
)

// Latency summarises the latencies of the measured operations.
type Latency struct {
	N    int           `json:"n"`
	Mean time.Duration `json:"mean"`
	P50  time.Duration `json:"p50"`
	P90  time.Duration `json:"p90"`
	P99  time.Duration `json:"p99"`
	Max  time.Duration `json:"max"`
}

// summarize sorts ds in place and returns its percentiles (nearest rank).
func summarize(ds []time.Duration) Latency {
	if len(ds) == 0 {
		return Latency{}
	}
	slices.Sort(ds)
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	rank := func(p float64) time.Duration {
		i := int(p*float64(len(ds))+0.999999) - 1 // ceil(p·n) - 1
		return ds[min(max(i, 0), len(ds)-1)]
	}
	return Latency{N: len(ds), Mean: sum / time.Duration(len(ds)), P50: rank(0.50), P90: rank(0.90), P99: rank(0.99), Max: ds[len(ds)-1]}
}

// Result is what a run measured and what it found wrong.
type Result struct {
	Mode     Mode          `json:"mode"`
	Era      Era           `json:"era"`
	Clients  int           `json:"clients"`
	Duration time.Duration `json:"duration"` // the measured window

	// Ops is the number of operations (a tools/call in call mode, a whole handshake in handshake mode) that
	// completed and passed every check inside the measured window; Throughput is Ops per second of it.
	Ops        uint64  `json:"ops"`
	Throughput float64 `json:"throughput"`
	Latency    Latency `json:"latency"`
	// Completed counts the operations that passed over the whole run, warm-up included.
	Completed uint64 `json:"completed"`

	// Over the whole run (setup, warm-up and the measured window): Sent counts HTTP requests sent, Answered those
	// that received a response (any status), Status the responses by status code.
	Sent     uint64         `json:"sent"`
	Answered uint64         `json:"answered"`
	Status   map[int]uint64 `json:"status"`
	// Errors counts failed operations (a transport error or a failed check); ErrorKinds groups them by step and
	// reason, and Samples keeps the first few in full.
	Errors     uint64            `json:"errors"`
	ErrorKinds map[string]uint64 `json:"errorKinds,omitempty"`
	Samples    []string          `json:"samples,omitempty"`
	// Paced is set for a paced run (Config.Rate): what it kept of its schedule.
	Paced *Paced `json:"paced,omitempty"`

	lat []time.Duration // the measured operations' latencies, sorted (for Combine)
}

// Combine is one result of several runs against the same target (mcpbench's turns of a round): operations,
// requests, statuses and errors add up, and so do the measured windows, so that Throughput is every run's
// operations over all their windows together (a ratio of sums: a run cut short by a busy moment weighs what it
// measured, not a full share); Latency is that of every run's operations together. Paced runs do not combine
// (their Paced is dropped).
func Combine(rs ...*Result) *Result {
	out := &Result{Status: map[int]uint64{}, ErrorKinds: map[string]uint64{}}
	var lat []time.Duration
	for _, r := range rs {
		if r == nil {
			continue
		}
		out.Mode, out.Era, out.Clients = r.Mode, r.Era, r.Clients
		out.Duration += r.Duration
		out.Ops += r.Ops
		out.Completed += r.Completed
		out.Sent += r.Sent
		out.Answered += r.Answered
		out.Errors += r.Errors
		for k, v := range r.Status {
			out.Status[k] += v
		}
		for k, v := range r.ErrorKinds {
			out.ErrorKinds[k] += v
		}
		for _, x := range r.Samples {
			if len(out.Samples) < maxSamples {
				out.Samples = append(out.Samples, x)
			}
		}
		lat = append(lat, r.lat...)
	}
	out.lat = lat
	out.Latency = summarize(lat)
	if out.Duration > 0 {
		out.Throughput = float64(out.Ops) / out.Duration.Seconds()
	}
	return out
}

// ServerErrors is the number of 5xx responses.
func (r *Result) ServerErrors() uint64 {
	var n uint64
	for code, c := range r.Status {
		if code >= 500 {
			n += c
		}
	}
	return n
}

// String is a short human summary.
func (r *Result) String() string {
	var b strings.Builder
	unit := "tools/call"
	switch r.Mode {
	case ModeHandshake:
		unit = "handshakes"
	case ModeSetup:
		unit = "sessions"
	}
	fmt.Fprintf(&b, "%s %s, %d clients, %s: %d %s, %.1f/s; latency p50 %s p90 %s p99 %s max %s\n",
		r.Mode, r.Era, r.Clients, r.Duration.Round(time.Millisecond), r.Ops, unit, r.Throughput,
		fmtDur(r.Latency.P50), fmtDur(r.Latency.P90), fmtDur(r.Latency.P99), fmtDur(r.Latency.Max))
	codes := slices.Sorted(maps.Keys(r.Status))
	var parts []string
	for _, c := range codes {
		parts = append(parts, fmt.Sprintf("%d×%d", r.Status[c], c))
	}
	if p := r.Paced; p != nil {
		fmt.Fprintf(&b, "paced at %.0f calls/s: %d scheduled in the window, %d sent, %d more than %s late; lag from the schedule p50 %s p99 %s max %s\n",
			p.Rate, p.Scheduled, p.Sent, p.Late, LateAfter, fmtDur(p.Lag.P50), fmtDur(p.Lag.P99), fmtDur(p.Lag.Max))
		if p.NotKept != "" {
			fmt.Fprintf(&b, "RATE NOT KEPT: %s\n", p.NotKept)
		}
	}
	fmt.Fprintf(&b, "requests: %d sent, %d answered (%s); errors: %d\n", r.Sent, r.Answered, strings.Join(parts, " "), r.Errors)
	kinds := slices.Collect(maps.Keys(r.ErrorKinds))
	sort.Slice(kinds, func(i, j int) bool { return r.ErrorKinds[kinds[i]] > r.ErrorKinds[kinds[j]] })
	for _, k := range kinds {
		fmt.Fprintf(&b, "  %6d  %s\n", r.ErrorKinds[k], k)
	}
	for _, s := range r.Samples {
		fmt.Fprintf(&b, "  sample: %s\n", s)
	}
	return b.String()
}

func fmtDur(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2fs", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond))
	}
}

// workerStats is one worker's tally, merged into the Result at the end (no shared counters on the hot path).
type workerStats struct {
	lat       []time.Duration
	ops       uint64
	completed uint64
	sent      uint64
	answered  uint64
	status    map[int]uint64
	errors    uint64
	kinds     map[string]uint64
	samples   []string
}

func newWorkerStats() *workerStats {
	return &workerStats{status: map[int]uint64{}, kinds: map[string]uint64{}}
}

const maxSamples = 8

func (s *workerStats) fail(err error) {
	s.errors++
	kind := err.Error()
	if e, ok := err.(*StepError); ok {
		kind = e.Kind()
	}
	if len(s.kinds) < 64 || s.kinds[kind] > 0 {
		s.kinds[kind]++
	} else {
		s.kinds["(other)"]++
	}
	if len(s.samples) < maxSamples {
		s.samples = append(s.samples, err.Error())
	}
}

func merge(res *Result, all []*workerStats) {
	res.Status = map[int]uint64{}
	res.ErrorKinds = map[string]uint64{}
	var lat []time.Duration
	for _, s := range all {
		lat = append(lat, s.lat...)
		res.Ops += s.ops
		res.Completed += s.completed
		res.Sent += s.sent
		res.Answered += s.answered
		res.Errors += s.errors
		for k, v := range s.status {
			res.Status[k] += v
		}
		for k, v := range s.kinds {
			res.ErrorKinds[k] += v
		}
		for _, x := range s.samples {
			if len(res.Samples) < maxSamples {
				res.Samples = append(res.Samples, x)
			}
		}
	}
	res.Latency, res.lat = summarize(lat), lat
	if res.Duration > 0 {
		res.Throughput = float64(res.Ops) / res.Duration.Seconds()
	}
}
