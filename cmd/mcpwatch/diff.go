package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/mcpwatch/mcpwatch/recorder/analysis"
	"github.com/mcpwatch/mcpwatch/recorder/compare"
)

// errDiffer is two captures that differ: exit code 1, as diff(1) (run prints it).
var errDiffer = errors.New("the captures differ")

func newDiffCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "diff A B",
		Short: "compare two captures connection by connection (exit 1 when they differ)",
		Long: `Compare two captures connection by connection: the stage sequence, what changed in each exchange (status, the
headers and JSON members that matter to the handshake), and the findings. Exit status 0: no difference; 1: the
captures differ, or one cannot be read; 2: a usage mistake.`,
		RunE: func(c *cobra.Command, args []string) error {
			return cmdDiff(c.Context(), args, c.OutOrStdout(), c.ErrOrStderr())
		},
	}
}

// cmdDiff compares two captures connection by connection (recorder/compare); this file only wires flags.
func cmdDiff(_ context.Context, pos []string, stdout, stderr io.Writer) error {
	if len(pos) != 2 {
		fmt.Fprintln(stderr, "mcpwatch diff: give two capture files (mcpwatch diff yesterday.jsonl today.jsonl)")
		return errUsage
	}
	var sides [2]*compare.Side
	for i, p := range pos {
		res, _, notes, err := loadCapture(p, os.Stdin)
		if err != nil {
			return err
		}
		for _, n := range notes {
			fmt.Fprintf(stderr, "mcpwatch diff: %s: %s\n", p, n)
		}
		sides[i] = compare.Load(res.Exchanges, analysis.Options{})
	}
	fmt.Fprintf(stdout, "A: %s\nB: %s\n", pos[0], pos[1])
	if compare.Write(stdout, sides[0], sides[1]) {
		return errDiffer
	}
	return nil
}
