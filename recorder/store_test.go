package recorder

import (
	"bytes"
	"fmt"
	"runtime"
	"slices"
	"strconv"
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

// checkAccount recounts what the store holds: every slab's references are the live records' refs to it, no slab
// is kept that no record refers to, and Stats().Bytes is the chunks, the slabs and the live exchanges' Size.
func checkAccount(t *testing.T, s *Store) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	refs := map[uint32]int{}
	var want int64
	for id := s.first; id < s.nextID; id++ {
		rec := s.rec(id)
		if rec.live {
			if ex, ok := s.live[id]; ok {
				want += ex.Size()
			} else {
				want += s.lazy[id].size // begun without a snapshot (beginLazy)
			}
			continue
		}
		for _, r := range rec.refs {
			switch {
			case r.slab == refFile:
				want += fileLocBytes // its place in the file (Store.inFile)
			case r.slab == refSpill: // in its capture line: nothing held
			case r.slab >= slabIDs:
				refs[r.slab]++
			}
		}
	}
	want += int64(len(s.chunks))*s.chunkBytes() + s.pk.dictBytes
	for _, sb := range s.pk.slabs {
		if sb == nil {
			continue
		}
		if sb.refs != refs[sb.id] || sb.refs == 0 {
			t.Fatalf("slab %d: %d references counted, %d held", sb.id, sb.refs, refs[sb.id])
		}
		want += int64(len(sb.buf))
		delete(refs, sb.id)
	}
	if len(refs) > 0 {
		t.Fatalf("records refer to dropped slabs %v", refs)
	}
	if len(s.live)+len(s.lazy) != int(s.nextID-s.first)-packedCount(s) {
		t.Fatalf("%d live exchanges, %d begun without a snapshot", len(s.live), len(s.lazy))
	}
	if got := s.held(); got != want {
		t.Fatalf("the store counts %d bytes, holds %d", got, want)
	}
}

func packedCount(s *Store) int {
	n := 0
	for id := s.first; id < s.nextID; id++ {
		if !s.rec(id).live {
			n++
		}
	}
	return n
}

// The byte bound counts what the store holds (its chunks, its slabs, the exchanges still live), evicts the oldest
// first, and frees a slab when the last record referring to it goes: with shared parts (equal header lists and
// bodies, repeated) as with parts of their own.
func TestStoreBoundsByBytes(t *testing.T) {
	const bound = 64 << 10
	for _, shared := range []bool{false, true} {
		s := NewStore(StoreOptions{MaxBytes: bound})
		for i := range 2000 {
			ex := benchExchange()
			ex.Error = strings.Repeat("e", 500)
			if !shared {
				ex.RespBody.Data = fmt.Appendf(nil, "%0900d", i)
			}
			s.Add(ex)
			if st := s.Stats(); st.Bytes > bound || st.Count < 16 && st.Total >= 16 {
				t.Fatalf("after %d (shared %v): %+v", i+1, shared, st)
			}
			if i%97 == 0 {
				checkAccount(t, s)
			}
		}
		checkAccount(t, s)
		st := s.Stats()
		snap := s.Snapshot()
		if snap[len(snap)-1].ID != 2000 || snap[0].ID != 2000-uint64(st.Count)+1 || st.Evicted != 2000-uint64(st.Count) {
			t.Errorf("shared %v: %+v, snapshot from %d to %d", shared, st, snap[0].ID, snap[len(snap)-1].ID)
		}
		if s.Get(snap[0].ID-1) != nil || s.Get(snap[0].ID) == nil {
			t.Error("Get after eviction")
		}
		// An exchange larger than the bound alone is kept (the newest is never evicted).
		s.Add(&Exchange{RespBody: Body{Data: make([]byte, 2*bound)}})
		if got := ids(s.Snapshot()); got != "2001" {
			t.Errorf("snapshot after a huge exchange %s", got)
		}
		checkAccount(t, s)
		s.Clear()
		if st := s.Stats(); st.Bytes != 0 || st.Count != 0 {
			t.Errorf("after Clear %+v", st)
		}
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
	// grown past the bound by less than one record: with 80-byte records in chunks of one, the three chunks, the
	// slab and the grown exchange (1,088 B counted) pass 3×512, two chunks with them do not
	grown.RespBody.Data = make([]byte, int(one)+64)
	s.update(&grown)
	if got := ids(s.Snapshot()); got != fmt.Sprintf("2 %d", id) {
		t.Errorf("snapshot %s", got)
	}
	checkAccount(t, s)
	if st := s.Stats(); st.Bytes > 3*one {
		t.Errorf("bytes %d, bound %d", st.Bytes, 3*one)
	}
}

// Get and Snapshot read while exchanges are recorded and evicted (go test -race): every record read whole and
// equal to what was added, an evicted id nil.
func TestStoreReadsRaceAppendsAndEvictions(t *testing.T) {
	s := NewStore(StoreOptions{MaxBytes: 256 << 10, MaxCount: 300})
	const n = 3000
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range n {
			ex := benchExchange()
			ex.URL = fmt.Sprint("/mcp/", i)
			ex.ReqBody.Data = fmt.Appendf(nil, "%d", i)
			s.Add(ex)
		}
	}()
	check := func(ex *Exchange) {
		if ex.URL != fmt.Sprint("/mcp/", ex.ID-1) || string(ex.ReqBody.Data) != fmt.Sprint(ex.ID-1) || len(ex.RPC) != 2 {
			t.Errorf("record %d read as %s %q", ex.ID, ex.URL, ex.ReqBody.Data)
		}
	}
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s.Stats().Total < n {
				snap := s.Snapshot()
				for _, ex := range snap {
					check(ex)
				}
				if len(snap) > 0 {
					if ex := s.Get(snap[0].ID); ex != nil {
						check(ex)
					}
					if snap[0].ID > 1 && s.Get(snap[0].ID-1) != nil { // evicted before the snapshot, and ids only grow
						t.Error("an evicted id read back")
					}
				}
			}
		}()
	}
	wg.Wait()
	checkAccount(t, s)
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
	waitFor(t, func() bool { return len(live.C) == 2*n }) // the last updates reach the subscribers by the timer
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

