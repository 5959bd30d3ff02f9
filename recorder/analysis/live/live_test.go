package live

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/internal/testkit"
	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/recorder/analysis"
)

func load(t *testing.T, name string) []*recorder.Exchange {
	t.Helper()
	res, err := recorder.LoadCapture(filepath.Join("..", "testdata", name+".jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	return res.Exchanges
}

// next waits (bounded) for a subscription's next message.
func next(t *testing.T, sub *Subscription) Msg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, ok := sub.Next(ctx)
	if !ok {
		t.Fatal("no message")
	}
	return m
}

// untilReport takes messages until one carries a report, gathering the infos met on the way.
func untilReport(t *testing.T, sub *Subscription, infos map[uint64]Info) *analysis.Report {
	t.Helper()
	for {
		m := next(t, sub)
		for _, in := range m.Infos {
			infos[in.ID] = in
		}
		if m.Report != nil {
			return m.Report
		}
	}
}

func keys(fs []analysis.Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Key())
	}
	return out
}

// Two subscribers of one service see the same findings and the same infos: the analysis is made once.
func TestTwoSubscribersSeeTheSameFindings(t *testing.T) {
	made := 0
	var mu sync.Mutex
	s := New(Options{Saved: true, NewAnalyzer: func(o analysis.Options) Analyzer {
		mu.Lock()
		made++
		mu.Unlock()
		return analysis.New(o)
	}})
	defer s.Close()
	a, b := s.Subscribe(), s.Subscribe()
	exs := load(t, "initialize-no-session-id")
	s.Push(Batch{Epoch: 1, Seq: 1, Exchanges: analysis.SettleOrder(exs)})
	ia, ib := map[uint64]Info{}, map[uint64]Info{}
	ra, rb := untilReport(t, a, ia), untilReport(t, b, ib)
	if len(ra.Findings) == 0 || !slices.Equal(keys(ra.Findings), keys(rb.Findings)) {
		t.Fatalf("findings %v and %v", keys(ra.Findings), keys(rb.Findings))
	}
	want := keys(analysis.Analyze(exs, analysis.Options{}).Findings)
	if !slices.Equal(keys(ra.Findings), want) {
		t.Errorf("the service's findings %v, a batch analysis %v", keys(ra.Findings), want)
	}
	if len(ia) != len(exs) || len(ib) != len(exs) {
		t.Fatalf("%d and %d infos for %d exchanges", len(ia), len(ib), len(exs))
	}
	for id, in := range ia {
		if ib[id].Stage != in.Stage || ib[id].Connection != in.Connection || !slices.Equal(keys(ib[id].Findings), keys(in.Findings)) {
			t.Errorf("#%d: %+v and %+v", id, in.Info, ib[id].Info)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if made != 1 {
		t.Errorf("%d analyzers made for one session", made)
	}
}

// countingAnalyzer counts what it observed.
type countingAnalyzer struct{ exs map[uint64]bool }

func (a *countingAnalyzer) Observe(ex *recorder.Exchange) { a.exs[ex.ID] = true }
func (a *countingAnalyzer) Info(id uint64) analysis.Info {
	if a.exs[id] {
		return analysis.Info{Stage: analysis.StageCall, Connection: "c1"}
	}
	return analysis.Info{}
}
func (a *countingAnalyzer) Report() *analysis.Report { return &analysis.Report{} }

func numbered(from uint64, n int) []*recorder.Exchange {
	out := make([]*recorder.Exchange, n)
	for i := range out {
		out[i] = &recorder.Exchange{ID: from + uint64(i), Method: "POST", URL: "/mcp", State: recorder.StateComplete}
	}
	return out
}

// forgettingAnalyzer counts what it observed and forgets what it is told to.
type forgettingAnalyzer struct{ countingAnalyzer }

func (a *forgettingAnalyzer) Forget(below uint64) {
	for id := range a.exs {
		if id < below {
			delete(a.exs, id)
		}
	}
}

// As the feeder evicts, the analyzer forgets what it let go: it holds exactly the exchanges held, and is never
// started afresh (before, it was rebuilt from what was held once half as many had been evicted, holding up to
// 1.5 times as many); a slow subscriber's mailbox holds at most about one info per exchange held, and it loses none
// of those.
func TestEvictionsAreForgottenWithoutARebuild(t *testing.T) {
	const held = 3 * 1024
	var an *forgettingAnalyzer
	s := New(Options{Saved: true, NewAnalyzer: func(analysis.Options) Analyzer {
		an = &forgettingAnalyzer{countingAnalyzer{exs: map[uint64]bool{}}}
		return an
	}})
	defer s.Close()
	fast, slow := s.Subscribe(), s.Subscribe()
	top := uint64(0)
	for seq := range 40 {
		exs := numbered(top+1, held/4)
		top += uint64(len(exs))
		from := uint64(1)
		if top > held {
			from = top - held + 1
		}
		s.Push(Batch{Epoch: 1, Seq: uint64(seq + 1), Exchanges: exs, From: from})
		for m := next(t, fast); m.Seq != uint64(seq+1) || m.Pending; m = next(t, fast) {
		}
		if n := len(an.exs); n != int(top-from+1) {
			t.Fatalf("after %d exchanges the analyzer holds %d, %d held", top, n, top-from+1)
		}
		slow.mu.Lock()
		inMailbox := len(slow.infos)
		slow.mu.Unlock()
		if inMailbox > 2*max(held, InfoChunk) {
			t.Fatalf("the slow subscriber's mailbox holds %d infos, %d held", inMailbox, held)
		}
	}
	if n := s.Analyzers(); n != 1 {
		t.Fatalf("%d analyzers made for one epoch", n)
	}
	// The slow subscriber now takes what it missed (the last message may reach it a moment after the fast one):
	// every exchange held has its info, with its snapshot.
	got := map[uint64]bool{}
	for {
		m := next(t, slow)
		for _, in := range m.Infos {
			if in.Exchange == nil || in.Exchange.ID != in.ID {
				t.Fatalf("#%d's info carries snapshot %v", in.ID, in.Exchange)
			}
			got[in.ID] = true
		}
		if m.Seq == 40 && !m.Pending {
			break
		}
	}
	for id := top - held + 1; id <= top; id++ {
		if !got[id] {
			t.Fatalf("the slow subscriber never heard of #%d", id)
		}
	}
}

// after is a fixture moved after another: its ids follow on, two hours after the other's end.
func after(prev, exs []*recorder.Exchange) []*recorder.Exchange {
	var top uint64
	var end time.Time
	for _, ex := range prev {
		top = max(top, ex.ID)
		if e := ex.Start.Add(ex.Timings.Total); e.After(end) {
			end = e
		}
	}
	first := exs[0].Start
	for _, ex := range exs {
		if ex.Start.Before(first) {
			first = ex.Start
		}
	}
	out := make([]*recorder.Exchange, len(exs))
	for i, ex := range exs {
		c := *ex
		c.ID += top
		c.Start = end.Add(2 * time.Hour).Add(ex.Start.Sub(first))
		out[i] = &c
	}
	return out
}

// The service's analysis follows what the feeder holds: once the feeder let go of a capture's every exchange, its
// connections and findings leave the report, and the report is the analysis of what is held.
func TestReportOfWhatIsHeld(t *testing.T) {
	a := load(t, "initialize-no-session-id")
	b := after(a, load(t, "claude-web-legacy"))
	s := New(Options{Saved: true, MinReportEvery: time.Millisecond})
	defer s.Close()
	sub := s.Subscribe()
	s.Push(Batch{Epoch: 1, Seq: 1, Exchanges: analysis.SettleOrder(a), From: 1})
	if rep := untilReport(t, sub, map[uint64]Info{}); !hasRule(rep, "initialize-no-session-id") {
		t.Fatalf("findings of the first capture: %v", keys(rep.Findings))
	}
	from := b[0].ID
	for _, ex := range b {
		from = min(from, ex.ID)
	}
	s.Push(Batch{Epoch: 1, Seq: 2, Exchanges: analysis.SettleOrder(b), From: from, Force: true})
	var rep *analysis.Report
	for m := next(t, sub); ; m = next(t, sub) {
		if m.Seq == 2 && m.Report != nil {
			rep = m.Report
			break
		}
	}
	want := analysis.Analyze(b, analysis.Options{})
	if !slices.Equal(keys(rep.Findings), keys(want.Findings)) || len(rep.Connections) != len(want.Connections) {
		t.Fatalf("findings %v, %d connections; the analysis of what is held: %v, %d", keys(rep.Findings),
			len(rep.Connections), keys(want.Findings), len(want.Connections))
	}
	for _, c := range rep.Connections {
		for _, id := range c.Exchanges {
			if id < from {
				t.Fatalf("connection %s lists #%d, let go", c.ID, id)
			}
		}
	}
	an, err := s.Analysed([]uint64{a[0].ID, b[0].ID})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := an.Infos[a[0].ID]; ok || an.Infos[b[0].ID].Stage == "" {
		t.Fatalf("analysed: %+v", an.Infos)
	}
}

// A subscriber that takes nothing does not hold the other up, and when it takes, it has the latest info of every
// A stalled subscriber's mailbox is bounded by the exchanges the feeder holds, however few: the feeder holds few
// when they are big (it evicts by bytes), and the mailbox kept up to 2*InfoChunk infos of exchanges the feeder had
// let go (8192 snapshots, bodies included, a thousand times what a store of 8 big exchanges holds).
func TestStalledMailboxBoundedByWhatIsHeld(t *testing.T) {
	const held = 8
	s := New(Options{Saved: true})
	defer s.Close()
	fast, stalled := s.Subscribe(), s.Subscribe()
	top := uint64(0)
	const batches = 600
	for seq := 1; seq <= batches; seq++ {
		exs := numbered(top+1, 4)
		top += uint64(len(exs))
		s.Push(Batch{Epoch: 1, Seq: uint64(seq), Exchanges: exs, From: max(top, held) - held + 1})
		for m := next(t, fast); m.Seq != uint64(seq) || m.Pending; m = next(t, fast) {
		}
	}
	inMailbox := 0
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		stalled.mu.Lock()
		seq := stalled.seq
		inMailbox = len(stalled.infos)
		stalled.mu.Unlock()
		if seq == batches || time.Now().After(deadline) {
			break
		}
	}
	if inMailbox > 2*max(held, mailboxSlack) {
		t.Fatalf("the stalled mailbox holds %d infos, %d exchanges held", inMailbox, held)
	}
	got := map[uint64]bool{}
	var dropped uint64
	for {
		m := next(t, stalled)
		for _, in := range m.Infos {
			got[in.ID] = true
		}
		dropped = m.Dropped
		if m.Seq == batches && !m.Pending {
			break
		}
	}
	for id := top - held + 1; id <= top; id++ {
		if !got[id] {
			t.Fatalf("the stalled subscriber never heard of #%d", id)
		}
	}
	// What the mailbox let go is said: every exchange is either taken or counted (the printer says the gap).
	if uint64(len(got))+dropped < top {
		t.Fatalf("%d infos taken and %d said dropped, of %d exchanges", len(got), dropped, top)
	}
}

// blockingAnalyzer holds the service in Observe until released (a service that fell behind its feeder).
type blockingAnalyzer struct {
	countingAnalyzer
	hold chan struct{}
}

func (a *blockingAnalyzer) Observe(ex *recorder.Exchange) {
	<-a.hold
	a.countingAnalyzer.Observe(ex)
}

// An exchange the service observed but the feeder let go before its info was published (the service fell behind
// by more than the feeder holds: two batches observed at once) is said in Dropped, never left out silently.
func TestLetGoBeforePublishedIsSaid(t *testing.T) {
	hold := make(chan struct{})
	s := New(Options{Saved: true, NewAnalyzer: func(analysis.Options) Analyzer {
		return &blockingAnalyzer{countingAnalyzer: countingAnalyzer{exs: map[uint64]bool{}}, hold: hold}
	}})
	defer s.Close()
	sub := s.Subscribe()
	// The service blocks in the first Observe: the second and third batches are observed at once, and the third
	// lets go of the second's exchanges.
	s.Push(Batch{Epoch: 1, Seq: 1, Exchanges: numbered(1, 1), From: 1})
	s.Push(Batch{Epoch: 1, Seq: 2, Exchanges: numbered(2, 9), From: 2})
	s.Push(Batch{Epoch: 1, Seq: 3, Exchanges: numbered(11, 1), From: 11})
	close(hold)
	got := map[uint64]bool{}
	var m Msg
	for m.Seq != 3 || m.Pending {
		m = next(t, sub)
		for _, in := range m.Infos {
			got[in.ID] = true
		}
	}
	if !got[11] {
		t.Fatal("#11 not said")
	}
	if uint64(len(got))+m.Dropped < 11 {
		t.Fatalf("%d infos and %d said dropped, of 11 exchanges", len(got), m.Dropped)
	}
}

// exchange (none lost, none twice) and the latest report.
func TestSlowSubscriberBlocksNobody(t *testing.T) {
	s := New(Options{Saved: true})
	defer s.Close()
	slow, fast := s.Subscribe(), s.Subscribe()
	exs := analysis.SettleOrder(load(t, "claude-web-legacy"))
	var last Msg
	for i, ex := range exs {
		s.Push(Batch{Epoch: 1, Seq: uint64(i + 1), Exchanges: []*recorder.Exchange{ex}})
		for last = next(t, fast); last.Seq != uint64(i+1); last = next(t, fast) {
		}
	}
	var rep *analysis.Report
	for rep == nil {
		if last.Report != nil {
			rep = last.Report
			break
		}
		last = next(t, fast)
	}
	m, ok := slow.Take()
	if !ok {
		t.Fatal("the slow subscriber has nothing")
	}
	if m.Seq != uint64(len(exs)) || m.Report == nil || !slices.Equal(keys(m.Report.Findings), keys(rep.Findings)) {
		t.Fatalf("the slow subscriber: seq %d, report %v", m.Seq, m.Report != nil)
	}
	ids := map[uint64]int{}
	for _, in := range m.Infos {
		ids[in.ID]++
	}
	for _, ex := range exs {
		if ids[ex.ID] != 1 {
			t.Fatalf("#%d: %d infos", ex.ID, ids[ex.ID])
		}
	}
}

// Follow feeds the service from a store subscription; a missed update is said, and Finish ends with a report.
func TestFollow(t *testing.T) {
	// Each update handed over as it is made: with the publication timer the last few could reach the subscription
	// after Follow has emptied it, and fewer than all but one would be dropped.
	store := recorder.NewStore(recorder.StoreOptions{PublishDelay: -1})
	ssub := store.Subscribe(1)
	exs := analysis.SettleOrder(load(t, "initialize-no-session-id"))
	for _, ex := range exs {
		store.Add(ex) // nobody reads yet: all but one update are dropped
	}
	s := New(Options{})
	defer s.Close()
	sub := s.Subscribe()
	go s.Follow(context.Background(), ssub, store)
	ssub.Close()
	var final Msg
	for !final.Final {
		final = next(t, sub)
	}
	if final.Dropped != uint64(2*len(exs)-1) || final.Report == nil {
		t.Fatalf("final message: dropped %d, report %v", final.Dropped, final.Report != nil)
	}
	<-s.Done()
	if _, ok := sub.Next(context.Background()); ok {
		t.Fatal("a message after the final one")
	}
}

// Follow reads the updates of a busy recorder a batch at a time: it lets them gather in the subscription rather
// than waking (and waking the service, and the service its subscribers) for each. 200 exchanges completed back to
// back, the recorder yielding between them, make a few batches, not one each.
func TestFollowGathersBatches(t *testing.T) {
	store := recorder.NewStore(recorder.StoreOptions{})
	ssub := store.SubscribeWith(recorder.SubscribeOptions{Buffer: 4096, NoBegan: true})
	s := New(Options{})
	defer s.Close()
	sub := s.Subscribe()
	go s.Follow(context.Background(), ssub, store)
	const n = 200
	for i := range n {
		store.Add(&recorder.Exchange{Method: "POST", URL: "/mcp", Status: 200, Start: time.Unix(int64(i), 0).UTC()})
		runtime.Gosched() // the feeder may run here: without the gathering it pushed a batch for nearly every one
	}
	ssub.Close()
	var final Msg
	seen := 0
	for !final.Final {
		final = next(t, sub)
		seen += len(final.Infos)
	}
	if seen != n {
		t.Fatalf("%d exchanges said, want %d", seen, n)
	}
	// final.Seq counts the batches pushed (the last one, at the close, empty).
	if final.Seq > n/10 {
		t.Errorf("%d batches for %d exchanges: Follow woke for each rather than gathering them", final.Seq, n)
	}
	t.Logf("%d batches for %d exchanges", final.Seq, n)
}

// A message put in an empty mailbox hands its infos on as they are (one slice for every subscriber, read only)
// rather than copying them into a slice grown one info at a time; a second message before the first is taken, or a
// prune, copies them first, so that no subscriber writes into another's.
func TestMailboxHandsInfosOnAllocs(t *testing.T) {
	if testkit.Race {
		t.Skip("allocation counts under -race are the race detector's")
	}
	s := New(Options{Saved: true})
	defer s.Close()
	a, b := s.Subscribe(), s.Subscribe()
	infos := make([]Info, 64)
	for i := range infos {
		infos[i] = Info{ID: uint64(i + 1)}
	}
	m := Msg{Epoch: 1, Seq: 1, Infos: infos, From: 1}
	put := func() {
		a.put(m, 1000)
		if got, ok := a.Take(); !ok || len(got.Infos) != len(infos) {
			t.Fatalf("took %d infos", len(got.Infos))
		}
	}
	put() // the mailbox's map of ids grows once
	if n := testing.AllocsPerRun(100, put); n > 0 {
		t.Errorf("%.0f allocations to put and take a message of %d infos, want none", n, len(infos))
	}
	// b holds the shared slice; a newer info of an exchange it holds is written into a copy of its own
	b.put(m, 1000)
	newer := Msg{Epoch: 1, Seq: 2, Infos: []Info{{ID: 1, Info: analysis.Info{Stage: analysis.StageCall}}}, From: 1}
	b.put(newer, 1000)
	got, _ := b.Take()
	if len(got.Infos) != len(infos) || got.Infos[0].Stage != analysis.StageCall || infos[0].Stage != "" {
		t.Fatalf("took %d infos, the first %+v; the message's first %+v", len(got.Infos), got.Infos[0], infos[0])
	}
}

// observeCounter counts the snapshots observed of each exchange.
type observeCounter struct {
	countingAnalyzer
	mu sync.Mutex
	n  map[uint64]int
}

func (a *observeCounter) Observe(ex *recorder.Exchange) {
	a.mu.Lock()
	a.n[ex.ID]++
	a.mu.Unlock()
	a.countingAnalyzer.Observe(ex)
}

// A stream whose progress and completion come in one batch (an answer that took longer than the recorder's publish
// delay) is observed once, completed: the analysis of a serve answering with event streams observed most of them
// twice when the machine was busy.
func TestFollowObservesAStreamOnceABatch(t *testing.T) {
	store := recorder.NewStore(recorder.StoreOptions{})
	ssub := store.SubscribeWith(recorder.SubscribeOptions{Buffer: 64, NoBegan: true})
	rec := recorder.New(store, recorder.Options{PublishDelay: time.Millisecond})
	h := rec.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\n")
		w.(http.Flusher).Flush()
		time.Sleep(20 * time.Millisecond) // the recorder publishes the stream's progress meanwhile
	}))
	for range 3 {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/call"}`)))
	}
	store.Publish() // the last completion waits for the store's publication timer
	if n := len(ssub.C); n != 6 {
		t.Fatalf("%d updates buffered, want each stream's progress and completion", n)
	}
	an := &observeCounter{countingAnalyzer: countingAnalyzer{exs: map[uint64]bool{}}, n: map[uint64]int{}}
	s := New(Options{NewAnalyzer: func(analysis.Options) Analyzer { return an }})
	defer s.Close()
	sub := s.Subscribe()
	go s.Follow(context.Background(), ssub, store) // after the updates: they are read in one batch
	ssub.Close()
	seen := map[uint64]recorder.Exchange{}
	for m := (Msg{}); !m.Final; {
		m = next(t, sub)
		for _, in := range m.Infos {
			seen[in.ID] = *in.Exchange
		}
	}
	an.mu.Lock()
	defer an.mu.Unlock()
	if len(an.n) != 3 || len(seen) != 3 {
		t.Fatalf("observed %v, said %d", an.n, len(seen))
	}
	for id, n := range an.n {
		if n != 1 || seen[id].State != recorder.StateComplete {
			t.Errorf("#%d observed %d times, said %s", id, n, seen[id].State)
		}
	}
}

