package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/recorder/analysis"
	"github.com/mcpwatch/mcpwatch/recorder/compare"
)

// errDiffer is two captures that differ: exit code 1, as diff(1) (run prints it).
var errDiffer = errors.New("the captures differ")

// cmdDiff compares two captures connection by connection (recorder/compare); this file only wires flags.
func cmdDiff(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("diff", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: mcpwatch diff A.jsonl B.jsonl\n\nCompare two captures connection by connection: stages, what changed in each exchange, findings.\nExit status 0: no difference, 1: differences, 2: trouble.\n")
		fs.PrintDefaults()
	}
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		fmt.Fprintln(stderr, "mcpwatch diff: give two capture files (mcpwatch diff yesterday.jsonl today.jsonl)")
		return errUsage
	}
	var sides [2]*compare.Side
	for i, p := range pos {
		res, err := recorder.LoadCapture(p)
		if err != nil {
			return err
		}
		sides[i] = compare.Load(res.Exchanges, analysis.Options{})
	}
	fmt.Fprintf(stdout, "A: %s\nB: %s\n", pos[0], pos[1])
	if compare.Write(stdout, sides[0], sides[1]) {
		return errDiffer
	}
	return nil
}
