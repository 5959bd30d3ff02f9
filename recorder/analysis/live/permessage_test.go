package live

import (
	"context"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/recorder/analysis"
)

// latestOnce is what a per-message list of updates keeps: each id once, at the place of its first update, with its
// latest value (the reference the service's and the mailbox's lists are held to).
func latestOnce(ids []uint64) (order []uint64, last map[uint64]int) {
	last = map[uint64]int{}
	for i, id := range ids {
		if _, ok := last[id]; !ok {
			order = append(order, id)
		}
		last[id] = i
	}
	return order, last
}

// updateIDs is n ids as feeders bring them: mostly one after another, now and then an exchange seen again (a
// stream's later snapshot) or an id out of order (a resync, the TUI's batches).
func updateIDs(rng *rand.Rand, n int) []uint64 {
	var ids []uint64
	next := uint64(100)
	for range n {
		switch k := rng.IntN(20); {
		case k == 0 && len(ids) > 0:
			ids = append(ids, ids[rng.IntN(len(ids))])
		case k == 1:
			ids = append(ids, next-uint64(rng.IntN(100)))
		default:
			next++
			ids = append(ids, next)
		}
	}
	return ids
}

// The service's list of the exchanges observed since its last message holds each once, at its first place, as its
// latest snapshot — and makes no index while the ids come one after another (--no-tui's final snapshots).
func TestChangedIsTheLatestOnceInOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 300 {
		ids := updateIDs(rng, rng.IntN(300))
		if round%3 == 0 {
			ids = ids[:0]
			for i := range rng.IntN(300) {
				ids = append(ids, uint64(10+i))
			}
		}
		s := &Service{}
		for k := range 2 { // the second time after a reset, as after a published message
			var snaps []*recorder.Exchange
			for _, id := range ids {
				ex := &recorder.Exchange{ID: id}
				snaps = append(snaps, ex)
				s.noteChanged(ex)
			}
			order, last := latestOnce(ids)
			if len(s.changed) != len(order) {
				t.Fatalf("round %d.%d: %d kept, want %d", round, k, len(s.changed), len(order))
			}
			for i, id := range order {
				if s.changed[i] != snaps[last[id]] {
					t.Fatalf("round %d.%d: place %d holds id %d, want the latest snapshot of %d", round, k, i, s.changed[i].ID, id)
				}
			}
			if strictlyIncreasing(ids) && s.indexed {
				t.Fatalf("round %d.%d: ids one after another were indexed", round, k)
			}
			s.resetChanged()
			if len(s.changed) != 0 || s.indexed {
				t.Fatalf("round %d.%d: not reset", round, k)
			}
		}
	}
}

// The mailbox keeps, of the infos put and not taken, each exchange once at its first place with its latest info,
// whether it is drained between puts, in chunks, or not at all — and writes no index while the puts bring ids one
// after another (a subscriber that keeps up, or one behind on a store's consecutive ids).
func TestMailboxIsTheLatestOnceInOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for round := range 60 {
		s := New(Options{})
		sub := s.Subscribe()
		consecutive := round%2 == 0
		var pending []uint64 // the ids put since the last Take that emptied the mailbox, in order
		var vals []int
		var got []Info
		val := 0
		next := uint64(1)
		check := func(taken []Info) {
			order, last := latestOnce(pending)
			if len(taken) != len(order) {
				t.Fatalf("round %d: took %d infos, want %d", round, len(taken), len(order))
			}
			for i, id := range order {
				if taken[i].ID != id || taken[i].Info.Connection != string(rune('a'+vals[last[id]]%26)) {
					t.Fatalf("round %d: info %d is %d (%q), want %d's latest", round, i, taken[i].ID, taken[i].Info.Connection, id)
				}
			}
			pending, vals = nil, nil
		}
		for step := range 40 {
			var infos []Info
			n := rng.IntN(3 * InfoChunk / 2)
			if rng.IntN(4) > 0 {
				n = rng.IntN(40)
			}
			var ids []uint64
			if consecutive {
				for range n {
					ids = append(ids, next)
					next++
				}
			} else {
				ids = updateIDs(rng, n)
			}
			for _, id := range ids {
				val++
				infos = append(infos, Info{ID: id, Info: analysis.Info{Connection: string(rune('a' + val%26))}})
				pending = append(pending, id)
				vals = append(vals, val)
			}
			if !consecutive {
				// a message holds each exchange once (the service's list): keep the latest of each
				order, last := latestOnce(ids)
				msg := make([]Info, len(order))
				for i, id := range order {
					msg[i] = infos[last[id]]
				}
				infos = msg
			}
			sub.put(Msg{Epoch: 1, Seq: uint64(step + 1), Infos: infos, From: 1}, 1<<20)
			if rng.IntN(3) == 0 {
				for {
					m, ok := sub.Take()
					if !ok {
						break
					}
					got = append(got, m.Infos...)
					if !m.Pending {
						break
					}
				}
				check(got)
				got = nil
			}
		}
		for {
			m, ok := sub.Take()
			if !ok {
				break
			}
			got = append(got, m.Infos...)
		}
		check(got)
		if consecutive && sub.written != 0 {
			t.Fatalf("round %d: consecutive ids wrote the index %d times", round, sub.written)
		}
		s.Close()
	}
}

func strictlyIncreasing(ids []uint64) bool {
	for i := 1; i < len(ids); i++ {
		if ids[i] <= ids[i-1] {
			return false
		}
	}
	return true
}

// nopAnalyzer observes nothing and says nothing: what is left of a message is the service's own bookkeeping.
type nopAnalyzer struct{ rep analysis.Report }

func (nopAnalyzer) Observe(*recorder.Exchange)          {}
func (nopAnalyzer) Info(uint64) analysis.Info           { return analysis.Info{} }
func (a *nopAnalyzer) Report() *analysis.Report         { return &a.rep }
func (a *nopAnalyzer) FindingsReport() *analysis.Report { return &a.rep }

// The service's bookkeeping of a batch and its message, as --no-tui has them (a batch of exchanges after the last
// one's, each taken before the next is pushed), allocates the message's infos and nothing else: not a queue for
// every batch (the service's two take turns), not a copy of the subscribers for every message (2 allocations a
// batch with either as before). (The indexes the bookkeeping no longer writes are held by the two tests above.)
func TestMessageBookkeepingAllocates(t *testing.T) {
	s := New(Options{Saved: true, NewAnalyzer: func(analysis.Options) Analyzer { return &nopAnalyzer{} }})
	defer s.Close()
	sub := s.SubscribeFindings()
	const batches, per = 2000, 16
	exs := make([]*recorder.Exchange, batches*per)
	for i := range exs {
		exs[i] = &recorder.Exchange{ID: uint64(i + 1), State: recorder.StateComplete}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var ms0, ms1 runtime.MemStats
	for i := range batches {
		if i == batches/2 { // the first half warms up
			runtime.ReadMemStats(&ms0)
		}
		s.Push(Batch{Epoch: 1, Seq: uint64(i + 1), Exchanges: exs[i*per : (i+1)*per], From: 1})
		for m := (Msg{}); m.Seq != uint64(i+1); {
			var ok bool
			if m, ok = sub.Next(ctx); !ok {
				t.Fatalf("batch %d: no message", i+1)
			}
		}
	}
	runtime.ReadMemStats(&ms1)
	allocs := float64(ms1.Mallocs-ms0.Mallocs) / (batches / 2)
	t.Logf("%.2f allocations a batch and its message", allocs)
	if allocs > 1.5 {
		t.Errorf("%.2f allocations a batch and its message, want 1 (its infos)", allocs)
	}
}
