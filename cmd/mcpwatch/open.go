package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/mcpwatch/mcpwatch/app"
	"github.com/mcpwatch/mcpwatch/recorder/headless"
)

// cmdOpen shows a saved capture in the TUI, read-only: toggles are off, export and copy work. When stdout is not
// a terminal (or with --no-tui) it prints the capture as `serve --no-tui` prints a live run: one line per exchange
// with its stage, client and connection, and the findings.
func newOpenCmd() *cobra.Command {
	var noTUI, asJSON bool
	c := &cobra.Command{
		Use:   "open CAPTURE [--no-tui] [--json]",
		Short: "review a saved capture (JSONL) in the TUI, read-only",
		Long: `Open a saved capture (JSONL, as serve and proxy write it) read-only: the TUI with toggles off, export and copy
working. When stdout is not a terminal (or with --no-tui) it prints one line per exchange, as serve --no-tui does.`,
		RunE: func(c *cobra.Command, args []string) error {
			return cmdOpen(c.Context(), args, noTUI, asJSON, c.OutOrStdout(), c.ErrOrStderr())
		},
	}
	fs := flagSet(c)
	fs.BoolVar(&noTUI, "no-tui", false, "print one line per exchange with its stage, client and connection, and the findings, instead of the TUI (also when stdout is not a terminal)")
	fs.BoolVar(&asJSON, "json", false, "with --no-tui: print JSON lines, as serve --json does")
	return c
}

func cmdOpen(ctx context.Context, pos []string, noTUI, asJSON bool, stdout, stderr io.Writer) error {
	if len(pos) != 1 {
		fmt.Fprintln(stderr, "mcpwatch open: give one capture file (e.g. mcpwatch open ~/.local/state/mcpwatch/captures/….jsonl)")
		return errUsage
	}
	res, path, notes, err := loadCapture(pos[0], os.Stdin)
	if err != nil {
		return err
	}

	if noTUI || !app.IsTerminal(stdout) {
		for _, n := range notes {
			fmt.Fprintf(stderr, "mcpwatch open: %s: %s\n", path, n)
		}
		// The same printer and analysis as serve --no-tui.
		return headless.Print(stdout, res.Exchanges, headless.Options{JSON: asJSON})
	}

	return app.OpenSaved(ctx, res.Exchanges, path, notes)
}
