package loadgen

import (
	"context"
	"net/http/httptest"
	"runtime"
	"runtime/metrics"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/bench/peers"
)

// The schedule is kept while other goroutines keep the load generator's only P busy (it runs pinned to one CPU,
// GOMAXPROCS 1): each of them works 50 µs at a time and then yields, as the clients do between the steps of their
// calls, so that the run queue is never empty. Woken only through the network poller (the timerfd), the
// dispatcher waited for the run queue to drain — here never: the poller was read again by the runtime's monitor,
// every 10 ms. The clock the test judges by is the busy goroutines' own work: how many of their pieces began after
// a call was due and before it was released — a median of 0–3 when the dispatcher runs next once its time comes,
// 55–89 (a lag of 5 ms at the median) when it waits for the poller. Counted so, the time other processes of a busy
// machine take from this one (a CPU hog here) is no one's delay: no piece begins while the process waits.
func TestScheduleKeptBesideBusyGoroutines(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	const rate, window, piece = 1000, 300 * time.Millisecond, 50 * time.Microsecond
	var mu sync.Mutex
	var begun []time.Time // when each piece of the busy goroutines' work began
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for !stop.Load() {
				t0 := time.Now()
				mu.Lock()
				begun = append(begun, t0)
				mu.Unlock()
				for time.Since(t0) < piece {
				}
				runtime.Gosched()
			}
		})
	}
	var due, released []time.Time
	t0 := time.Now().Add(10 * time.Millisecond)
	keepSchedule(context.Background(), t0, t0.Add(window), rate, func(_ int, at time.Time) {
		due, released = append(due, at), append(released, time.Now())
	})
	stop.Store(true)
	wg.Wait()
	if want := int(window.Seconds() * rate); len(due) != want {
		t.Fatalf("released %d calls, want %d", len(due), want)
	}
	// for each call, the pieces begun after it was due and before its release
	slices.SortFunc(begun, time.Time.Compare)
	overtaken := make([]int, len(due))
	lags := make([]time.Duration, len(due))
	for i := range due {
		a, _ := slices.BinarySearchFunc(begun, due[i], time.Time.Compare)
		b, _ := slices.BinarySearchFunc(begun, released[i], time.Time.Compare)
		overtaken[i], lags[i] = b-a, released[i].Sub(due[i])
	}
	slices.Sort(overtaken)
	med, p90 := overtaken[len(overtaken)/2], overtaken[len(overtaken)*9/10]
	l := summarize(lags)
	t.Logf("pieces of other work begun after a call was due, before its release: median %d, p90 %d, max %d; lag from the schedule p50 %s p90 %s max %s",
		med, p90, overtaken[len(overtaken)-1], l.P50, l.P90, l.Max)
	if med > 10 {
		t.Fatalf("beside busy goroutines the dispatcher let them begin %d pieces of work (%s each) between a call's time and its release (median; p90 %d): it waited for the poller", med, piece, p90)
	}
}

// A paced run keeps the collector off while its schedule runs (holdGC): here a goroutine beside it allocates 64
// MiB in 1 MiB pieces during the run, which at GOGC 100 and a heap of a few MiB is a collection every few
// pieces (21 collections without holdGC); the run's own forced collection at its start comes before.
func TestPacedRunHoldsTheCollector(t *testing.T) {
	srv := httptest.NewServer(peers.Plain())
	defer srv.Close()
	cycles := func() uint64 {
		s := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}
		metrics.Read(s)
		return s[0].Value.Uint64()
	}
	var sink atomic.Pointer[[]byte]
	started := make(chan struct{})
	done := make(chan struct{})
	var before uint64
	go func() {
		defer close(done)
		<-started
		for range 64 {
			b := make([]byte, 1<<20)
			sink.Store(&b)
			time.Sleep(2 * time.Millisecond)
		}
	}()
	cfg := Config{URL: srv.URL + "/mcp", Rate: 200, Duration: 300 * time.Millisecond, Clients: 2}
	var during uint64
	ran := false
	testHookScheduleStarts = func() { before = cycles(); close(started) }
	testHookScheduleEnds = func() { <-done; during, ran = cycles()-before, true }
	defer func() { testHookScheduleStarts, testHookScheduleEnds = nil, nil }()
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !ran || res.Ops == 0 || res.Errors > 0 {
		t.Fatalf("the paced run did not run clean:\n%s", res)
	}
	if during != 0 {
		t.Fatalf("%d collections while the schedule ran beside 64 MiB of allocations, want none", during)
	}
}
