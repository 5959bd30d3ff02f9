package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/recorder/clients"
	"github.com/mcpwatch/mcpwatch/recorder/probe"
)

// errProbeFailed is a probe with a failed stage: exit code 1 (run prints it) after the results.
var errProbeFailed = errors.New("a stage failed")

// cmdProbe plays a client's handshake against the user's server (recorder/probe); this file only wires flags.
func cmdProbe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("probe", flag.ContinueOnError)
	fs.SetOutput(stderr)
	as := fs.String("as", "", "the `client` to play (comma-separated for several): "+probeIDs())
	all := fs.Bool("all", false, "play every client and print a client × stage matrix")
	auto := fs.Bool("auto", false, "follow the server's redirects at /authorize (a server that auto-approves, e.g. mcpwatch serve --auto-approve)")
	asJSON := fs.Bool("json", false, "print the results as JSON")
	junit := fs.String("junit", "", "also write JUnit XML to `FILE`")
	capture := fs.String("capture", "", "write the probe's requests to this capture `path` (default: a new file under the state directory)")
	noBrowser := fs.Bool("no-browser", false, "print the authorization URL without trying xdg-open/open")
	tool := fs.String("tool", "", "the `tool` to call (default: a read-only one with the fewest required arguments; destructive tools only when named)")
	timeout := fs.Duration("timeout", 15*time.Second, "bound on each request")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: mcpwatch probe URL --as CLIENT|--all [--auto] [--json] [--junit FILE] [--capture PATH]\n\nPlay a client's handshake against your MCP server (docs/probe.md).\n\n")
		fs.PrintDefaults()
	}
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fmt.Fprintln(stderr, "mcpwatch probe: give the server's MCP URL (e.g. mcpwatch probe http://localhost:4000/mcp --as claude)")
		return errUsage
	}
	var profiles []*clients.Profile
	switch {
	case *all && *as != "":
		fmt.Fprintln(stderr, "mcpwatch probe: --as and --all exclude each other")
		return errUsage
	case *all:
		profiles = probe.Profiles()
	case *as == "":
		fmt.Fprintln(stderr, "mcpwatch probe: name a client with --as ("+probeIDs()+") or use --all")
		return errUsage
	default:
		for _, id := range strings.Split(*as, ",") {
			p, ok := probe.Lookup(strings.TrimSpace(id))
			if !ok {
				fmt.Fprintf(stderr, "mcpwatch probe: unknown client %q (known: %s)\n", id, probeIDs())
				return errUsage
			}
			profiles = append(profiles, p)
		}
	}
	path := *capture
	if path == "" {
		dir, err := stateDir()
		if err != nil {
			return err
		}
		path = filepath.Join(dir, "captures", "probe-"+time.Now().Format("2006-01-02T15-04-05")+".jsonl")
	}
	cf, err := recorder.OpenCapture(path)
	if err != nil {
		return err
	}
	results := probe.RunAll(ctx, profiles, probe.Options{
		URL: pos[0], Auto: *auto, Prompt: stderr, Paste: os.Stdin, OpenBrowser: !*noBrowser, Timeout: *timeout, Tool: *tool,
	}, cf.Append)
	if err := cf.Close(); err != nil {
		return err
	}
	if *asJSON {
		if err := probe.WriteJSON(stdout, results, path); err != nil {
			return err
		}
	} else {
		probe.WriteText(stdout, results)
		if len(results) > 1 {
			fmt.Fprintln(stdout)
			probe.WriteMatrix(stdout, results)
		}
		fmt.Fprintf(stdout, "\ncapture: %s (mcpwatch open / export read it)\n", path)
	}
	if *junit != "" {
		f, err := os.Create(*junit)
		if err != nil {
			return err
		}
		err = probe.WriteJUnit(f, results)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("--junit: %w", err)
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if probe.Failed(results) {
		return errProbeFailed
	}
	return nil
}

func probeIDs() string {
	var ids []string
	for _, p := range probe.Profiles() {
		ids = append(ids, p.ID)
	}
	return strings.Join(ids, ", ")
}