// Follow lets the service go of what the store evicted by bytes, not only past the store's count: the service
// keeps a snapshot of each exchange held, and with the count alone it kept 100,000 of them (bodies included)
// whatever --max-memory said. An exchange the store evicted before Follow read it is still observed and said.
func TestFollowLetsGoWhatTheStoreEvictedByBytes(t *testing.T) {
	store := recorder.NewStore(recorder.StoreOptions{MaxBytes: 1 << 20})
	ssub := store.Subscribe(4096)
	n := 0
	big := func() *recorder.Exchange {
		n++
		body := make([]byte, 100<<10) // each its own: the store holds equal bodies once
		body[0] = byte(n)
		return &recorder.Exchange{Method: "POST", URL: "http://127.0.0.1/mcp", Status: 200,
			RespBody: recorder.Body{Data: body, Size: 100 << 10}}
	}
	for range 20 {
		store.Add(big()) // before Follow reads: the store keeps about ten
	}
	s := New(Options{})
	defer s.Close()
	sub := s.Subscribe()
	go s.Follow(context.Background(), ssub, store)
	seen := map[uint64]bool{}
	var last Msg
	for len(seen) < 20 {
		last = next(t, sub)
		for _, in := range last.Infos {
			seen[in.ID] = true
		}
	}
	for range 20 {
		id := store.Add(big())
		for !seen[id] {
			last = next(t, sub)
			for _, in := range last.Infos {
				seen[in.ID] = true
			}
		}
	}
	st := store.Stats()
	if st.Evicted < 20 {
		t.Fatalf("the store evicted %d: the test needs it to evict by bytes", st.Evicted)
	}
	// The store may evict at an exchange's completion too (it counts the packed record's slab, not the estimate
	// of its beginning): the batch of that last update brings it, after the one that showed the exchange.
	for oldest := st.Total + 1 - uint64(st.Count); last.From < oldest; {
		last = next(t, sub)
	}
	if oldest := st.Total + 1 - uint64(st.Count); last.From != oldest {
		t.Errorf("the service holds from #%d, the store from #%d", last.From, oldest)
	}
	ssub.Close()
}