// An exchange the store keeps as it came (a Start in another zone) or has evicted already is published without
// writing to the copy Add published at its beginning (go test -race).
func TestStoreAddPublishesWithoutWritingWhatItPublished(t *testing.T) {
	s := NewStore(StoreOptions{MaxCount: 1})
	sub := s.Subscribe(1 << 12)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for u := range sub.C {
			if u.Exchange != nil {
				_ = u.Exchange.Size() + int64(len(u.Exchange.RPCMethod())) // reads the memo
			}
		}
	}()
	zone := time.FixedZone("X", 3600)
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 300 {
				ex := benchExchange()
				ex.Start = ex.Start.In(zone)
				s.Add(ex)
			}
		}()
	}
	wg.Wait()
	sub.Close()
	<-done
	if st := s.Stats(); st.Count != 1 || st.Total != 600 {
		t.Errorf("stats %+v", st)
	}
}

// A large body (the recorder's per-body limit is a slab's size: every cut body is one) costs the store its own
// bytes, not a slab more: a part too large to share a slab with others gets one of its own and leaves the current
// slab to the parts after it. Before, such a part ended the current slab, and the small parts after it opened a
// new one: a 1 MiB body was counted (and held) as 2 MiB, a 600 KiB one as 1 MiB.
func TestStoreHoldsALargeBodyOnce(t *testing.T) {
	for _, tc := range []struct {
		bound int64
		size  int
	}{{0, 1 << 20}, {0, 600 << 10}, {0, 200 << 10}, {1 << 20, 100 << 10}, {1 << 20, 20 << 10}} {
		s := NewStore(StoreOptions{MaxBytes: tc.bound})
		const n = 40
		for i := range n {
			ex := benchExchange()
			ex.RespBody.Data = fmt.Appendf(bytes.Repeat([]byte{'x'}, tc.size-8), "%08d", i)
			ex.Events, ex.RPC = nil, ex.RPC[:1]
			s.Add(ex)
		}
		checkAccount(t, s)
		st := s.Stats()
		// beyond the bodies: the chunks, and the slab the small parts share (they fill a few KiB of it)
		over := st.Bytes - int64(st.Count*tc.size) - int64(len(s.chunks))*s.chunkBytes() - int64(s.pk.slabSize)
		if over > int64(st.Count*tc.size)/10 {
			t.Errorf("bound %d, bodies of %d B: %d held in %d B, %d B more than their bodies (%.2f× each)", tc.bound, tc.size,
				st.Count, st.Bytes, over, float64(st.Bytes)/float64(st.Count*tc.size))
		}
		if got := s.Get(st.Total); !bytes.HasSuffix(got.RespBody.Data, fmt.Appendf(nil, "%08d", n-1)) || len(got.RespBody.Data) != tc.size {
			t.Errorf("the last body reads back as %d bytes", len(got.RespBody.Data))
		}
	}
}

// liveHeap is the heap in use after a full GC.
func liveHeap() int64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// What the store holds in memory is what its byte bound counts, give or take, even for a stranger's requests of
// thousands of header lines (Go's server reads up to 1 MiB of them): the cache of materialised lists keeps only
// small lists. Before, it kept any list it was given, 32 bytes a line beside the slab's few: 256 such lists held
// some 2.4× what the store counted for its records.
func TestStoreHeapIsWhatItCounts(t *testing.T) {
	before := liveHeap()
	s := NewStore(StoreOptions{})
	const n, lines = 300, 3000
	for i := range n {
		ex := benchExchange()
		ex.ReqHeaders = make(Headers, lines)
		for j := range ex.ReqHeaders {
			ex.ReqHeaders[j] = Header{Name: "X-A", Value: strconv.Itoa(i*lines + j)}
		}
		s.Add(ex)
	}
	heap, st := liveHeap()-before, s.Stats()
	if st.Count != n || float64(heap) > 1.25*float64(st.Bytes)+1<<20 {
		t.Errorf("%d exchanges of %d header lines: the store counts %d B and holds %d B of heap", st.Count, lines, st.Bytes, heap)
	}
	runtime.KeepAlive(s)
}

