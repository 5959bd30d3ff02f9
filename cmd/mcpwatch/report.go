package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/recorder/bugreport"
)

// refList is a repeatable --ref.
type refList []string

func (r *refList) String() string     { return strings.Join(*r, " ") }
func (r *refList) Set(v string) error { *r = append(*r, v); return nil }

// cmdReport writes a redacted bug report of one connection (recorder/bugreport); this file only wires flags.
func cmdReport(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	conn := fs.String("connection", "", "the `connection` to report (c1, c2, …; default: the first that failed, else the last)")
	var refs refList
	fs.Var(&refs, "ref", "a `URL` the client showed (its error page or callback, with flow_id=ofid_… or error_code=…); repeatable")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: mcpwatch report CAPTURE [--connection cN] [--ref URL]\n\nWrite a redacted bug report (Markdown) shaped like the Claude connector bug form.\n\n")
		fs.PrintDefaults()
	}
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fmt.Fprintln(stderr, "mcpwatch report: give one capture file")
		return errUsage
	}
	res, err := recorder.LoadCapture(pos[0])
	if err != nil {
		return err
	}
	return bugreport.Write(stdout, res.Exchanges, bugreport.Options{Connection: *conn, Refs: refs, Version: version})
}
