package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/mcpwatch/mcpwatch/server/control"
	"github.com/mcpwatch/mcpwatch/server/faults"
)

// cmdFaults prints the toggle catalogue and the scenarios.
func cmdFaults(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("faults", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	group := ""
	for _, d := range faults.Catalogue {
		if d.Group != group {
			group = d.Group
			fmt.Fprintf(stdout, "\n%s\n", strings.ToUpper(group))
		}
		modes := ""
		if !d.AppliesTo(faults.ModeProxy) {
			modes = "  (serve only)"
		}
		fmt.Fprintf(stdout, "  %s%s\n      changes: %s\n      reveals: %s\n      source:  %s\n", d.Spec(), modes, d.Changes, d.Reveals, d.Source)
	}
	fmt.Fprintf(stdout, "\nSCENARIOS (--scenario NAME)\n")
	for _, s := range faults.Scenarios {
		modes := ""
		for _, spec := range s.Toggles {
			if d, _, _, err := faults.ParseSpec(spec); err == nil && !d.AppliesTo(faults.ModeProxy) {
				modes = "  (serve only)"
			}
		}
		fmt.Fprintf(stdout, "  %s — %s%s\n      toggles: %s\n      %s\n", s.Name, s.Title, modes, strings.Join(s.Toggles, " "), s.Story)
	}
	fmt.Fprintf(stdout, "\nSwitch toggles at start with --fault NAME[=VALUE] (repeatable) or --scenario NAME, live with `t` in the\nTUI, or from another terminal with `mcpwatch fault set|unset|list`.\n")
	return nil
}

// cmdFault talks to a running instance over its control socket.
func cmdFault(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("fault", flag.ContinueOnError)
	fs.SetOutput(stderr)
	port := fs.String("port", "", "the `port` of the instance to control (needed when several run)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: mcpwatch fault list | set NAME[=VALUE]... | unset NAME... [--port PORT]\n")
		fs.PrintDefaults()
	}
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		fs.Usage()
		return errUsage
	}
	dir, err := stateDir()
	if err != nil {
		return err
	}
	sock, err := control.Find(control.Dir(dir), *port)
	if err != nil {
		return err
	}
	c := control.NewClient(sock)
	var st control.State
	switch verb, rest := pos[0], pos[1:]; verb {
	case "list":
		if len(rest) > 0 {
			fs.Usage()
			return errUsage
		}
		st, err = c.List()
	case "set", "unset":
		if len(rest) == 0 {
			fmt.Fprintf(stderr, "mcpwatch fault %s: name a toggle (see `mcpwatch faults`)\n", verb)
			return errUsage
		}
		// One request with every spec: the instance validates them all before applying any, so that a typo in
		// the third leaves the first two off too.
		if verb == "set" {
			st, err = c.Set(rest...)
		} else {
			st, err = c.Unset(rest...)
		}
	default:
		fs.Usage()
		return errUsage
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
