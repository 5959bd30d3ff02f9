package loadgen

import (
	"context"
	"errors"
	"fmt"
	"net/http"
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

// runPaced is Run for a paced run: every client opens its session, then one goroutine releases a call at each
// scheduled time (t0 + i/Rate) to whichever client is free, through a queue of at most a second of calls. The
// calls scheduled in the measured window are all waited for, up to Timeout after it.
func runPaced(ctx context.Context, cfg Config, hc *http.Client) (*Result, error) {
	bg := context.WithoutCancel(ctx)
	all := make([]*workerStats, cfg.Clients)
	clients := make([]*Client, cfg.Clients)
	sessions := make([]*Session, cfg.Clients)
	var wg sync.WaitGroup
	for i := range cfg.Clients {
		all[i] = newWorkerStats()
		clients[i] = &Client{hc: hc, cfg: &cfg, stats: all[i], timeout: cfg.Timeout}
		wg.Go(func() {
			s, err := clients[i].open(bg)
			if err != nil {
				clients[i].stats.fail(err)
				return
			}
			sessions[i] = s
		})
	}
	wg.Wait()
	res := &Result{Mode: cfg.Mode, Era: cfg.Era, Clients: cfg.Clients, Duration: cfg.Duration}
	p := &Paced{Rate: cfg.Rate}
	res.Paced = p
	opened := 0
	for _, s := range sessions {
		if s != nil {
			opened++
		}
	}
	if opened == 0 {
		merge(res, all)
		p.NotKept = "no client could open a session"
		return res, ctx.Err()
	}

	queue := make(chan slot, int(cfg.Rate)+1)
	t0 := time.Now()
	warmEnd := t0.Add(cfg.Warmup)
	end := warmEnd.Add(cfg.Duration)
	drainBy := end.Add(cfg.Timeout)
	var missed atomic.Uint64
	lags := make([][]time.Duration, cfg.Clients)
	for i, c := range clients {
		if sessions[i] == nil {
			continue
		}
		wg.Go(func() { lags[i] = c.paced(bg, sessions[i], i, queue, drainBy, &missed) })
	}

	var scheduled, dispatchLate uint64
	interval := float64(time.Second) / cfg.Rate
	sl := newSleeper()
	defer sl.close()
	for i := 0; ; i++ {
		at := t0.Add(time.Duration(float64(i) * interval))
		if !at.Before(end) || ctx.Err() != nil {
			break
		}
		sleepUntil(ctx, sl, at)
		measured := !at.Before(warmEnd)
		if measured {
			scheduled++
			if time.Since(at) > LateAfter {
				dispatchLate++
			}
		}
		select {
		case queue <- slot{at: at, measured: measured}:
		default: // a second of calls waits already: the clients are far behind, and this one is not sent
			if measured {
				missed.Add(1)
			}
		}
	}
	close(queue)
	wg.Wait()

	merge(res, all)
	var lag []time.Duration
	for _, l := range lags {
		lag = append(lag, l...)
	}
	for _, l := range lag {
		if l > LateAfter {
			p.Late++
		}
	}
	p.Scheduled, p.Sent, p.Missed, p.DispatchLate = scheduled, uint64(len(lag)), missed.Load(), dispatchLate
	p.Lag = summarize(lag)
	p.NotKept = p.notKept(opened)
	return res, ctx.Err()
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

// sleepUntil waits until t or until ctx ends: on a timer until the last 2 ms, then on sl, which is precise (the
// runtime's timers may wake a sleeper up to a millisecond late, a whole interval at 1,000 calls per second).
func sleepUntil(ctx context.Context, sl *sleeper, t time.Time) {
	if d := time.Until(t) - 2*time.Millisecond; d > 0 && !sleep(ctx, d) {
		return
	}
	sl.sleep(time.Until(t))
}
