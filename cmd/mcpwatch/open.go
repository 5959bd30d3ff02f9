package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/mcpwatch/mcpwatch/internal/version"
	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/recorder/headless"
	"github.com/mcpwatch/mcpwatch/tui"
)

// cmdOpen shows a saved capture in the TUI, read-only: toggles are off, export and copy work. When stdout is not
// a terminal (or with --no-tui) it prints the capture as `serve --no-tui` prints a live run: one line per exchange
// with its stage, client and connection, and the findings.
func cmdOpen(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("open", flag.ContinueOnError)
	fs.SetOutput(stderr)
	noTUI := fs.Bool("no-tui", false, "print one line per exchange with its stage, client and connection, and the findings, instead of the TUI (also when stdout is not a terminal)")
	asJSON := fs.Bool("json", false, "with --no-tui: print JSON lines, as serve --json does")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: mcpwatch open CAPTURE [--no-tui] [--json]\n\nOpen a saved capture (JSONL) read-only.\n\n")
		fs.PrintDefaults()
	}
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fmt.Fprintln(stderr, "mcpwatch open: give one capture file (e.g. mcpwatch open ~/.local/state/mcpwatch/captures/….jsonl)")
		return errUsage
	}
	path := pos[0]
	res, err := recorder.LoadCapture(path)
	if err != nil {
		return err
	}
	var notes []string
	if res.TornTail {
		notes = append(notes, "the torn last line was skipped")
	}
	if len(res.Skipped) > 0 {
		notes = append(notes, fmt.Sprintf("%d unreadable lines skipped (line %d first)", len(res.Skipped), res.Skipped[0]))
	}

	if *noTUI || !isTerminal(stdout) {
		for _, n := range notes {
			fmt.Fprintf(stderr, "mcpwatch open: %s: %s\n", path, n)
		}
		// The same printer and analysis as serve --no-tui.
		return headless.Print(stdout, res.Exchanges, headless.Options{JSON: *asJSON})
	}

	limits := recorder.StoreOptions{MaxCount: max(len(res.Exchanges), 100000)}
	store := recorder.NewStore(limits)
	for _, ex := range res.Exchanges {
		store.Add(ex)
	}
	if st := store.Stats(); st.Evicted > 0 {
		notes = append(notes, fmt.Sprintf("the oldest %d exchanges are not shown (memory bound)", st.Evicted))
	}
	wd, _ := os.Getwd()
	return tui.Run(ctx, tui.Config{
		Store:         store,
		Limits:        limits,
		Version:       version.String(),
		ReadOnly:      true,
		Source:        path,
		SourceNote:    strings.Join(notes, "; "),
		Exporter:      exportForTUI,
		ExportFormats: exportFormatsForTUI,
		ExportNote:    exportNoteForTUI,
		WorkDir:       wd,
	})
}
