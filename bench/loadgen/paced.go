package loadgen

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// maxRate bounds a paced run's rate (calls per second), and so its schedule's queue.
const maxRate = 100_000

// LateAfter is how long after its scheduled time a paced call may be sent and still count as on time.
const LateAfter = time.Millisecond

// maxLateShare is the share of a paced run's calls that may be late before the run reports the rate not kept.
const maxLateShare = 0.01

// Paced is what a paced run (Config.Rate) kept of its schedule. Its Result's Latency runs from each call's
// scheduled time to its checked answer, so that a call held back by a slow answer counts the wait (no coordinated
// omission); Lag is the part of it before the call was sent.
type Paced struct {
	Rate float64 `json:"rate"` // calls per second asked for
	// Scheduled counts the calls the schedule placed in the measured window; Sent those of them that were sent,
	// Missed those never sent (their latency is unknown: a run with missed calls measured less than its window).
	Scheduled uint64 `json:"scheduled"`
	Sent      uint64 `json:"sent"`
	Missed    uint64 `json:"missed"`
	// Lag runs from each measured call's scheduled time to its send: the load generator's own delay (released
	// late: DispatchLate calls more than LateAfter) and the wait for a free client (all of them waiting for
	// answers). Late counts the calls sent more than LateAfter after their time.
	Lag          Latency `json:"lag"`
	Late         uint64  `json:"late"`
	DispatchLate uint64  `json:"dispatchLate"`
	// NotKept says why the run did not keep its rate (empty when it did): a call of the window never sent, or
	// more than 1% of them late.
	NotKept string `json:"notKept,omitempty"`
}

// slot is one call of a paced run's schedule.
type slot struct {
	at       time.Time // when the schedule sends it
	measured bool      // inside the measured window
}

// RunPaced is a paced run (cfg.Rate > 0, call mode) against several endpoints at once, interleaved on one
// schedule: the i-th call of the schedule goes to urls[i mod n], so that each endpoint gets Rate/n calls per
// second at evenly spread times, and whatever disturbs the machine during the run disturbs every endpoint alike.
// Each endpoint has its own Clients clients, sessions and queue (a slow one holds back only its own calls); the
// results are in the order of urls. cfg.URL is not used.
func RunPaced(ctx context.Context, cfg Config, urls []string) ([]*Result, error) {
	if len(urls) == 0 {
		return nil, errors.New("no URL")
	}
	cfg.URL = urls[0]
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Rate <= 0 {
		return nil, errors.New("RunPaced needs a rate")
	}
	cfg.defaults()
	hc := cfg.httpClient()
	if t, ok := hc.Transport.(*http.Transport); ok && cfg.Transport == nil {
		defer t.CloseIdleConnections()
	}
	return runPaced(ctx, cfg, hc, urls)
}

// pacedTarget is one endpoint of a paced run: its clients, their sessions and tallies, and its queue.
type pacedTarget struct {
	cfg      Config
	clients  []*Client
	sessions []*Session
	all      []*workerStats
	lags     [][]time.Duration
	queue    chan slot
	opened   int
	missed   atomic.Uint64
	// scheduled and dispatchLate count the measured calls the dispatcher released to this endpoint (and late).
	scheduled, dispatchLate uint64
}

