package main

import (
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/spf13/cobra"
)

// writeCLIDoc writes docs/cli.md from the command tree: every command, its flags as --help prints them, and the
// exit codes. TestCLIDoc keeps the file in step (go test ./cmd/mcpwatch -run TestCLIDoc -update rewrites it); it is
// its only caller, so the generator lives in a test file.
func writeCLIDoc(w io.Writer) {
	root := newRoot()
	root.InitDefaultCompletionCmd()
	fmt.Fprint(w, `# mcpwatch command line

Every command and flag, as `+"`--help`"+` prints them. Generated from the code: `+"`go test ./cmd/mcpwatch -run TestCLIDoc -update`"+`.
Back to the [README](../README.md).

Flags may come before or after positional arguments (`+"`mcpwatch export FILE --format har`"+`), take `+"`--flag value`"+` or
`+"`--flag=value`"+`, and the single-dash spelling (`+"`-no-tui`"+`) of earlier versions is still accepted. `+"`-h`/`--help`"+` works on
every command, `+"`-v`/`--version`"+` on the top level.

## Exit codes

The same for every command, but for the commands below the table that give 1 a meaning of their own:

| code | meaning |
|---|---|
| 0 | done; for `+"`serve`"+` and `+"`proxy`"+`: stopped with Ctrl-C, `+"`q`"+` in the TUI, or SIGTERM |
| 1 | it failed at run time: a file that does not exist or is not a capture (`+"`open`, `export`"+`: "not a capture: FILE, first line …"), a port in use, a non-loopback `+"`--addr`"+`, an instance `+"`toggle`"+` cannot reach, a toggle that does not exist |
| 2 | a command-line mistake: an unknown command or flag, a missing or extra argument, flags that exclude each other; the message says which, then `+"`Run 'mcpwatch … --help' for usage.`"+` |

`)
	writeOwnExitCodes(w, root)
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Hidden && c.Name() != "man" || c.Name() == "help" {
			return
		}
		title := c.CommandPath()
		if c == root {
			title = "mcpwatch (serve, the default command)"
		}
		fmt.Fprintf(w, "## %s\n\n%s.\n\n```\n", title, strings.ToUpper(c.Short[:1])+c.Short[1:])
		var help strings.Builder
		c.SetOut(&help)
		c.Help()
		fmt.Fprint(w, strings.TrimSpace(help.String()), "\n```\n\n")
		if c.Name() == "completion" {
			return // its four shells' help says the same again
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// ownExit1 finds "1: MEANING;" in a command's "Exit status …" sentence of its Long text.
var ownExit1 = regexp.MustCompile(`Exit status [^.]*?\b1: ([^;.]+)`)

// writeOwnExitCodes lists the commands whose Long text says an exit status of its own, and what 1 means there.
func writeOwnExitCodes(w io.Writer, root *cobra.Command) {
	var lines []string
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if m := ownExit1.FindStringSubmatch(strings.Join(strings.Fields(c.Long), " ")); m != nil {
			anchor := strings.ReplaceAll(c.CommandPath(), " ", "-")
			lines = append(lines, fmt.Sprintf("- [`%s`](#%s): 1 means %s", c.CommandPath(), anchor, m[1]))
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	if len(lines) > 0 {
		fmt.Fprint(w, strings.Join(lines, "\n"), "\n\n")
	}
}