// TestCoalesce: a queue the service has fallen behind on is coalesced into the latest snapshot of each exchange
// still held, from the last epoch.
func TestCoalesce(t *testing.T) {
	ex := func(id uint64, state string) *recorder.Exchange {
		return &recorder.Exchange{ID: id, State: state}
	}
	a1, a2, b2, c2, d3 := ex(1, "a"), ex(2, "a"), ex(2, "b"), ex(2, "c"), ex(3, "a")
	q := []Batch{
		{Epoch: 1, Seq: 1, Exchanges: []*recorder.Exchange{a1}},
		{Epoch: 2, Seq: 2, Exchanges: []*recorder.Exchange{a2, ex(1, "z")}, From: 1},
		{Epoch: 2, Seq: 3, Exchanges: []*recorder.Exchange{b2, d3}, From: 2, Force: true},
		{Epoch: 2, Seq: 4, Exchanges: []*recorder.Exchange{c2}, From: 2},
	}
	got, lost := coalesce(q)
	if len(got) != 1 {
		t.Fatalf("%d batches", len(got))
	}
	if lost != 1 { // #1's snapshot z: pushed while held, let go before the service observed it
		t.Fatalf("%d snapshots said lost, want 1", lost)
	}
	j := got[0]
	if j.Epoch != 2 || j.Seq != 4 || j.From != 2 || !j.Force || !slices.Equal(j.Exchanges, []*recorder.Exchange{c2, d3}) {
		t.Fatalf("coalesced: epoch %d seq %d from %d force %v exs %v", j.Epoch, j.Seq, j.From, j.Force, j.Exchanges)
	}
	// The service's queue coalesces itself once it holds more than queueMax snapshots.
	s := &Service{wake: make(chan struct{}, 1)}
	for i := range queueMax + 10 {
		s.Push(Batch{Epoch: 1, Seq: uint64(i + 1), Exchanges: []*recorder.Exchange{ex(7, fmt.Sprint(i))}, From: 1})
	}
	if len(s.queue) > 10 || s.queued > 10 {
		t.Fatalf("the queue holds %d batches, %d snapshots", len(s.queue), s.queued)
	}
}

