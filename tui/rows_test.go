package tui

import (
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/recorder/analysis"
)

// TestRowsHoldNoPointers: a row is a value without pointers (so it keeps no store record alive and the garbage
// collector never scans the rows), and nothing the flow view holds can reach a *recorder.Exchange: the rows keep
// ids and ask the store for the rest.
func TestRowsHoldNoPointers(t *testing.T) {
	rt := reflect.TypeFor[row]()
	for i := range rt.NumField() {
		f := rt.Field(i)
		switch f.Type.Kind() {
		case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		default:
			t.Errorf("row.%s is a %s: a row holds numbers only", f.Name, f.Type)
		}
	}
	if size := rt.Size(); size > 64 {
		t.Errorf("a row is %d bytes, want at most 64 (a filter pass reads every row)", size)
	}
	exType := reflect.TypeFor[*recorder.Exchange]()
	if path, ok := reaches(reflect.TypeFor[flowView](), exType, "flowView", map[reflect.Type]bool{}); ok {
		t.Errorf("the flow view can hold a *recorder.Exchange: %s", path)
	}
}

// reaches reports whether a value of type t can hold a value of type target, and through which fields.
func reaches(t, target reflect.Type, path string, seen map[reflect.Type]bool) (string, bool) {
	if t == target {
		return path, true
	}
	if seen[t] {
		return "", false
	}
	seen[t] = true
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Array, reflect.Chan:
		return reaches(t.Elem(), target, path+"[]", seen)
	case reflect.Map:
		if p, ok := reaches(t.Key(), target, path+"{key}", seen); ok {
			return p, true
		}
		return reaches(t.Elem(), target, path+"{}", seen)
	case reflect.Struct:
		for i := range t.NumField() {
			f := t.Field(i)
			if p, ok := reaches(f.Type, target, path+"."+f.Name, seen); ok {
				return p, true
			}
		}
	case reflect.Func, reflect.Interface:
		// A function or an interface could hold anything: the flow view has none that holds an exchange (this
		// walk would have to be told of one).
	}
	return "", false
}

// TestRowsLetTheExchangesGo: once nothing but the rows refers to the exchanges they show (the store forgot them:
// the TUI learns of it later, or evicts by its own count), their memory is freed: the rows keep no record of the
// store's, and their texts are copies (a URL or an error that is a piece of a record's memory would keep all of
// it).
func TestRowsLetTheExchangesGo(t *testing.T) {
	const n, size = 200, 64 << 10
	before := heapNow()
	exs := make([]*recorder.Exchange, n)
	us := make([]recorder.Update, n)
	for i := range exs {
		data := make([]byte, size)
		for j := range data {
			data[j] = byte('a' + (i+j)%26)
		}
		copy(data, "/mcp?n="+itoa(i+1)+"&")
		slab := string(data) // a record's memory: its texts are pieces of it
		ex := mk(uint64(i+1), time.Duration(i)*time.Millisecond, time.Millisecond, "POST", slab[:16], listReq, 200, "")
		ex.Error = slab[16:40]
		ex.RespBody = recorder.Body{Data: data, Size: int64(size)}
		exs[i], us[i] = ex, recorder.Update{Kind: recorder.Completed, Exchange: ex}
	}
	d := newFlowView(recorder.StoreOptions{}, analysis.Options{})
	var fed []*recorder.Exchange
	ignore := false
	d.apply(us, &ignore, &fed)
	fed = nil // handed to the analysis service, as flushAnalysis does
	if d.len() != n {
		t.Fatalf("%d rows, want %d", d.len(), n)
	}
	if held := int64(heapNow()) - int64(before); held < 2*n*size {
		t.Fatalf("the exchanges hold %d bytes, less than their %d bytes: the measurement is off", held, 2*n*size)
	}
	clear(exs) // the store forgets them
	clear(us)
	if kept := int64(heapNow()) - int64(before); kept > n*size/10 {
		t.Errorf("the rows keep %d bytes of the %d the exchanges held (%d rows)", kept, 2*n*size, d.len())
	}
	if d.len() != n || !strings.HasPrefix(d.text(&d.rows[n-1]).url, "/mcp?n=200&") {
		t.Fatalf("%d rows, the last %q", d.len(), d.text(&d.rows[n-1]).url)
	}
	runtime.KeepAlive(d)
	runtime.KeepAlive(fed)
}

