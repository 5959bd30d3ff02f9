// Command mcpwatch runs an MCP server with its own OAuth authorization server (or a proxy in front of yours) and
// shows every request of a client's handshake as it happens.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"syscall"

	mcobra "github.com/muesli/mango-cobra"
	"github.com/muesli/roff"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/mcpwatch/mcpwatch/internal/version"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit codes, the same for every command (docs/cli.md).
const (
	exitOK      = 0 // done; for serve and proxy: stopped by Ctrl-C, q or SIGTERM
	exitRuntime = 1 // it started but failed: a file that does not exist or is not a capture, a port in use, ...
	exitUsage   = 2 // a command-line mistake: unknown command or flag, a missing or extra argument, flags that exclude each other
)

// errUsage marks a command-line mistake (exit code 2) whose message the command has printed already; run adds
// where to look ("Run 'mcpwatch CMD --help' for usage."), as for a usageError.
var errUsage = errors.New("usage")

// usageError is a command-line mistake (exit code 2) whose message is still to be printed.
type usageError struct{ msg, cmd string }

func (e usageError) Error() string { return e.msg }

// run runs mcpwatch with args (without the program name) and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRoot()
	root.SetArgs(longFlags(args))
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	var ue usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errUsage):
		// The command said what is wrong; where to look is said here, the same for every command.
		fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
		return exitUsage
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "mcpwatch: %v\nRun '%s --help' for usage.\n", err, ue.cmd)
		return exitUsage
	case isCobraUsageError(err):
		fmt.Fprintf(stderr, "mcpwatch: %v\nRun 'mcpwatch --help' for usage.\n", err)
		return exitUsage
	default:
		fmt.Fprintln(stderr, "mcpwatch:", err)
		return exitRuntime
	}
}

// isCobraUsageError recognizes cobra's own command-line errors, which have no type of their own (unknown command,
// a wrong number of arguments).
func isCobraUsageError(err error) bool {
	s := err.Error()
	for _, p := range []string{"unknown command", "accepts ", "requires at least", "invalid argument"} {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// singleDashLong is a flag the way the flag package, which mcpwatch used before cobra, also accepted it: -no-tui,
// -addr=x.
var singleDashLong = regexp.MustCompile(`^-[a-z][a-z0-9]*(-[a-z0-9]+)*(=.*)?$`)

// longFlags rewrites single-dash long flags (-addr, -no-tui) to the double dash cobra wants, so that command lines
// written for the flag-package mcpwatch keep working. One-letter flags (-h, -v) and everything after -- stay as
// they are.
func longFlags(args []string) []string {
	out := make([]string, 0, len(args))
	for i, a := range args {
		if a == "--" {
			return append(out, args[i:]...)
		}
		if name, _, _ := strings.Cut(a, "="); len(name) > 2 && singleDashLong.MatchString(a) {
			a = "-" + a
		}
		out = append(out, a)
	}
	return out
}

const rootLong = `mcpwatch — watch an MCP client's OAuth and protocol handshake, live.

With no command, mcpwatch serves: it runs the embedded MCP + OAuth server and shows every request in the TUI
(mcpwatch --addr localhost:4000 is mcpwatch serve --addr localhost:4000).`

// newRoot builds the command tree. The root command is serve (mcpwatch [flags] = mcpwatch serve [flags]).
func newRoot() *cobra.Command {
	var f serveFlags
	root := &cobra.Command{
		Use:           "mcpwatch",
		Short:         "watch an MCP client's OAuth and protocol handshake, live",
		Long:          rootLong,
		Version:       version.String(),
		SilenceErrors: true,
		SilenceUsage:  true,
		Args:          cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			return cmdServe(c.Context(), &f, args, c.OutOrStdout(), c.ErrOrStderr())
		},
		Example: `  mcpwatch --tunnel                      serve, behind a Cloudflare quick tunnel
  mcpwatch proxy --upstream http://localhost:8080/mcp
  mcpwatch export capture.jsonl --format har --out capture.har`,
	}
	f.register(flagSet(root))
	root.SetVersionTemplate("mcpwatch {{.Version}}\n")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError{err.Error(), c.CommandPath()} })
	root.AddCommand(newServeCmd(), newProxyCmd(), newOpenCmd(), newExportCmd(), newProbeCmd(), newDiffCmd(),
		newReportCmd(), newTogglesCmd(), newToggleCmd(), newVersionCmd(), newManCmd())
	return root
}

// flagSet is c's flag set, sorted as registered (the order of register reads as a story).
func flagSet(c *cobra.Command) *pflag.FlagSet {
	fs := c.Flags()
	fs.SortFlags = false
	return fs
}

func newServeCmd() *cobra.Command {
	var f serveFlags
	c := &cobra.Command{
		Use:   "serve [flags]",
		Short: "run the embedded MCP + OAuth server (the default)",
		Long: `Run the embedded MCP + OAuth server (the default command): /mcp, /sse and the authorization server, every
request shown in the TUI (or one line each with --no-tui).`,
		RunE: func(c *cobra.Command, args []string) error {
			return cmdServe(c.Context(), &f, args, c.OutOrStdout(), c.ErrOrStderr())
		},
	}
	f.register(flagSet(c))
	return c
}

func newProxyCmd() *cobra.Command {
	var f proxyFlags
	c := &cobra.Command{
		Use:   "proxy --upstream URL [flags]",
		Short: "the same inspector in front of your own MCP server",
		Long:  `Record every request between an MCP client and your own MCP server (mcpwatch proxy URL is mcpwatch proxy --upstream URL).`,
		RunE: func(c *cobra.Command, args []string) error {
			return cmdProxy(c.Context(), &f, args, c.OutOrStdout(), c.ErrOrStderr())
		},
	}
	f.register(flagSet(c))
	return c
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "print the version",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(c.OutOrStdout(), "mcpwatch", version.String())
			return err
		},
	}
}

// newManCmd writes the man page (roff, section 1) to stdout: mcpwatch man > mcpwatch.1.
func newManCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "man",
		Short:  "write the man page (roff) to stdout: mcpwatch man > mcpwatch.1",
		Args:   cobra.NoArgs,
		Hidden: true,
		RunE: func(c *cobra.Command, _ []string) error {
			unquoteUsage(c.Root()) // mango prints usage as is; this tree is built for this one run
			page, err := mcobra.NewManPage(1, c.Root())
			if err != nil {
				return err
			}
			page = page.WithSection("Exit status", exitStatusText).WithSection("Copyright", "MIT License, the mcpwatch authors.")
			_, err = fmt.Fprint(c.OutOrStdout(), page.Build(roff.NewDocument()))
			return err
		},
	}
}

const exitStatusText = `0 on success (serve and proxy: after Ctrl-C, q or SIGTERM); 1 when a command fails at run time (a file that does not exist or is not a capture, a port in use, an instance that cannot be reached); 2 on a command-line mistake (an unknown command or flag, a missing or extra argument, flags that exclude each other).`

// unquoteUsage drops the backquotes that name a flag's argument in its usage (listen `address`) in c's tree.
func unquoteUsage(c *cobra.Command) {
	c.Flags().VisitAll(func(f *pflag.Flag) { f.Usage = strings.ReplaceAll(f.Usage, "`", "") })
	for _, sub := range c.Commands() {
		unquoteUsage(sub)
	}
}