// runPaced runs a paced run against urls (Run's, with one): every client opens its session, then one goroutine
// releases a call at each scheduled time (t0 + i/Rate) to the next endpoint in turn, to whichever of its clients
// is free, through a queue of at most a second of its calls. The calls scheduled in the measured window are all
// waited for, up to Timeout after it.
func runPaced(ctx context.Context, cfg Config, hc *http.Client, urls []string) ([]*Result, error) {
	bg := context.WithoutCancel(ctx)
	n := len(urls)
	ts := make([]*pacedTarget, n)
	var wg sync.WaitGroup
	for k, u := range urls {
		t := &pacedTarget{cfg: cfg, clients: make([]*Client, cfg.Clients), sessions: make([]*Session, cfg.Clients),
			all: make([]*workerStats, cfg.Clients), lags: make([][]time.Duration, cfg.Clients), queue: make(chan slot, int(cfg.Rate)/n+1)}
		t.cfg.URL = u
		ts[k] = t
		for i := range cfg.Clients {
			t.all[i] = newWorkerStats()
			t.clients[i] = &Client{hc: hc, cfg: &t.cfg, stats: t.all[i], timeout: cfg.Timeout}
			wg.Go(func() {
				s, err := t.clients[i].open(bg)
				if err != nil {
					t.clients[i].stats.fail(err)
					return
				}
				t.sessions[i] = s
			})
		}
	}
	wg.Wait()
	results := func() []*Result {
		out := make([]*Result, n)
		for k, t := range ts {
			res := &Result{Mode: cfg.Mode, Era: cfg.Era, Clients: cfg.Clients, Duration: cfg.Duration}
			merge(res, t.all)
			p := &Paced{Rate: cfg.Rate / float64(n), Scheduled: t.scheduled, Missed: t.missed.Load(), DispatchLate: t.dispatchLate}
			var lag []time.Duration
			for _, l := range t.lags {
				lag = append(lag, l...)
			}
			for _, l := range lag {
				if l > LateAfter {
					p.Late++
				}
			}
			p.Sent, p.Lag = uint64(len(lag)), summarize(lag)
			p.NotKept = p.notKept(t.opened)
			if t.opened == 0 {
				p.NotKept = "no client could open a session"
			}
			res.Paced = p
			out[k] = res
		}
		return out
	}
	for _, t := range ts {
		for _, s := range t.sessions {
			if s != nil {
				t.opened++
			}
		}
		if t.opened == 0 {
			return results(), ctx.Err()
		}
	}

	defer holdGC()()
	if testHookScheduleStarts != nil {
		testHookScheduleStarts()
	}
	t0 := time.Now()
	warmEnd := t0.Add(cfg.Warmup)
	end := warmEnd.Add(cfg.Duration)
	drainBy := end.Add(cfg.Timeout)
	for _, t := range ts {
		for i, c := range t.clients {
			if t.sessions[i] == nil {
				continue
			}
			wg.Go(func() { t.lags[i] = c.paced(bg, t.sessions[i], i, t.queue, drainBy, &t.missed) })
		}
	}

	keepSchedule(ctx, t0, end, cfg.Rate, func(i int, at time.Time) {
		t := ts[i%n]
		measured := !at.Before(warmEnd)
		if measured {
			t.scheduled++
			if time.Since(at) > LateAfter {
				t.dispatchLate++
			}
		}
		select {
		case t.queue <- slot{at: at, measured: measured}:
		default: // a second of calls waits already: the clients are far behind, and this one is not sent
			if measured {
				t.missed.Add(1)
			}
		}
	})
	if testHookScheduleEnds != nil {
		testHookScheduleEnds()
	}
	for _, t := range ts {
		close(t.queue)
	}
	wg.Wait()
	return results(), ctx.Err()
}

// paced is one client's part of a paced run: it sends the calls it takes from the queue until the queue closes,
// and returns the lag of each measured call it sent. A call taken after drainBy is not sent (missed).
func (c *Client) paced(ctx context.Context, s *Session, worker int, queue <-chan slot, drainBy time.Time, missed *atomic.Uint64) []time.Duration {
	var lags []time.Duration
	defer func() {
		if s != nil {
			if err := c.Close(ctx, s); err != nil {
				c.stats.fail(err)
			}
		}
	}()
	n := 0
	for sl := range queue {
		now := time.Now()
		if now.After(drainBy) {
			if sl.measured {
				missed.Add(1)
			}
			continue
		}
		if sl.measured {
			lags = append(lags, now.Sub(sl.at))
		}
		var err error
		if s == nil {
			s, err = c.open(ctx)
		}
		if err == nil {
			err = c.CallEcho(ctx, s, c.cfg.Tool, echoText(worker, n))
			n++
		}
		if err != nil {
			c.stats.fail(err)
			var se *StepError
			if errors.As(err, &se) && (se.Status == http.StatusNotFound || se.Status == http.StatusUnauthorized) {
				s = nil // the session (or the token) is gone: the next call opens a new one
			}
			continue
		}
		c.stats.completed++
		if sl.measured {
			c.stats.ops++
			c.stats.lat = append(c.stats.lat, time.Since(sl.at))
		}
	}
	return lags
}