// A subscriber that keeps a few texts of each record after it let the record go — the analysis keeps a
// connection's session id, user agent, era and address for as long as the connection — keeps those texts, not
// the slabs they came from: the store's bound holds for the process. Before, every header value, note, address
// and URL of a materialised record was a run of its slab, and keeping one kept the whole slab alive: 3,000
// sessions of a 4 MiB store kept some 50 MB (the analysis fed through the store held 64.6 MB of heap where it
// held 11.3 MB fed directly).
func TestKeptTextsDoNotKeepSlabs(t *testing.T) {
	before := liveHeap()
	s := NewStore(StoreOptions{MaxBytes: 4 << 20})
	var kept []string
	s.OnComplete(func(ex *Exchange) {
		kept = append(kept, ex.RespHeaders.Get("Mcp-Session-Id"), ex.ReqHeaders.Get("User-Agent"), ex.Note("era"),
			ex.RemoteAddr, ex.URL, ex.Host, ex.Error, ex.Toggles[0].After)
	})
	const n = 3000
	for i := range n {
		ex := benchExchange()
		sid := fmt.Sprintf("%016d", i)
		ex.RespHeaders = Headers{{"Content-Type", "text/event-stream"}, {"Mcp-Session-Id", sid}}
		ex.ReqHeaders = append(slices.Clone(ex.ReqHeaders), Header{"User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 " + sid})
		ex.Notes = []Note{{Key: "era", Value: "2026 " + sid}}
		ex.RemoteAddr, ex.URL, ex.Host = "10.0.0.1:"+sid, "/mcp?session="+sid, sid+".example"
		ex.Error = "stream cut " + sid
		ex.Toggles = []ToggleChange{{Name: "t", What: "status", Before: "200", After: "500 " + sid}}
		ex.RespBody.Data = fmt.Appendf(bytes.Repeat([]byte{'x'}, 16<<10), "%d", i) // the slabs fill: a slab every 15 records
		s.Add(ex)
	}
	heap, st := liveHeap()-before, s.Stats()
	var texts int64
	for _, k := range kept {
		texts += int64(len(k)) + 16
	}
	if float64(heap) > 1.25*float64(st.Bytes+texts)+2<<20 {
		t.Errorf("%d records: the store counts %d B, the texts kept are %d B, the heap holds %d B", n, st.Bytes, texts, heap)
	}
	runtime.KeepAlive(s)
}

// Updates made on the HTTP path (an exchange begun, completed) reach the subscribers PublishDelay after the first
// of them, together and in order, so that handing them over wakes no subscriber before the recording goroutine's
// next step (docs/benchmarks-store.md, "Subscribers off the path"); the updates made off the path (streams'
// progress, by the recorder's late queue) are handed over at once after each run of it, after what is pending.
func TestStoreHandsUpdatesOverLate(t *testing.T) {
	s := NewStore(StoreOptions{PublishDelay: time.Hour})
	sub := s.Subscribe(16)
	id := s.begin(&Exchange{State: StatePending})
	ex := &Exchange{ID: id, State: StateComplete}
	s.complete(ex)
	if n := len(sub.C); n != 0 {
		t.Fatalf("%d updates handed over on the recording goroutine, want none before the delay", n)
	}
	late := s.Subscribe(16) // what happened before it subscribed is not its
	s.Add(&Exchange{})
	s.update(&Exchange{ID: 99, State: StateStreaming}) // off the path: at once, after what is pending
	s.Publish()                                        // (the late queue's run, Recorder.publishLate)
	var kinds []UpdateKind
	for len(sub.C) > 0 {
		kinds = append(kinds, (<-sub.C).Kind)
	}
	if fmt.Sprint(kinds) != fmt.Sprint([]UpdateKind{Began, Completed, Began, Completed, Changed}) {
		t.Errorf("the first subscriber got %v", kinds)
	}
	if len(late.C) != 3 {
		t.Errorf("the later subscriber got %d updates, want the 3 made after it subscribed", len(late.C))
	}
	s.Add(&Exchange{})
	late.Close() // what is pending is handed over before it closes: its reader misses nothing
	kinds = nil
	for u := range late.C {
		kinds = append(kinds, u.Kind)
	}
	if want := []UpdateKind{Began, Completed, Changed, Began, Completed}; fmt.Sprint(kinds) != fmt.Sprint(want) {
		t.Errorf("the closed subscriber got %v, want %v", kinds, want)
	}

	// The default delay hands them over by itself.
	s = NewStore(StoreOptions{})
	sub = s.Subscribe(16)
	s.Add(&Exchange{})
	for range 2 {
		select {
		case <-sub.C:
		case <-time.After(10 * time.Second):
			t.Fatal("an update never handed over")
		}
	}
}