func hasRule(rep *analysis.Report, rule string) bool {
	for _, f := range rep.Findings {
		if f.Rule == rule {
			return true
		}
	}
	return false
}

// In a live session, a rule about something that never happened (a code never exchanged) is judged by the wall
// clock: the finding shows once its grace has passed, with nothing else arriving.
func TestAbsenceJudgedByTheClockWhileIdle(t *testing.T) {
	exs := load(t, "authorize-no-token")
	last := exs[len(exs)-1]
	var mu sync.Mutex
	now := last.Start.Add(time.Second)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s := New(Options{MinReportEvery: time.Millisecond, Clock: clock, JudgeEvery: 5 * time.Millisecond})
	defer s.Close()
	sub := s.Subscribe()
	s.Push(Batch{Epoch: 1, Seq: 1, Exchanges: exs})
	if first := untilReport(t, sub, map[uint64]Info{}); hasRule(first, "authorize-no-token") {
		t.Fatal("authorize-no-token before its grace passed")
	}
	mu.Lock()
	now = now.Add(time.Minute)
	mu.Unlock()
	for !hasRule(untilReport(t, sub, map[uint64]Info{}), "authorize-no-token") {
	}
}

// A saved capture (no clock) is judged as the live session judged it once the grace had passed: the code never
// exchanged is a finding, as `mcpwatch open --no-tui` and export say.
func TestSavedCaptureJudgedAtItsEnd(t *testing.T) {
	s := New(Options{Saved: true, MinReportEvery: time.Millisecond})
	defer s.Close()
	sub := s.Subscribe()
	s.Push(Batch{Epoch: 1, Seq: 1, Exchanges: load(t, "authorize-no-token")})
	if rep := untilReport(t, sub, map[uint64]Info{}); !hasRule(rep, "authorize-no-token") {
		t.Fatalf("findings of the saved capture: %v", keys(rep.Findings))
	}
}