// TestForgottenExchange: a row whose exchange the store has forgotten (here cleared behind the TUI's back, before
// its Cleared update arrived) says so in the detail pane, copies nothing, and is left out of an export, said so;
// the other rows still show in full.
func TestForgottenExchange(t *testing.T) {
	var mu sync.Mutex
	var written []uint64
	exporter := func(_, path string, exs []*recorder.Exchange) error {
		mu.Lock()
		defer mu.Unlock()
		for _, ex := range exs {
			written = append(written, ex.ID)
		}
		return os.WriteFile(path, []byte("x"), 0o600)
	}
	h := newHarness(t, 160, 40, doneScript(), func(c *Config) { c.Exporter = sliceExporter(exporter) })
	for _, ex := range handshake()[:3] {
		h.store.Add(ex)
	}
	h.send(resyncMsg{exchanges: h.store.Snapshot()})
	h.press("enter")
	if s := h.screen(); !strings.Contains(s, "#3 GET /.well-known/oauth-authorization-server") || !strings.Contains(s, "Host: 127.0.0.1:4000") {
		t.Fatalf("#3 is not shown in full:\n%s", s)
	}
	h.store.Clear()
	for _, ex := range handshake()[3:5] {
		h.store.Add(ex) // #4 and #5: the store holds these
	}
	h.feed(recorder.Completed, h.store.Snapshot()...)
	h.press("esc", "k", "k", "enter") // #3, which the TUI shows and the store forgot
	s := h.screen()
	if !strings.Contains(s, "#3 GET /.well-known/oauth-authorization-server") || !strings.Contains(s, "#3 is no longer in memory: the store forgot it") {
		t.Fatalf("the forgotten exchange is not said so:\n%s", s)
	}
	if strings.Contains(s, "Host: 127.0.0.1:4000") {
		t.Fatalf("the forgotten exchange shows headers:\n%s", s)
	}
	for range tabCount { // every tab says it
		h.press("tab")
		if s := h.screen(); !strings.Contains(s, "#3 is no longer in memory") {
			t.Fatalf("tab %v:\n%s", h.m.detail.tab, s)
		}
	}
	h.press("c")
	if s := h.screen(); !strings.Contains(s, "nothing to copy: #3 is no longer in memory") {
		t.Fatalf("copy of a forgotten exchange:\n%s", s)
	}
	h.press("esc", "j", "enter")
	if s := h.screen(); !strings.Contains(s, "#4 POST /register") || !strings.Contains(s, "Host: 127.0.0.1:4000") {
		t.Fatalf("#4, which the store holds, is not shown in full:\n%s", s)
	}
	h.press("esc", "e", "ctrl+u")
	path := filepath.Join(t.TempDir(), "out.jsonl")
	h.typeText(path)
	h.run(h.press("enter"))
	mu.Lock()
	got := append([]uint64(nil), written...)
	mu.Unlock()
	if len(got) != 2 || got[0] != 4 || got[1] != 5 {
		t.Fatalf("exported %v, want [4 5]", got)
	}
	if s := h.screen(); !strings.Contains(s, "saved 2 exchanges to "+path+" (jsonl); left out 3 the store had forgotten") {
		t.Fatalf("the export does not say what it left out:\n%s", s)
	}
}

// TestRowsKeepTheirOwnWindow: the list holds the newest MaxRows rows whatever the store holds (its count bound is
// 1,000,000: a filter pass over that many rows would take ten times the 5 ms a keystroke may take); the rows it let
// go are counted in the header, and an export of the unfiltered list still writes every exchange the store holds.
// Here the window is 10 rows (Limits.MaxCount below it) and the store holds 30.
func TestRowsKeepTheirOwnWindow(t *testing.T) {
	if d := newFlowView(recorder.StoreOptions{MaxCount: recorder.DefaultStoreMaxCount}, analysis.Options{}); d.limits.MaxCount != MaxRows || MaxRows > 100_000 {
		t.Fatalf("the rows' window is %d with the store's %d", d.limits.MaxCount, recorder.DefaultStoreMaxCount)
	}
	var mu sync.Mutex
	var written []uint64
	exporter := func(_, path string, exs []*recorder.Exchange) error {
		mu.Lock()
		defer mu.Unlock()
		written = written[:0]
		for _, ex := range exs {
			written = append(written, ex.ID)
		}
		return os.WriteFile(path, []byte("x"), 0o600)
	}
	h := newHarness(t, 160, 40, doneScript(), func(c *Config) {
		c.Exporter = sliceExporter(exporter)
		c.Limits = recorder.StoreOptions{MaxCount: 10}
	})
	tmpl := handshake()
	for i := range 30 {
		ex := *tmpl[i%len(tmpl)]
		h.store.Add(&ex)
	}
	h.feed(recorder.Completed, h.store.Snapshot()...)
	d := h.m.flow
	if d.len() != 10 || d.rows[0].id != 21 || d.evicted != 20 {
		t.Fatalf("the list holds %d rows from #%d, %d let go; want the newest 10", d.len(), d.rows[0].id, d.evicted)
	}
	if s := h.screen(); !strings.Contains(s, "10 exchanges (20 older let go)") {
		t.Fatalf("the header does not count the rows let go:\n%s", s)
	}
	export := func() []uint64 {
		h.press("e", "ctrl+u")
		path := filepath.Join(t.TempDir(), "out.jsonl")
		h.typeText(path)
		h.run(h.press("enter"))
		mu.Lock()
		defer mu.Unlock()
		return append([]uint64(nil), written...)
	}
	h.press("e")
	if s := h.screen(); !strings.Contains(s, "Write 30 exchanges (all the store holds: 20 older than the list)") {
		t.Fatalf("the prompt does not say what it writes:\n%s", s)
	}
	h.press("esc")
	if got := export(); len(got) != 30 || got[0] != 1 || got[29] != 30 {
		t.Fatalf("exported %v, want #1–#30", got)
	}
	h.press("/")
	h.typeText("stage:call")
	h.press("enter")
	if got := export(); len(got) == 0 || got[0] < 21 {
		t.Fatalf("a filtered export wrote %v: only the listed rows the filter shows", got)
	}
}

