package analysis

import (
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/mcpwatch/mcpwatch/recorder"
)

// The analyzer keeps a record of at most MaxExchanges exchanges: the oldest completed ones are forgotten (Info no
// longer knows them), an exchange still open is kept, and connections and findings stay.
func TestMaxExchanges(t *testing.T) {
	a := New(Options{MaxExchanges: 10})
	open := newEx(1, "GET", "/mcp").req("Mcp-Session-Id", "s1").pending()
	a.Observe(open.ex)
	for id := uint64(2); id <= 500; id++ {
		a.Observe(newEx(id, "POST", "/mcp").req("Mcp-Session-Id", "s1").req("Mcp-Protocol-Version", "2025-11-25").
			body("application/json", rpc(int(id), "tools/call")).
			answer(200, "application/json", fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"result":{"content":[]}}`, id)).ex)
		if a.exs.len() > 10 {
			t.Fatalf("after exchange %d: %d records kept", id, a.exs.len())
		}
	}
	if len(a.order)-a.head > 2*10+1024 {
		t.Errorf("the queue of ids grows: %d", len(a.order)-a.head)
	}
	if in := a.Info(500); in.Stage != StageCall || in.Connection == "" {
		t.Errorf("newest exchange: %+v", in)
	}
	if in := a.Info(2); in.Stage != "" {
		t.Errorf("oldest completed exchange still known: %+v", in)
	}
	if in := a.Info(1); in.Stage == "" || in.Status != StatusPending {
		t.Errorf("the open stream was forgotten: %+v", in)
	}
	done := *open.ex
	done.State, done.Status = recorder.StateComplete, 200
	done.Timings.Total = time.Minute
	done.RespHeaders = recorder.Headers{{Name: "Content-Type", Value: "text/event-stream"}}
	a.Observe(&done)
	if in := a.Info(1); in.Stage != StageStream || in.Status == StatusPending {
		t.Errorf("the stream's end: %+v", in)
	}
	rep := a.Report()
	if len(rep.Connections) != 1 {
		t.Fatalf("%d connections", len(rep.Connections))
	}
	a.Reset()
	if a.exs.len() != 0 || len(a.order) != 0 {
		t.Error("Reset kept records")
	}
}

// The analysis keeps a window of its own (DefaultWindow), whatever the store holds: fed five windows' worth of
// exchanges (sessions of tools/calls, as script/bench's memory group records them), its live heap is what it was
// after one window, while a store would hold five times as many (its count bound is 1,000,000). Before the window,
// the analysis kept as many records as the store's count bound (100,000 then): five times the heap here.
func TestWindowBoundsHeldBytes(t *testing.T) {
	if testing.Short() {
		t.Skip("feeds 100,000 exchanges")
	}
	a := New(Options{})
	var id uint64
	start := t0
	feed := func(n int) {
		for k := 0; int(id) < n; k++ {
			for _, ex := range synthRun(int(id), &id, start, 89) {
				began := *ex
				began.State, began.Status, began.RespHeaders, began.RespBody, began.RPC = recorder.StatePending, 0, nil, recorder.Body{}, nil
				a.Observe(&began)
				a.Observe(ex)
			}
			start = start.Add(10 * time.Minute)
		}
	}
	base := liveHeap()
	feed(DefaultWindow)
	_ = a.Report()
	one := liveHeap() - base
	feed(5 * DefaultWindow)
	_ = a.Report()
	five := liveHeap() - base
	t.Logf("held after %d exchanges: %d B (%.0f B an exchange); after %d: %d B", DefaultWindow, one,
		float64(one)/DefaultWindow, id, five)
	if a.exs.len() > DefaultWindow {
		t.Errorf("%d records kept, window %d", a.exs.len(), DefaultWindow)
	}
	if float64(five) > 1.25*float64(one) {
		t.Errorf("the analysis' heap grew from %d B at one window to %d B at five", one, five)
	}
	runtime.KeepAlive(a)
}

// An exchange's record fits 56 bytes and holds no pointer (its connection and memo by slot, its start as an
// instant, its era as a code: 80 bytes with four pointers before, one object the collector marked per exchange
// held), and keeps every stage, status and era as it was set — an era that is a piece of the exchange's note
// without keeping the note.
func TestExRecIsSmall(t *testing.T) {
	if n := unsafe.Sizeof(exRec{}); n > 56 {
		t.Errorf("exRec is %d bytes", n)
	}
	if p := pointerFields(reflect.TypeFor[exRec]()); len(p) > 0 {
		t.Errorf("exRec holds pointers: %v", p)
	}
	a := New(Options{})
	var r exRec
	r.id = 7
	if r.stage() != "" || r.status() != "" || a.recEra(&r) != "" {
		t.Errorf("a new record: stage %q, status %q, era %q", r.stage(), r.status(), a.recEra(&r))
	}
	note := strings.Repeat("x", 4096)
	for _, era := range []string{"legacy", "2026", note[:7], "", note[:9]} {
		a.setEra(&r, era)
		if a.recEra(&r) != era {
			t.Errorf("era %q kept as %q", era, a.recEra(&r))
		}
	}
	if len(a.odd) != 1 {
		t.Errorf("%d unusual eras kept for one record", len(a.odd))
	}
	a.setEra(&r, note[:7])
	if unsafe.StringData(a.recEra(&r)) == unsafe.StringData(note) {
		t.Error("the era refers to the note's bytes")
	}
	a.setEra(&r, "legacy")
	if len(a.odd) != 0 {
		t.Errorf("%d unusual eras kept after the record's era became legacy", len(a.odd))
	}
	for _, st := range stageOrder {
		r.setStage(st)
		if r.stage() != st {
			t.Errorf("stage %q kept as %q", st, r.stage())
		}
	}
	for _, s := range statuses {
		r.setStatus(s)
		if r.status() != s {
			t.Errorf("status %q kept as %q", s, r.status())
		}
	}
}

// pointerFields lists the fields of t (a struct, arrays and structs within it) that hold pointers.
func pointerFields(t reflect.Type) []string {
	var out []string
	var walk func(t reflect.Type, path string)
	walk = func(t reflect.Type, path string) {
		switch t.Kind() {
		case reflect.Struct:
			for i := range t.NumField() {
				walk(t.Field(i).Type, path+"."+t.Field(i).Name)
			}
		case reflect.Array:
			walk(t.Elem(), path+"[]")
		case reflect.Pointer, reflect.Map, reflect.Slice, reflect.String, reflect.Interface, reflect.Chan,
			reflect.Func, reflect.UnsafePointer:
			out = append(out, path+" ("+t.String()+")")
		}
	}
	walk(t, "")
	return out
}
