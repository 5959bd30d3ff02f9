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
	"github.com/mcpwatch/mcpwatch/recorder"
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

	src, path, notes, err := captureExchanges(pos[0], os.Stdin)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	defer src.Close()
	for _, n := range notes {
		fmt.Fprintf(stderr, "mcpwatch export: %s: %s\n", path, n)
	}

	opts := export.Options{NoRedact: *noRedact, Base: *base, Version: version.String()}
	if *out == "" || *out == "-" {
		_, err := export.WriteFrom(stdout, f, src, opts)
		return err
	}
	res, err := export.WriteFileFrom(*out, f, src, opts)
	if err != nil {
		if ae := (*atomicfile.Error)(nil); errors.As(err, &ae) {
			return fmt.Errorf("export: --out %s: %w", *out, ae.Err)
		}
		return fmt.Errorf("export: %w", err)
	}
	fmt.Fprintf(stderr, "mcpwatch export: wrote %d exchanges to %s (%s%s)\n", res.Written, *out, f, redactedWord(*noRedact))
	return nil
}

// captureLines are the exchanges of a capture file as export.Exchanges: where each one's line is, read again and
// decoded each time the export asks for it, so that an export holds a few at a time, however big the file.
type captureLines struct {
	f     *os.File
	lines []captureLine
	tmp   string // the file stdin was copied to, removed by Close
	err   error  // the first line that could not be read again
}

type captureLine struct {
	off int64
	n   int
}

// captureExchanges reads the capture at path ("-": stdin, copied to a temporary file first) once, as loadCapture
// does, keeping where each exchange's line is.
func captureExchanges(path string, stdin io.Reader) (c *captureLines, name string, notes []string, err error) {
	r, name, done, err := openCapture(path, stdin)
	if err != nil {
		return nil, name, nil, err
	}
	c = &captureLines{}
	if f, ok := r.(*os.File); ok && path != "-" && isRegular(f) {
		c.f = f // c.Close closes it
	} else { // stdin, a named pipe (a shell's <(…), /dev/stdin): no line can be read again at its offset
		defer done()
		if c.f, err = os.CreateTemp("", "mcpwatch-export-*.jsonl"); err != nil {
			return nil, name, nil, err
		}
		c.tmp = c.f.Name()
		if _, err := io.Copy(c.f, r); err != nil {
			c.Close()
			return nil, name, nil, fmt.Errorf("%s: %w", name, err)
		}
		if _, err := c.f.Seek(0, io.SeekStart); err != nil {
			c.Close()
			return nil, name, nil, err
		}
	}
	_, notes, err = scanCapture(c.f, name, func(_ *recorder.Exchange, off int64, n int) {
		c.lines = append(c.lines, captureLine{off, n})
	})
	if err != nil {
		c.Close()
		return nil, name, nil, err
	}
	return c, name, notes, nil
}

// isRegular reports whether f is a regular file, whose lines can be read again at their offsets (ReadAt).
func isRegular(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode().IsRegular()
}

// Len is the number of exchanges.
func (c *captureLines) Len() int { return len(c.lines) }

// At reads the i-th exchange's line again.
func (c *captureLines) At(i int) *recorder.Exchange {
	l := c.lines[i]
	buf := make([]byte, l.n)
	if _, err := c.f.ReadAt(buf, l.off); err != nil {
		c.fail(fmt.Errorf("reading %s again at byte %d: %w", c.f.Name(), l.off, err))
		return nil
	}
	ex, err := recorder.DecodeCaptureLine(buf)
	if err != nil {
		c.fail(fmt.Errorf("%s changed while it was exported: the line at byte %d no longer reads (%v)", c.f.Name(), l.off, err))
		return nil
	}
	return ex
}

func (c *captureLines) fail(err error) {
	if c.err == nil {
		c.err = err
	}
}

// Err is the first line that could not be read again: export.WriteFrom fails with it (WriteFileFrom then leaves
// the old file as it was).
func (c *captureLines) Err() error { return c.err }

// Close closes the file (and removes stdin's copy).
func (c *captureLines) Close() error {
	err := c.f.Close()
	if c.tmp != "" {
		os.Remove(c.tmp)
	}
	return err
}

func redactedWord(noRedact bool) string {
	if noRedact {
		return ", NOT redacted"
	}
	return ", secrets redacted"
}