// notKept says why a paced run did not keep its rate, or "".
func (p *Paced) notKept(clients int) string {
	switch {
	case p.Scheduled == 0:
		return "no call was scheduled in the window"
	case p.Missed > 0:
		return fmt.Sprintf("%d of the window's %d calls were never sent (the %d clients were more than a second, or the timeout, behind)", p.Missed, p.Scheduled, clients)
	case float64(p.Late) > maxLateShare*float64(p.Scheduled):
		return fmt.Sprintf("%d of the window's %d calls were sent more than %s after their time (%d released late by the load generator itself, the rest waiting for one of the %d clients); lag p99 %s, max %s",
			p.Late, p.Scheduled, LateAfter, p.DispatchLate, clients, fmtDur(p.Lag.P99), fmtDur(p.Lag.Max))
	}
	return ""
}

// testHookScheduleStarts and testHookScheduleEnds, when set (tests), run when a paced run's schedule starts (after
// holdGC) and once it has released its last call.
var testHookScheduleStarts, testHookScheduleEnds func()

// gcHoldRoom is how much the load generator may allocate during a paced run before its collector runs again
// (holdGC): at ~8 KB a call, a minute at 1,000 calls per second.
const gcHoldRoom = 512 << 20

// holdGC collects now and keeps the collector off until the returned function restores it, unless the process
// then uses gcHoldRoom more memory (a memory limit; GOGC and a limit the user set are kept when lower). The load
// generator runs pinned to one CPU (GOMAXPROCS 1), and during a collection's mark phase the scheduler gives the
// only P to the mark worker before any runnable goroutine: each of the ~2 collections a second of a paced run at
// 1,000 calls/s (a live heap of 2 MB, 4 MB between collections) held the dispatcher back for up to a few
// milliseconds, and the calls due then went out late (dispatched late: 44, 56, 17 of 3,000 with the collector,
// 18, 19, 17 without, alternating runs beside a plain server, load average 4).
func holdGC() (restore func()) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	limit := debug.SetMemoryLimit(-1) // reads it
	pct := debug.SetGCPercent(-1)
	debug.SetMemoryLimit(min(limit, int64(ms.Sys-ms.HeapReleased)+gcHoldRoom))
	return func() {
		debug.SetGCPercent(pct)
		debug.SetMemoryLimit(limit)
	}
}

// keepSchedule calls release(i, at) for each time at = t0 + i/rate before end, in order, waiting until at
// (sleepUntil) before each, until ctx ends: the schedule of a paced run, released from one goroutine.
func keepSchedule(ctx context.Context, t0, end time.Time, rate float64, release func(i int, at time.Time)) {
	interval := float64(time.Second) / rate
	sl := newSleeper()
	defer sl.close()
	for i := 0; ; i++ {
		at := t0.Add(time.Duration(float64(i) * interval))
		if !at.Before(end) || ctx.Err() != nil {
			return
		}
		sleepUntil(ctx, sl, at)
		release(i, at)
	}
}

// sleepUntil waits until t or until ctx ends: on a timer until the last 2 ms, then on sl, which is precise (the
// runtime's timers may wake a sleeper up to a millisecond late, a whole interval at 1,000 calls per second).
func sleepUntil(ctx context.Context, sl *sleeper, t time.Time) {
	if d := time.Until(t) - 2*time.Millisecond; d > 0 && !sleep(ctx, d) {
		return
	}
	sl.sleep(time.Until(t))
}
