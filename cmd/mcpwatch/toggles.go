package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/mcpwatch/mcpwatch/server/control"
	"github.com/mcpwatch/mcpwatch/server/toggle"
)

func newTogglesCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "toggles",
		Aliases: []string{"faults"},
		Short:   "list the toggles and scenarios",
		Args:    cobra.NoArgs,
		RunE:    func(c *cobra.Command, _ []string) error { return cmdToggles(c.OutOrStdout()) },
	}
}

// cmdToggles prints the toggle catalogue and the scenarios.
func cmdToggles(stdout io.Writer) error {
	group := ""
	for _, d := range toggle.Toggles() {
		if d.Group != group {
			group = d.Group
			fmt.Fprintf(stdout, "\n%s\n", strings.ToUpper(group))
		}
		modes := ""
		if !d.AppliesTo(toggle.ModeProxy) {
			modes = "  (serve only)"
		}
		fmt.Fprintf(stdout, "  %s%s\n      changes: %s\n      reveals: %s\n      source:  %s\n", d.Spec(), modes, d.Changes, d.Reveals, d.Source)
	}
	fmt.Fprintf(stdout, "\nSCENARIOS (--scenario NAME)\n")
	for _, s := range toggle.Scenarios() {
		modes := ""
		for _, spec := range s.Toggles {
			if d, _, _, err := toggle.ParseSpec(spec); err == nil && !d.AppliesTo(toggle.ModeProxy) {
				modes = "  (serve only)"
			}
		}
		fmt.Fprintf(stdout, "  %s — %s%s\n      toggles: %s\n      %s\n", s.Name, s.Title, modes, strings.Join(s.Toggles, " "), s.Story)
	}
	fmt.Fprintf(stdout, "\nSwitch toggles at start with --toggle NAME[=VALUE] (repeatable) or --scenario NAME, live with `t` in the\nTUI, or from another terminal with `mcpwatch toggle set|unset|list`.\n")
	return nil
}

const toggleUsage = "usage: mcpwatch toggle list | set NAME[=VALUE]... | unset NAME... [--port PORT]"

func newToggleCmd() *cobra.Command {
	var port string
	c := &cobra.Command{
		Use:     "toggle list | set NAME[=VALUE]... | unset NAME... [--port PORT]",
		Aliases: []string{"fault"},
		Short:   "switch toggles of a running instance",
		Long: `Switch toggles of a running mcpwatch from another terminal, over its control socket: list them, set some on
(all or none: a bad name leaves every toggle as it was), or unset them.`,
		Example: `  mcpwatch toggle list
  mcpwatch toggle set short-token=2s omit-session-id
  mcpwatch toggle unset short-token --port 4000`,
		ValidArgsFunction: func(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
			if len(args) == 0 {
				return []string{"list", "set", "unset"}, cobra.ShellCompDirectiveNoFileComp
			}
			var names []string
			if args[0] == "set" || args[0] == "unset" {
				for _, d := range toggle.Toggles() {
					names = append(names, d.Name)
				}
			}
			return names, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(c *cobra.Command, args []string) error {
			return cmdToggle(args, port, c.OutOrStdout(), c.ErrOrStderr())
		},
	}
	flagSet(c).StringVar(&port, "port", "", "the `port` of the instance to control (needed when several run)")
	return c
}

// cmdToggle talks to a running instance over its control socket.
func cmdToggle(pos []string, port string, stdout, stderr io.Writer) error {
	usage := func() { fmt.Fprintln(stderr, toggleUsage) }
	// Usage mistakes first: they are exit 2 whether or not an instance runs.
	switch {
	case len(pos) == 0, pos[0] == "list" && len(pos) > 1, pos[0] != "list" && pos[0] != "set" && pos[0] != "unset":
		usage()
		return errUsage
	case len(pos) == 1 && pos[0] != "list":
		fmt.Fprintf(stderr, "mcpwatch toggle %s: name a toggle (see `mcpwatch toggles`)\n", pos[0])
		return errUsage
	}
	dir, err := stateDir()
	if err != nil {
		return err
	}
	sock, err := control.Find(control.Dir(dir), port)
	if err != nil {
		return err
	}
	c := control.NewClient(sock)
	var st control.State
	switch verb, rest := pos[0], pos[1:]; verb {
	case "list":
		st, err = c.List()
	case "set", "unset":
		// One request with every spec: the instance validates them all before applying any, so that a typo in
		// the third leaves the first two off too.
		if verb == "set" {
			st, err = c.Set(rest...)
		} else {
			st, err = c.Unset(rest...)
		}
	}
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	for _, t := range st.Toggles {
		mark := " "
		if t.On {
			mark = "●"
		}
		fmt.Fprintf(tw, "%s %s\t%s\n", mark, t.Spec, t.Group)
	}
	return tw.Flush()
}
