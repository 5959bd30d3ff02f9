package app

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/mcpwatch/mcpwatch/internal/version"
	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/recorder/analysis/live"
	"github.com/mcpwatch/mcpwatch/tui"
)

// openMaxBytes is the store's byte bound for a saved capture.
const openMaxBytes = 512 << 20

// OpenSaved shows a saved capture (`mcpwatch open`) in the TUI, read-only: toggles are off, export and copy work.
// path names the capture in the header; notes say something about it (a torn last line skipped, ...).
func OpenSaved(ctx context.Context, exs []*recorder.Exchange, path string, notes []string) error {
	// Everything the capture holds, up to the count bound, is loaded: the exchanges are in memory already, read
	// whole, and the store keeps them packed in less (its byte bound is the old default's 512 MiB: no recording
	// goes on beside it). The TUI lists the newest 100,000 of them; its export writes them all.
	limits := recorder.StoreOptions{MaxCount: max(len(exs), recorder.DefaultStoreMaxCount), MaxBytes: openMaxBytes}
	store := recorder.NewStore(limits)
	for _, ex := range exs {
		store.Add(ex)
	}
	if st := store.Stats(); st.Evicted > 0 {
		notes = append(notes, fmt.Sprintf("the oldest %d exchanges are not shown (memory bound)", st.Evicted))
	}
	wd, _ := os.Getwd()
	// The capture's one analysis: the TUI feeds it and shows it, its export writes it; judged at the capture's end.
	svc := live.New(live.Options{Saved: true})
	defer svc.Close()
	return tui.Run(ctx, tui.Config{
		Store:         store,
		Limits:        limits,
		Service:       svc,
		Version:       version.String(),
		ReadOnly:      true,
		Source:        path,
		SourceNote:    strings.Join(notes, "; "),
		Exporter:      exportForTUI(svc),
		ExportFormats: exportFormatsForTUI(),
		ExportNote:    exportNoteForTUI,
		WorkDir:       wd,
	})
}
