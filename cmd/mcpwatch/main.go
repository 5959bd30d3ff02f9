// Command mcpwatch runs an MCP server with its own OAuth authorization server (or a proxy in front of yours) and
// shows every request of a client's handshake as it happens.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/mcpwatch/mcpwatch/internal/version"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `mcpwatch — watch an MCP client's OAuth and protocol handshake, live.

Usage:
  mcpwatch [serve] [flags]     run the embedded MCP + OAuth server (the default)
  mcpwatch proxy --upstream URL [flags]
                               the same inspector in front of your own MCP server
  mcpwatch open CAPTURE        review a saved capture (JSONL) in the TUI, read-only
  mcpwatch export CAPTURE --format har|jsonl|markdown|curl [--out FILE] [--no-redact]
                               turn a capture file into HAR, JSONL, a Markdown transcript or curl commands
  mcpwatch faults              list the toggles and scenarios
  mcpwatch fault list|set|unset  switch toggles of a running instance
  mcpwatch version             print the version
  mcpwatch help                print this text

Run 'mcpwatch serve -h' or 'mcpwatch proxy -h' for the flags.
`

// errUsage marks a command-line mistake: exit code 2.
var errUsage = errors.New("usage")

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmd, implicit := "serve", true
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args, implicit = args[0], args[1:], false
	}
	var err error
	switch cmd {
	case "serve":
		err = cmdServe(ctx, args, stdout, stderr, implicit)
	case "proxy":
		err = cmdProxy(ctx, args, stdout, stderr)
	case "open":
		err = cmdOpen(ctx, args, stdout, stderr)
	case "export":
		err = cmdExport(ctx, args, stdout, stderr)
	case "faults":
		err = cmdFaults(args, stdout, stderr)
	case "fault":
		err = cmdFault(args, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "mcpwatch", version.String())
	case "help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "mcpwatch: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	default:
		fmt.Fprintln(stderr, "mcpwatch:", err)
		return 1
	}
}

// parseFlags parses fs, allowing positional arguments between flags (`export FILE --format har`).
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, fmt.Errorf("%w: %v", errUsage, err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}