// While nothing arrives and the clock changes nothing, the service says nothing: the UI does not filter and draw
// again every JudgeEvery for an unchanged report.
func TestIdleClockPublishesOnlyChanges(t *testing.T) {
	exs := load(t, "claude-web-legacy")
	last := exs[len(exs)-1]
	s := New(Options{MinReportEvery: time.Millisecond, Clock: func() time.Time { return last.Start.Add(time.Second) },
		JudgeEvery: 2 * time.Millisecond})
	defer s.Close()
	sub := s.Subscribe()
	s.Push(Batch{Epoch: 1, Seq: 1, Exchanges: exs})
	untilReport(t, sub, map[uint64]Info{})
	idle := time.After(100 * time.Millisecond) // 50 ticks of the clock
	for {
		select {
		case <-sub.Ready():
			if m, ok := sub.Take(); ok {
				t.Fatalf("a message while idle with nothing new (report %v)", m.Report != nil)
			}
		case <-idle:
			return
		}
	}
}

// Analysed answers with what was pushed before the call, observed.
func TestAnalysedSeesWhatWasPushed(t *testing.T) {
	s := New(Options{Saved: true})
	defer s.Close()
	exs := load(t, "initialize-no-session-id")
	s.Push(Batch{Epoch: 1, Seq: 1, Exchanges: analysis.SettleOrder(exs)})
	a, err := s.Analysed([]uint64{exs[0].ID, 999999})
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Infos) != 1 || a.Infos[exs[0].ID].Stage == "" || !hasRule(a.Report, "initialize-no-session-id") {
		t.Fatalf("analysed: %+v, findings %v", a.Infos, keys(a.Report.Findings))
	}
	s.Close()
	if _, err := s.Analysed(nil); err != ErrStopped {
		t.Fatalf("after Close: %v", err)
	}
	// A subscription taken after Close is over at once: Next does not wait for ever.
	if _, ok := s.Subscribe().Next(context.Background()); ok {
		t.Fatal("a message after Close")
	}
}

