package recorder

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

func ids(exs []*Exchange) string {
	var b strings.Builder
	for i, ex := range exs {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprint(&b, ex.ID)
	}
	return b.String()
}

func TestStoreBoundsByCount(t *testing.T) {
	s := NewStore(StoreOptions{MaxCount: 3})
	for i := range 5 {
		if id := s.Add(&Exchange{Method: "GET", URL: fmt.Sprintf("/%d", i)}); id != uint64(i+1) {
			t.Fatalf("id %d, want %d", id, i+1)
		}
	}
	if got := ids(s.Snapshot()); got != "3 4 5" {
		t.Errorf("snapshot %s", got)
	}
	if s.Get(2) != nil || s.Get(3).URL != "/2" || s.Get(5).URL != "/4" || s.Get(6) != nil || s.Get(0) != nil {
		t.Error("Get after eviction")
	}
	st := s.Stats()
	if st.Count != 3 || st.Evicted != 2 || st.Total != 5 {
		t.Errorf("stats %+v", st)
	}
	if s.Get(4).State != StateComplete {
		t.Error("Add stores complete exchanges")
	}
}

func TestStoreGrowsItsRingPastTheInitialSize(t *testing.T) {
	s := NewStore(StoreOptions{MaxCount: 5000})
	for range 3000 {
		s.Add(&Exchange{})
	}
	snap := s.Snapshot()
	if len(snap) != 3000 || snap[0].ID != 1 || snap[2999].ID != 3000 || s.Get(1500).ID != 1500 {
		t.Fatalf("len %d first %d last %d", len(snap), snap[0].ID, snap[len(snap)-1].ID)
	}
	for i, ex := range snap {
		if ex.ID != uint64(i+1) {
			t.Fatalf("snapshot out of order at %d: %d", i, ex.ID)
		}
	}
}

func TestStoreBoundsByBytes(t *testing.T) {
	one := (&Exchange{RespBody: Body{Data: make([]byte, 1000)}}).Size()
	s := NewStore(StoreOptions{MaxBytes: 3*one + one/2})
	for range 10 {
		s.Add(&Exchange{RespBody: Body{Data: make([]byte, 1000)}})
	}
	st := s.Stats()
	if st.Count != 3 || st.Bytes != 3*one || st.Evicted != 7 {
		t.Errorf("stats %+v (one exchange = %d bytes)", st, one)
	}
	if got := ids(s.Snapshot()); got != "8 9 10" {
		t.Errorf("snapshot %s", got)
	}
	// An exchange larger than the bound alone is kept (the newest is never evicted).
	s.Add(&Exchange{RespBody: Body{Data: make([]byte, 10*1000)}})
	if got := ids(s.Snapshot()); got != "11" {
		t.Errorf("snapshot after a huge exchange %s", got)
	}
}

func TestStoreUpdateOfAGrowingExchangeEvictsOlderOnes(t *testing.T) {
	one := (&Exchange{}).Size()
	s := NewStore(StoreOptions{MaxBytes: 3 * one})
	s.Add(&Exchange{})
	s.Add(&Exchange{})
	ex := &Exchange{}
	id := s.begin(ex)
	grown := *ex
	grown.RespBody.Data = make([]byte, int(one))
	s.update(&grown)
	if got := ids(s.Snapshot()); got != fmt.Sprintf("2 %d", id) {
		t.Errorf("snapshot %s", got)
	}
	if st := s.Stats(); st.Bytes != one+grown.Size() {
		t.Errorf("bytes %d, want %d", st.Bytes, one+grown.Size())
	}
}

func TestStoreUpdatesReachSubscribersInOrder(t *testing.T) {
	s := NewStore(StoreOptions{})
	sub := s.Subscribe(10)
	answered := s.SubscribeWith(SubscribeOptions{Buffer: 10, NoBegan: true})
	ex := &Exchange{State: StatePending}
	s.begin(ex)
	c := *ex
	c.State = StateStreaming
	s.update(&c)
	d := c
	d.State = StateComplete
	var finished []*Exchange
	s.OnComplete(func(e *Exchange) { finished = append(finished, e) })
	s.complete(&d)
	s.Clear()
	var kinds []UpdateKind
	for range 4 {
		kinds = append(kinds, (<-sub.C).Kind)
	}
	if fmt.Sprint(kinds) != fmt.Sprint([]UpdateKind{Began, Changed, Completed, Cleared}) {
		t.Errorf("kinds %v", kinds)
	}
	kinds = nil
	for range 3 {
		kinds = append(kinds, (<-answered.C).Kind)
	}
	if fmt.Sprint(kinds) != fmt.Sprint([]UpdateKind{Changed, Completed, Cleared}) || len(answered.C) != 0 {
		t.Errorf("a NoBegan subscription got %v (and %d more)", kinds, len(answered.C))
	}
	if len(finished) != 1 || finished[0].State != StateComplete {
		t.Errorf("OnComplete got %v", finished)
	}
	if len(s.Snapshot()) != 0 || s.Stats().Bytes != 0 {
		t.Error("Clear left exchanges")
	}
	if id := s.Add(&Exchange{}); id != 2 {
		t.Errorf("ids keep counting after Clear: %d", id)
	}
	sub.Close()
	sub.Close() // twice is fine
	if _, ok := <-drain(sub.C); ok {
		t.Error("C not closed")
	}
}

// drain returns c after reading what is buffered.
func drain(c <-chan Update) <-chan Update {
	for {
		select {
		case _, ok := <-c:
			if !ok {
				return c
			}
		default:
			return c
		}
	}
}

func TestStoreSubscriberThatNeverReadsDropsAndNeverBlocks(t *testing.T) {
	s := NewStore(StoreOptions{})
	stalled := s.Subscribe(4)
	live := s.Subscribe(100000)
	const n = 5000
	done := make(chan struct{})
	go func() {
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range n / 4 {
					s.Add(&Exchange{})
				}
			}()
		}
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("publishing blocked on a subscriber that never reads")
	}
	// Each Add is two updates (Began, Completed); the stalled subscriber kept 4 of them.
	if got := stalled.Dropped(); got != 2*n-4 {
		t.Errorf("stalled subscriber dropped %d, want %d", got, 2*n-4)
	}
	if live.Dropped() != 0 || len(live.C) != 2*n {
		t.Errorf("live subscriber: dropped %d, buffered %d", live.Dropped(), len(live.C))
	}
	if st := s.Stats(); st.Dropped != 2*n-4 || st.Total != n {
		t.Errorf("stats %+v", st)
	}
}