// TestRowsFollowTheStore: fed by a store, the list holds what the store holds (up to its own window), no less: the
// store's byte bound counts what it really holds (packed records), not Exchange.Size's estimate (about 3.5 times
// more for a small exchange), so a list that mirrored the bound with the estimate let go of rows the store still
// held (at the default --max-memory, 77,000 tools/calls of the store's 270,000: fewer than its window). Updates of
// exchanges the store let go while they were in flight add no row.
func TestRowsFollowTheStore(t *testing.T) {
	const bound = 256 << 10
	h := newHarness(t, 160, 40, doneScript(), func(c *Config) {
		c.Store = recorder.NewStore(recorder.StoreOptions{MaxBytes: bound})
		c.Limits = recorder.StoreOptions{MaxBytes: bound}
	})
	h.store = h.m.cfg.Store
	h.m.flow.oldest = storeOldest(h.store)
	h.fed = newFedStore(h.store)
	h.m.ctx.exchange = h.fed.get
	tmpl := handshake()
	var estimate int64
	var updates []recorder.Update
	const n = 6000 // with 80-byte records the store held all of 2,000
	for i := range n {
		ex := *tmpl[i%len(tmpl)]
		id := h.store.Add(&ex)
		estimate += ex.Size()
		updates = append(updates, recorder.Update{Kind: recorder.Completed, Exchange: h.store.Get(id)})
	}
	st := h.store.Stats()
	if st.Evicted == 0 || estimate/n*int64(st.Count) <= bound {
		t.Fatalf("the store holds %d of %d (estimate %d B each): the bound does not show the difference", st.Count, n, estimate/n)
	}
	h.send(updatesMsg{updates: updates})
	d := h.m.flow
	if d.len() != st.Count || d.rows[0].id != st.Total-uint64(st.Count)+1 || d.evicted != st.Evicted {
		t.Fatalf("the list holds %d rows from #%d (%d let go); the store %d from #%d (%d let go)",
			d.len(), d.rows[0].id, d.evicted, st.Count, st.Total-uint64(st.Count)+1, st.Evicted)
	}
	// A late update of an exchange the store let go (it completed while in flight, after its eviction).
	old := *tmpl[0]
	old.ID = 1
	h.feed(recorder.Completed, &old)
	if d.len() != st.Count || d.rows[0].id == 1 {
		t.Fatalf("a late update of #1, which the store let go, added a row: %d rows from #%d", d.len(), d.rows[0].id)
	}
}

// A resync (after the subscription dropped updates) reads only the newest exchanges the rows' window keeps, not
// all the store holds (up to ten times more at the default bound), and the list is what it was fed that way.
func TestResyncReadsOnlyTheWindow(t *testing.T) {
	h := newHarness(t, 160, 40, doneScript(), func(c *Config) {
		c.Limits = recorder.StoreOptions{MaxCount: 10}
	})
	h.m.flow.oldest = storeOldest(h.store) // as New sets it: the rows follow the store
	tmpl := handshake()
	for i := range 30 {
		ex := *tmpl[i%len(tmpl)]
		h.store.Add(&ex)
	}
	msg, ok := resyncFrom(h.store, h.m.flow.limits.MaxCount)().(resyncMsg)
	if !ok || len(msg.exchanges) != 10 || msg.exchanges[0].ID != 21 || msg.exchanges[9].ID != 30 {
		t.Fatalf("a resync read %d exchanges (want the newest 10 of the store's 30)", len(msg.exchanges))
	}
	h.send(msg)
	if d := h.m.flow; d.len() != 10 || d.rows[0].id != 21 || d.evicted != 20 {
		t.Fatalf("after the resync the list holds %d rows from #%d, %d let go; want the newest 10", d.len(), d.rows[0].id, d.evicted)
	}
}
