package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mcpwatch/mcpwatch/internal/atomicfile"
	"github.com/mcpwatch/mcpwatch/internal/version"
	"github.com/mcpwatch/mcpwatch/recorder/export"
)

var exportLong = `Turns a capture file (JSONL, as mcpwatch serve writes it; - reads stdin) into:
` + export.FormatHelp() + `
Secrets (Authorization, cookies, OAuth codes, PKCE verifiers, tokens, client secrets, CSRF tokens) are redacted
unless --no-redact is given. Without --out the export goes to stdout; with it, the file is replaced atomically and
--format may be left out when the file name ends in ` + export.FormatExts() + `.`

type exportFlags struct {
	format, out, base string
	noRedact          bool
}

func newExportCmd() *cobra.Command {
	var f exportFlags
	c := &cobra.Command{
		Use:   "export CAPTURE --format " + export.FormatNames("|") + " [--out FILE] [--no-redact] [--base URL]",
		Short: "turn a capture file into HAR, JSONL, a Markdown transcript or curl commands",
		Long:  exportLong,
		RunE: func(c *cobra.Command, args []string) error {
			return cmdExport(c.Context(), &f, args, c.OutOrStdout(), c.ErrOrStderr())
		},
	}
	fs := flagSet(c)
	fs.StringVar(&f.format, "format", "", "output `format`: "+export.FormatNames(", "))
	fs.StringVar(&f.out, "out", "", "write to `FILE` (atomically) instead of stdout")
	fs.BoolVar(&f.noRedact, "no-redact", false, "keep secrets (Authorization, cookies, codes, verifiers, tokens, client secrets)")
	fs.StringVar(&f.base, "base", "", "curl: send the requests to this server `URL` (e.g. http://localhost:4000) instead of the one the client used")
	c.RegisterFlagCompletionFunc("format", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return strings.Split(export.FormatNames(","), ","), cobra.ShellCompDirectiveNoFileComp
	})
	return c
}

func cmdExport(_ context.Context, fl *exportFlags, pos []string, stdout, stderr io.Writer) error {
	var err error
	format, out, noRedact, base := &fl.format, &fl.out, &fl.noRedact, &fl.base
	usageErr := func(format string, a ...any) error {
		fmt.Fprintf(stderr, "mcpwatch export: "+format+"\n", a...)
		return errUsage
	}
	switch {
	case len(pos) == 0:
		return usageErr("name the capture file to export")
	case len(pos) > 1:
		return usageErr("one capture file at a time (got %s)", strings.Join(pos, " "))
	}
	var f export.Format
	switch {
	case *format != "":
		if f, err = export.ParseFormat(*format); err != nil {
			return usageErr("%v", err)
		}
	case *out != "":
		var ok bool
		if f, ok = export.FormatForPath(*out); !ok {
			return usageErr("--format is required (%s): %s does not end in %s", export.FormatNames(", "), *out, export.FormatExts())
		}
	default:
		return usageErr("--format is required (%s)", export.FormatNames(", "))
	}
	if *base != "" && f != export.Curl {
		return usageErr("--base only applies to --format curl")
	}

	res, path, notes, err := loadCapture(pos[0], os.Stdin)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	for _, n := range notes {
		fmt.Fprintf(stderr, "mcpwatch export: %s: %s\n", path, n)
	}

	opts := export.Options{NoRedact: *noRedact, Base: *base, Version: version.String()}
	if *out == "" || *out == "-" {
		return export.Write(stdout, f, res.Exchanges, opts)
	}
	if err := export.WriteFile(*out, f, res.Exchanges, opts); err != nil {
		if ae := (*atomicfile.Error)(nil); errors.As(err, &ae) {
			return fmt.Errorf("export: --out %s: %w", *out, ae.Err)
		}
		return fmt.Errorf("export: %w", err)
	}
	fmt.Fprintf(stderr, "mcpwatch export: wrote %d exchanges to %s (%s%s)\n", len(res.Exchanges), *out, f, redactedWord(*noRedact))
	return nil
}

func redactedWord(noRedact bool) string {
	if noRedact {
		return ", NOT redacted"
	}
	return ", secrets redacted"
}