// A service whose every subscriber reads only findings (the headless printer) publishes reports without
// connections and the same findings a full report has; a subscriber of whole reports beside it gets them whole,
// and Analysed (export) always has the connections.
func TestFindingsSubscribersGetNoConnections(t *testing.T) {
	exs := analysis.SettleOrder(load(t, "initialize-no-session-id"))
	for _, both := range []bool{false, true} {
		t.Run(fmt.Sprintf("with-a-full-subscriber-%v", both), func(t *testing.T) {
			s := New(Options{Saved: true})
			defer s.Close()
			f := s.SubscribeFindings()
			var full *Subscription
			if both {
				full = s.Subscribe()
			}
			s.Push(Batch{Epoch: 1, Seq: 1, Exchanges: exs})
			rep := untilReport(t, f, map[uint64]Info{})
			want := analysis.Analyze(exs, analysis.Options{})
			if len(rep.Findings) == 0 || !slices.Equal(keys(rep.Findings), keys(want.Findings)) {
				t.Fatalf("findings %v, want %v", keys(rep.Findings), keys(want.Findings))
			}
			if both != (len(rep.Connections) == len(want.Connections)) || !both && len(rep.Connections) != 0 {
				t.Fatalf("%d connections in the report (a full subscriber too: %v), want %d or none", len(rep.Connections), both, len(want.Connections))
			}
			if full != nil {
				if r := untilReport(t, full, map[uint64]Info{}); len(r.Connections) != len(want.Connections) {
					t.Fatalf("the full subscriber got %d connections, want %d", len(r.Connections), len(want.Connections))
				}
			}
			an, err := s.Analysed(nil)
			if err != nil || len(an.Report.Connections) != len(want.Connections) {
				t.Fatalf("Analysed: %d connections (%v), want %d", len(an.Report.Connections), err, len(want.Connections))
			}
		})
	}
}
