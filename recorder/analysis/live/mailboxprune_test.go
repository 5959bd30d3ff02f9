package live

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/mcpwatch/mcpwatch/recorder/analysis"
)

// A prune that lets go of every info held (the feeder let go of them all before the subscriber took them) leaves
// an empty mailbox: the next message's infos are held unindexed, and a later info of the same exchange replaces
// its own rather than being taken twice.
func TestMailboxPrunedEmptyKeepsOnePerExchange(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	sub := s.Subscribe()
	var first []Info
	for id := uint64(1); id <= 200; id++ {
		first = append(first, Info{ID: id})
	}
	sub.put(Msg{Epoch: 1, Seq: 1, Infos: first, From: 1}, 1000)
	sub.put(Msg{Epoch: 1, Seq: 2, Infos: []Info{{ID: 5}}, From: 1}, 1000) // replaces one held: indexed
	sub.put(Msg{Epoch: 1, Seq: 3, From: 1000}, 0)                         // the feeder let go of all of them
	sub.put(Msg{Epoch: 1, Seq: 4, Infos: []Info{{ID: 1000, Info: analysis.Info{Connection: "a"}}}, From: 1000}, 1)
	sub.put(Msg{Epoch: 1, Seq: 5, Infos: []Info{{ID: 1000, Info: analysis.Info{Connection: "b"}}}, From: 1000}, 1)
	m, ok := sub.Take()
	if !ok {
		t.Fatal("nothing to take")
	}
	if len(m.Infos) != 1 || m.Infos[0].ID != 1000 || m.Infos[0].Connection != "b" {
		t.Fatalf("took %+v, want exchange 1000 once, its latest info", m.Infos)
	}
	if m.Dropped != 200 {
		t.Errorf("Dropped %d, want the 200 infos pruned", m.Dropped)
	}
}

// mailboxModel is the mailbox as a list: each exchange once at the place of its first info not taken, with its
// latest; pruned of what the feeder let go when it holds more than twice what the service holds; taken in chunks.
type mailboxModel struct {
	infos []Info
	lost  uint64
}

func (b *mailboxModel) put(m Msg, held int) {
	at := make(map[uint64]int, len(b.infos))
	for i, x := range b.infos {
		at[x.ID] = i
	}
	for _, in := range m.Infos {
		if i, ok := at[in.ID]; ok {
			b.infos[i] = in
			continue
		}
		at[in.ID] = len(b.infos)
		b.infos = append(b.infos, in)
	}
	if len(b.infos) > 2*max(held, mailboxSlack) {
		n := len(b.infos)
		b.infos = slices.DeleteFunc(b.infos, func(x Info) bool { return x.ID < m.From })
		b.lost += uint64(n - len(b.infos))
	}
}

func (b *mailboxModel) take() []Info {
	n := len(b.infos)
	if n > InfoChunk {
		n = InfoChunk
	}
	out := slices.Clone(b.infos[:n])
	b.infos = b.infos[n:]
	return out
}

// The mailbox takes what the model takes, message by message, whatever the ids (one after another, again, out of
// order), the feeder's From moving on (prunes, down to none held), new epochs and the takes in between (none,
// chunks, all).
func TestMailboxIsItsModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for round := range 300 {
		s := New(Options{})
		sub := s.Subscribe()
		var model mailboxModel
		next, from, val, epoch := uint64(1), uint64(1), 0, 1
		takes := 1 + rng.IntN(12) // one step in takes takes
		for step := range 60 {
			var ids []uint64
			n := rng.IntN(40)
			if rng.IntN(5) == 0 {
				n = 0 // a report's message, or one of a batch of exchanges let go already
			} else if rng.IntN(30) == 0 {
				n = rng.IntN(InfoChunk + 500)
			}
			seen := map[uint64]bool{}
			for range n {
				var id uint64
				switch k := rng.IntN(10); {
				case k == 0 && next > from:
					id = from + rng.Uint64N(next-from) // again, or out of order
				default:
					id = next
					next++
				}
				if !seen[id] { // a message holds each exchange once
					seen[id] = true
					ids = append(ids, id)
				}
			}
			switch rng.IntN(16) { // the feeder lets go
			case 0:
				from += rng.Uint64N(next - from + 1)
			case 1:
				from = next // of every exchange so far
			}
			var infos []Info
			for _, id := range ids {
				if id < from {
					continue // the service publishes only what the feeder holds
				}
				val++
				infos = append(infos, Info{ID: id, Info: analysis.Info{Connection: string(rune('a' + val%26))}})
			}
			held := int(next - from)
			if rng.IntN(4) == 0 {
				held = rng.IntN(3)
			}
			if rng.IntN(40) == 0 { // the feeder was cleared: what is held is let go unsaid
				epoch++
				model.infos = nil
			}
			m := Msg{Epoch: epoch, Seq: uint64(step + 1), Infos: infos, From: from}
			sub.put(m, held)
			model.put(m, held)
			k := 0
			if rng.IntN(takes) == 0 {
				k = 1 + rng.IntN(3) // a take, maybe of chunks
			}
			for ; k > 0; k-- {
				got, ok := sub.Take()
				want := model.take()
				if !ok {
					if len(want) > 0 {
						t.Fatalf("round %d step %d: nothing taken, want %d infos", round, step, len(want))
					}
					break
				}
				if !sameInfos(got.Infos, want) {
					t.Fatalf("round %d step %d: took %d infos %v, want %d %v", round, step, len(got.Infos), infoIDs(got.Infos), len(want), infoIDs(want))
				}
				if got.Dropped != model.lost {
					t.Fatalf("round %d step %d: Dropped %d, want %d", round, step, got.Dropped, model.lost)
				}
				if !got.Pending {
					break
				}
			}
		}
		s.Close()
	}
}

func sameInfos(a, b []Info) bool {
	return slices.EqualFunc(a, b, func(x, y Info) bool { return x.ID == y.ID && x.Connection == y.Connection })
}

func infoIDs(infos []Info) []uint64 {
	out := make([]uint64, len(infos))
	for i, in := range infos {
		out[i] = in.ID
	}
	return out
}
