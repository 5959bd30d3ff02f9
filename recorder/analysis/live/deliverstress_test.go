package live

import (
	"context"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/recorder/analysis"
)

// versionAnalyzer says of an exchange the version (Status) of its latest snapshot observed.
type versionAnalyzer struct{ last map[uint64]int }

func (a *versionAnalyzer) Observe(ex *recorder.Exchange) { a.last[ex.ID] = ex.Status }
func (a *versionAnalyzer) Info(id uint64) analysis.Info {
	return analysis.Info{Connection: strconv.Itoa(a.last[id])}
}
func (a *versionAnalyzer) Report() *analysis.Report { return &analysis.Report{} }

// While the feeder pushes snapshots (ids one after another, again, out of order) faster than the service observes
// them, and subscribers come and go (subscribing, taking, closing during deliveries), a subscriber that stays
// takes every exchange's updates in order, never an older one after a newer, ending with its latest snapshot's
// — and the race detector sees no write to what deliver reads outside the lock.
func TestDeliveryWhileSubscribersComeAndGo(t *testing.T) {
	s := New(Options{Saved: true, NewAnalyzer: func(analysis.Options) Analyzer { return &versionAnalyzer{last: map[uint64]int{}} }})
	defer s.Close()
	stay := s.Subscribe()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	stop := make(chan struct{})
	var churn sync.WaitGroup
	for range 3 {
		churn.Add(1)
		go func() {
			defer churn.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				// a few at once, closed in any order: one in the middle of the subscribers while deliver walks them
				var subs []*Subscription
				for range 4 {
					subs = append(subs, s.Subscribe())
				}
				for _, k := range rand.Perm(len(subs)) {
					subs[k].Take()
					subs[k].Close()
				}
			}
		}()
	}

	got := map[uint64]int{} // the latest version taken of each exchange
	var bad string
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			m, ok := stay.Next(ctx)
			if !ok {
				return
			}
			for _, in := range m.Infos {
				v, _ := strconv.Atoi(in.Connection)
				if v < got[in.ID] && bad == "" {
					bad = "exchange " + strconv.FormatUint(in.ID, 10) + ": version " + in.Connection + " taken after " + strconv.Itoa(got[in.ID])
				}
				got[in.ID] = v
			}
			if m.Final {
				return
			}
		}
	}()

	rng := rand.New(rand.NewPCG(11, 12))
	want := map[uint64]int{}
	next, version := uint64(1), 0
	for seq := range uint64(3000) {
		var exs []*recorder.Exchange
		for range rng.IntN(8) {
			id := next
			if rng.IntN(4) == 0 && next > 1 {
				id = 1 + rng.Uint64N(next-1) // an exchange seen before: a later snapshot, or a resync's
			} else {
				next++
			}
			version++
			want[id] = version
			exs = append(exs, &recorder.Exchange{ID: id, Status: version})
		}
		s.Push(Batch{Epoch: 1, Seq: seq + 1, Exchanges: exs, From: 1})
		if seq%64 == 0 {
			time.Sleep(100 * time.Microsecond) // now and then the service catches up
		}
	}
	s.Finish()
	<-done
	close(stop)
	churn.Wait()
	if bad != "" {
		t.Fatal(bad)
	}
	if len(got) != len(want) {
		t.Fatalf("took infos of %d exchanges, want %d", len(got), len(want))
	}
	for id, v := range want {
		if got[id] != v {
			t.Fatalf("exchange %d: took version %d last, want %d", id, got[id], v)
		}
	}
}
