package live

import (
	"reflect"
	"slices"
	"testing"

	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/recorder/analysis"
)

// After a burst (a mailbox indexing 5,000 infos, taken in chunks; the service indexing a batch of 1,000), the
// per-message indexes are made anew rather than cleared: a cleared Go map keeps the groups it grew to, and every
// later message of a few dozen infos walked them all. What is taken is unchanged: every info once, in order. (The
// indexes are made only when an info may replace one held: here the burst comes after an info of a later id.)
func TestIndexesLetGoOfABurst(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	sub := s.Subscribe()
	infos := func(from, n int) []Info {
		out := make([]Info, n)
		for i := range out {
			out[i] = Info{ID: uint64(from + i), Info: analysis.Info{Stage: analysis.StageCall}}
		}
		return out
	}
	sub.put(Msg{Epoch: 1, Seq: 1, Infos: infos(2, 1), From: 1}, 10_000)
	sub.put(Msg{Epoch: 1, Seq: 2, Infos: infos(1, 5000), From: 1}, 10_000)
	if !sub.indexed || len(sub.at) != 5000 {
		t.Fatalf("the burst's infos are not indexed (%d entries)", len(sub.at))
	}
	burst := reflect.ValueOf(sub.at).Pointer()
	var got []uint64
	take := func() {
		for {
			m, ok := sub.Take()
			if !ok {
				return
			}
			for _, in := range m.Infos {
				got = append(got, in.ID)
			}
		}
	}
	take()
	sub.put(Msg{Epoch: 1, Seq: 3, Infos: infos(5001, 16), From: 1}, 10_000)
	take()
	want := []uint64{2, 1}
	for id := uint64(3); id <= 5016; id++ {
		want = append(want, id)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("took %d infos, want %d (2, 1, then 3 to 5016 once each, in order)", len(got), len(want))
	}
	if reflect.ValueOf(sub.at).Pointer() == burst {
		t.Errorf("the mailbox clears the index that held 5,000 infos for every message")
	}

	// The service's index of the exchanges observed since the last message.
	svc := &Service{}
	svc.noteChanged(&recorder.Exchange{ID: 1000})
	for id := range uint64(1000) {
		svc.noteChanged(&recorder.Exchange{ID: id})
	}
	if !svc.indexed || len(svc.inChanged) != 1001 {
		t.Fatalf("the service's burst is not indexed (%d entries)", len(svc.inChanged))
	}
	big := reflect.ValueOf(svc.inChanged).Pointer()
	svc.resetChanged()
	if reflect.ValueOf(svc.inChanged).Pointer() == big || len(svc.inChanged) != 0 || len(svc.changed) != 0 {
		t.Errorf("the service clears the index that held 1,000 exchanges for every message")
	}
}

// A mailbox far behind (the printer or the TUI not taking while a burst is analysed) is drained in chunks of
// InfoChunk: each chunk leaves the rest's index entries as they are (they count from the chunks taken), so that
// draining N infos writes the index about N times, not N²/InfoChunk (as rewriting the rest's entries on every chunk
// did: 64 chunks, ~32 writes an info). Every info is still taken once, in order, and one put while chunks are
// taken replaces the info it should.
func TestTakeInChunksIsLinear(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	sub := s.Subscribe()
	const n = 64 * InfoChunk
	infos := make([]Info, n)
	for i := range infos {
		infos[i] = Info{ID: uint64(i + 1), Info: analysis.Info{Stage: analysis.StageCall}}
	}
	sub.put(Msg{Epoch: 1, Seq: 1, Infos: infos, From: 1}, n)
	var got []Info
	for chunk := 0; ; chunk++ {
		m, ok := sub.Take()
		if !ok {
			break
		}
		got = append(got, m.Infos...)
		if chunk == 2 { // an update of an info not taken yet, and a new one, while the mailbox is drained
			late := infos[n-1]
			late.Stage = analysis.StageInitialize
			sub.put(Msg{Epoch: 1, Seq: 2, Infos: []Info{late, {ID: n + 1}}, From: 1}, n+1)
		}
	}
	if len(got) != n+1 {
		t.Fatalf("%d infos taken, want %d", len(got), n+1)
	}
	for i, in := range got {
		if in.ID != uint64(i+1) {
			t.Fatalf("info %d: id %d", i, in.ID)
		}
	}
	if got[n-1].Stage != analysis.StageInitialize {
		t.Errorf("the update put while the mailbox was drained is lost: %v", got[n-1].Stage)
	}
	if sub.written > 2*n {
		t.Errorf("draining %d infos wrote the index %d times, want about one write an info", n, sub.written)
	}
}
