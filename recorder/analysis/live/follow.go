package live

import (
	"context"

	"github.com/mcpwatch/mcpwatch/recorder"
)

// followBatch bounds the updates of one batch Follow pushes.
const followBatch = 4096

// Follow feeds the service from a store subscription (the session's feeder when no TUI runs: --no-tui) until the
// subscription closes or ctx ends, then Finishes it (its last report is judged at the clock). The store holds at
// most maxCount exchanges (its ids are consecutive): the service lets go of those below the newest maxCount.
// The subscription's count of missed updates travels with each batch, so that subscribers can say a gap.
func (s *Service) Follow(ctx context.Context, sub *recorder.Subscription, maxCount int) {
	defer s.Finish()
	if maxCount <= 0 {
		maxCount = recorder.DefaultStoreMaxCount
	}
	epoch, seq, top := 1, uint64(0), uint64(0)
	var exs []*recorder.Exchange
	push := func() {
		seq++
		from := uint64(0)
		if top >= uint64(maxCount) {
			from = top + 1 - uint64(maxCount)
		}
		s.Push(Batch{Epoch: epoch, Seq: seq, Exchanges: exs, From: from, Dropped: sub.Dropped()})
		exs = nil
	}
	add := func(u recorder.Update) {
		if u.Kind == recorder.Cleared {
			if len(exs) > 0 {
				push()
			}
			epoch++
			top = 0
			push() // the new epoch starts the analysis afresh
			return
		}
		if u.Exchange == nil {
			return
		}
		top = max(top, u.Exchange.ID)
		exs = append(exs, u.Exchange)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case u, ok := <-sub.C:
			if !ok {
				return
			}
			add(u)
			for more := true; more && len(exs) < followBatch; {
				select {
				case u, ok := <-sub.C:
					if !ok {
						push()
						return
					}
					add(u)
				default:
					more = false
				}
			}
			push()
		}
	}
}
