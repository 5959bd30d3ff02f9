package tui

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/mcpwatch/mcpwatch/recorder"
)

// sliceExporter is an Exporter that reads every exchange once and gives them to f all at once, as the tests'
// exporters take them.
func sliceExporter(f func(format, path string, exs []*recorder.Exchange) error) Exporter {
	return func(format, path string, ids []uint64, get func(uint64) *recorder.Exchange, _ func(ExportProgress)) (ExportResult, error) {
		var res ExportResult
		var exs []*recorder.Exchange
		for _, id := range ids {
			ex := get(id)
			if ex == nil {
				res.Forgotten++
				continue
			}
			for _, n := range ex.Notes {
				if n.Key == recorder.NoteBody {
					res.Unread++
				}
			}
			exs = append(exs, ex)
		}
		res.Written = len(exs)
		return res, f(format, path, exs)
	}
}

// An export that takes a while says how far it got in the prompt, redrawn at each tick while it writes.
func TestExportShowsProgress(t *testing.T) {
	release := make(chan struct{})
	exporter := func(_, _ string, ids []uint64, _ func(uint64) *recorder.Exchange, progress func(ExportProgress)) (ExportResult, error) {
		progress(ExportProgress{Pass: 2, Passes: 3, Done: 1000, Total: 4000})
		<-release
		return ExportResult{Written: len(ids)}, nil
	}
	h := newHarness(t, 120, 30, doneScript(), func(c *Config) { c.Exporter = exporter })
	h.feed(recorder.Completed, handshake()[:2]...)
	h.press("e", "ctrl+u")
	h.typeText(filepath.Join(t.TempDir(), "out.jsonl"))
	batch, ok := h.press("enter")().(tea.BatchMsg)
	if !ok || len(batch) != 2 {
		t.Fatalf("enter: %T, want the export and its tick", batch)
	}
	msgs := make(chan tea.Msg, len(batch))
	for _, c := range batch {
		go func() { msgs <- c() }()
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, ok := h.m.exportP.prog.get(); !ok; _, ok = h.m.exportP.prog.get() {
		if time.Now().After(deadline) {
			t.Fatal("the exporter said nothing of its progress")
		}
		time.Sleep(time.Millisecond)
	}
	tick := <-msgs // the export waits for release: the tick comes first
	if _, ok := tick.(exportTickMsg); !ok {
		t.Fatalf("first message %T, want the tick", tick)
	}
	if h.send(tick) == nil {
		t.Error("the tick is not armed again while the export writes")
	}
	if s := h.screen(); !strings.Contains(s, "writing… 1000 of 4000 read (pass 2 of 3)") {
		t.Fatalf("the prompt does not say how far the export got:\n%s", s)
	}
	close(release)
	h.send(<-msgs)
	if s := h.screen(); !strings.Contains(s, "saved 2 exchanges") {
		t.Fatalf("no confirmation:\n%s", s)
	}
	if h.send(tick) != nil {
		t.Error("the tick is armed again after the export ended")
	}
}
