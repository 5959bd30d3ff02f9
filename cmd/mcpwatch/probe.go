package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/mcpwatch/mcpwatch/app"
	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/recorder/clients"
	"github.com/mcpwatch/mcpwatch/recorder/probe"
)

// errProbeFailed is a probe with a failed stage: exit code 1 (run prints it) after the results.
var errProbeFailed = errors.New("a stage failed")

type probeFlags struct {
	as, junit, capture, tool     string
	publicURL                    string
	all, auto, asJSON, noBrowser bool
	tunnel                       bool
	timeout                      time.Duration
}

func (f *probeFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.as, "as", "", "the `client` to play (comma-separated for several): "+probeIDs())
	fs.BoolVar(&f.all, "all", false, "play every client and print a client × stage matrix")
	fs.BoolVar(&f.auto, "auto", false, "follow the server's redirects at /authorize (a server that auto-approves, e.g. mcpwatch serve --auto-approve)")
	fs.BoolVar(&f.asJSON, "json", false, "print the results as JSON")
	fs.StringVar(&f.junit, "junit", "", "also write JUnit XML to `FILE`")
	fs.StringVar(&f.capture, "capture", "", "write the probe's requests to this capture `path` (default: a new file under the state directory)")
	fs.BoolVar(&f.noBrowser, "no-browser", false, "print the authorization URL without trying xdg-open/open")
	fs.StringVar(&f.tool, "tool", "", "the `tool` to call (default: a read-only one with the fewest required arguments; destructive tools only when named)")
	fs.DurationVar(&f.timeout, "timeout", 15*time.Second, "bound on each request")
	fs.BoolVar(&f.tunnel, "tunnel", false, "start a Cloudflare quick tunnel to the server (cloudflared on PATH) and probe through it, the way a hosted client reaches it; stopped at the end")
	fs.StringVar(&f.publicURL, "public-url", "", "probe the server at its public `URL` (e.g. a tunnel's https://….trycloudflare.com) with the given URL's path, the way a hosted client reaches it")
}

func newProbeCmd() *cobra.Command {
	var f probeFlags
	c := &cobra.Command{
		Use:   "probe URL --as CLIENT|--all [--auto] [--json] [--junit FILE]",
		Short: "play a client's handshake against your server (docs/probe.md)",
		Long: `Play a client's handshake — as its profile in the client registry records it — against your MCP server, and say
stage by stage what passes, what fails (with the finding and its fix) and what cannot be reproduced from here.
Exit status 0: every stage passed or was not reproducible; 1: a stage failed; 2: a usage mistake.`,
		RunE: func(c *cobra.Command, args []string) error {
			return cmdProbe(c.Context(), &f, args, c.OutOrStdout(), c.ErrOrStderr())
		},
	}
	f.register(flagSet(c))
	_ = c.RegisterFlagCompletionFunc("as", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return strings.Split(probeIDs(), ", "), cobra.ShellCompDirectiveNoFileComp
	})
	return c
}

// cmdProbe plays a client's handshake against the user's server (recorder/probe); this file only wires flags.
func cmdProbe(ctx context.Context, f *probeFlags, pos []string, stdout, stderr io.Writer) error {
	if len(pos) != 1 {
		fmt.Fprintln(stderr, "mcpwatch probe: give the server's MCP URL (e.g. mcpwatch probe http://localhost:4000/mcp --as claude)")
		return errUsage
	}
	target := pos[0]
	if _, err := probe.ParseURL(target); err != nil {
		return usageError{"probe: " + err.Error(), "mcpwatch probe"}
	}
	if f.tunnel && f.publicURL != "" {
		return usageError{"probe: --tunnel and --public-url exclude each other", "mcpwatch probe"}
	}
	if f.publicURL != "" {
		u, err := probe.PublicURL(target, f.publicURL)
		if err != nil {
			return usageError{"probe: " + err.Error(), "mcpwatch probe"}
		}
		target = u
	}
	var profiles []*clients.Profile
	switch {
	case f.all && f.as != "":
		fmt.Fprintln(stderr, "mcpwatch probe: --as and --all exclude each other")
		return errUsage
	case f.all:
		profiles = probe.Profiles()
	case f.as == "":
		fmt.Fprintln(stderr, "mcpwatch probe: name a client with --as ("+probeIDs()+") or use --all")
		return errUsage
	default:
		for _, id := range strings.Split(f.as, ",") {
			p, ok := probe.Lookup(strings.TrimSpace(id))
			if !ok {
				fmt.Fprintf(stderr, "mcpwatch probe: unknown client %q (known: %s)\n", id, probeIDs())
				return errUsage
			}
			profiles = append(profiles, p)
		}
	}
	path := f.capture
	if path == "" {
		dir, err := stateDir()
		if err != nil {
			return err
		}
		path = filepath.Join(dir, "captures", "probe-"+time.Now().Format("2006-01-02T15-04-05")+".jsonl")
	}
	if f.tunnel {
		public, stop, err := app.ProbeTunnel(ctx, target, stderr)
		if err != nil {
			return err
		}
		defer stop()
		if target, err = probe.PublicURL(target, public); err != nil {
			return fmt.Errorf("tunnel: %w", err)
		}
	}
	cf, err := recorder.OpenCapture(path)
	if err != nil {
		return err
	}
	results := probe.RunAll(ctx, profiles, probe.Options{
		URL: target, Auto: f.auto, Prompt: stderr, Paste: os.Stdin, OpenBrowser: !f.noBrowser, Timeout: f.timeout, Tool: f.tool,
	}, cf.Append)
	if err := cf.Close(); err != nil {
		return err
	}
	if f.asJSON {
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
	if f.junit != "" {
		f, err := os.Create(f.junit)
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
