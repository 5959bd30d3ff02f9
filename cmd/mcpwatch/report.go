package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/mcpwatch/mcpwatch/internal/version"
	"github.com/mcpwatch/mcpwatch/recorder/bugreport"
)

func newReportCmd() *cobra.Command {
	var conn string
	var refs []string
	c := &cobra.Command{
		Use:   "report CAPTURE [--connection cN] [--ref URL]",
		Short: "a redacted bug report of one connection, shaped like the Claude connector bug form",
		Long: `Write a redacted bug report (Markdown) of one connection of a capture, shaped like the Claude connector bug form:
server URL, where it fails, transport, registration type, UTC times, the reference ids the client showed, and the
transcript.`,
		RunE: func(c *cobra.Command, args []string) error {
			return cmdReport(c.Context(), args, conn, refs, c.OutOrStdout(), c.ErrOrStderr())
		},
	}
	fs := flagSet(c)
	fs.StringVar(&conn, "connection", "", "the `connection` to report (c1, c2, …; default: the first that failed, else the last)")
	fs.StringArrayVar(&refs, "ref", nil, "a `URL` the client showed (its error page or callback, with flow_id=ofid_… or error_code=…); repeatable")
	return c
}

// cmdReport writes a redacted bug report of one connection (recorder/bugreport); this file only wires flags.
func cmdReport(_ context.Context, pos []string, conn string, refs []string, stdout, stderr io.Writer) error {
	if len(pos) != 1 {
		fmt.Fprintln(stderr, "mcpwatch report: give one capture file")
		return errUsage
	}
	res, path, notes, err := loadCapture(pos[0], os.Stdin)
	if err != nil {
		return err
	}
	for _, n := range notes {
		fmt.Fprintf(stderr, "mcpwatch report: %s: %s\n", path, n)
	}
	return bugreport.Write(stdout, res.Exchanges, bugreport.Options{Connection: conn, Refs: refs, Version: version.String()})
}
