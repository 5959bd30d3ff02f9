package live

import (
	"context"
	"time"

	"github.com/mcpwatch/mcpwatch/recorder"
)

// followBatch bounds the updates of one batch Follow pushes.
const followBatch = 4096

// followGather is how long Follow lets updates gather in the subscription after the first of a batch before it
// reads them, not waiting on the channel meanwhile: a goroutine waiting on it is woken by every update, and then
// wakes the service, which wakes the printer — three goroutine switches an exchange, where a busy recorder now
// has them once a batch. Shorter than a frame and than the stream's publish delay (recorder.Options.PublishDelay).
const followGather = 2 * time.Millisecond

// Follow feeds the service from a store subscription (the session's feeder when no TUI runs: --no-tui) until the
// subscription closes or ctx ends, then Finishes it (its last report is judged at the clock). store is the
// subscription's store: the service lets go of the exchanges it no longer holds, by count or by bytes (its ids
// are consecutive, the oldest evicted first), once it has observed the ones a batch brings (so that the printer
// still prints an exchange the store evicted before Follow read it). The subscription's count of missed updates
// travels with each batch, so that subscribers can say a gap.
func (s *Service) Follow(ctx context.Context, sub *recorder.Subscription, store *recorder.Store) {
	defer s.Finish()
	epoch, seq := 1, uint64(0)
	var exs []*recorder.Exchange
	var streams map[uint64]int // the index in exs of each stream's snapshot in this batch
	push := func() {
		clear(streams)
		seq++
		// The oldest exchange the store holds; the batch's own exchanges are observed whatever their age.
		st := store.Stats()
		from := st.Total + 1 - uint64(st.Count)
		for _, ex := range exs {
			from = min(from, ex.ID)
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
			push() // the new epoch starts the analysis afresh
			return
		}
		if u.Exchange == nil {
			return
		}
		// A stream's later snapshot in the same batch (its progress, then its completion: a response that took
		// longer than the recorder's publish delay) takes the place of the earlier one, as the service's own
		// coalescing does: the analysis observes the exchange once, as it is at the end of the batch.
		if i, ok := streams[u.Exchange.ID]; ok {
			exs[i] = u.Exchange
			return
		}
		if u.Kind == recorder.Changed {
			if streams == nil {
				streams = map[uint64]int{}
			}
			streams[u.Exchange.ID] = len(exs)
		}
		exs = append(exs, u.Exchange)
	}
	gather := time.NewTimer(time.Hour)
	gather.Stop()
	defer gather.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case u, ok := <-sub.C:
			if !ok {
				return
			}
			add(u)
			if u.Kind != recorder.Cleared && len(sub.C) < followBatch/2 {
				gather.Reset(followGather)
				select {
				case <-ctx.Done(): // what was read is still pushed
				case <-gather.C:
				}
			}
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
