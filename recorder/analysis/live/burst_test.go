package live

import (
	"reflect"
	"testing"

	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/recorder/analysis"
)

// After a burst (a mailbox holding 5,000 infos, taken in chunks; the service observing a batch of 1,000), the
// per-message indexes are made anew rather than cleared: a cleared Go map keeps the groups it grew to, and every
// later message of a few dozen infos walked them all. What is taken is unchanged: every info once, in order.
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
	sub.put(Msg{Epoch: 1, Seq: 1, Infos: infos(1, 5000), From: 1}, 10_000)
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
	sub.put(Msg{Epoch: 1, Seq: 2, Infos: infos(5001, 16), From: 1}, 10_000)
	take()
	for i, id := range got {
		if id != uint64(i+1) {
			t.Fatalf("info %d: id %d", i, id)
		}
	}
	if len(got) != 5016 {
		t.Fatalf("%d infos taken, want 5016", len(got))
	}
	if reflect.ValueOf(sub.at).Pointer() == burst {
		t.Errorf("the mailbox clears the index that held 5,000 infos for every message")
	}

	// The service's index of the exchanges observed since the last message.
	svc := &Service{inChanged: map[uint64]*recorder.Exchange{}}
	for id := range uint64(1000) {
		svc.inChanged[id] = &recorder.Exchange{ID: id}
	}
	big := reflect.ValueOf(svc.inChanged).Pointer()
	svc.resetChanged()
	if reflect.ValueOf(svc.inChanged).Pointer() == big || len(svc.inChanged) != 0 {
		t.Errorf("the service clears the index that held 1,000 exchanges for every message")
	}
}
