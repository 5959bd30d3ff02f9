package export

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/mcpwatch/mcpwatch/internal/atomicfile"
	"github.com/mcpwatch/mcpwatch/recorder"
)

// Format names an export format; what it is lives in its formatSpec in formats below.
type Format string

// The formats' names.
const (
	HAR      Format = "har"
	JSONL    Format = "jsonl"
	Markdown Format = "markdown"
	Curl     Format = "curl"
)

// formatSpec is everything about one format: every list of formats (the CLI's flag help, usage and completion,
// `mcpwatch export --help` and docs/cli.md, the TUI's export dialog and its file names) reads it from formats.
type formatSpec struct {
	name    Format
	aliases []string // other names ParseFormat accepts
	ext     string   // the usual file extension, with the dot; FormatForPath maps it back
	about   string   // one line for `mcpwatch export --help`
	// executable: the file is a script (its readers may run it).
	executable bool
	// redacts: the writer honours Options.NoRedact; a format that cannot redact is always written owner-only.
	redacts bool
	// check refuses options the format cannot write with, before any exchange is read (nil: none).
	check func(Options) error
	// The writer, one of two kinds. stream (every format here) writes from a prepared doc, reading each exchange
	// when it needs it (doc.each): it holds a few at a time, however many there are; passes is how many times it
	// reads them (for Options.Progress). write takes them all at once, in memory (WriteFrom reads them all first).
	stream func(io.Writer, *doc) error
	passes int
	write  func(io.Writer, []*recorder.Exchange, Options) error
}

// formats is the registry, in the order the CLI and the TUI show them (HAR first: the format DevTools and HAR
// viewers open). Adding a format is adding one value here.
var formats = []formatSpec{
	{name: HAR, ext: ".har", redacts: true, stream: writeHAR, passes: 1,
		about: "HAR 1.2 for browser DevTools and HAR viewers, with mcpwatch's stages and findings in _fields"},
	{name: JSONL, ext: ".jsonl", redacts: true, stream: writeJSONL, passes: 1,
		about: "the capture format again (redacted), with each exchange's stage and findings"},
	{name: Markdown, aliases: []string{"md"}, ext: ".md", redacts: true, stream: writeMarkdown, passes: 2,
		about: "a transcript of the handshake, stage by stage, with the findings"},
	{name: Curl, ext: ".sh", executable: true, redacts: true, stream: writeCurl, passes: 1,
		check: func(o Options) error { _, err := curlBase(o.Base); return err },
		about: "a bash script of curl commands that replays the requests"},
}

func (f Format) spec() (formatSpec, bool) {
	i := slices.IndexFunc(formats, func(s formatSpec) bool { return s.name == f })
	if i < 0 {
		return formatSpec{}, false
	}
	return formats[i], true
}

// Formats lists every format, in the order the CLI and the TUI show them (a copy: callers may keep it).
func Formats() []Format {
	out := make([]Format, len(formats))
	for i, s := range formats {
		out[i] = s.name
	}
	return out
}

// FormatNames is Formats as strings joined with sep (", " for messages, "|" for usage lines).
func FormatNames(sep string) string {
	names := make([]string, len(formats))
	for i, s := range formats {
		names[i] = string(s.name)
	}
	return strings.Join(names, sep)
}

// FormatExts lists the formats' extensions for a sentence: ".har, .jsonl, .md or .sh".
func FormatExts() string {
	exts := make([]string, len(formats))
	for i, s := range formats {
		exts[i] = s.ext
	}
	if len(exts) < 2 {
		return strings.Join(exts, "")
	}
	return strings.Join(exts[:len(exts)-1], ", ") + " or " + exts[len(exts)-1]
}

// FormatHelp is one line per format, "  name      what it is", for a command's help.
func FormatHelp() string {
	var b strings.Builder
	for _, s := range formats {
		fmt.Fprintf(&b, "  %-9s %s\n", s.name, s.about)
	}
	return b.String()
}

// ParseFormat returns the format named s (case-insensitive; a format's aliases too, e.g. "md" for markdown).
func ParseFormat(s string) (Format, error) {
	name := strings.ToLower(strings.TrimSpace(s))
	for _, f := range formats {
		if string(f.name) == name || slices.Contains(f.aliases, name) {
			return f.name, nil
		}
	}
	return "", fmt.Errorf("unknown export format %q (valid: %s)", s, FormatNames(", "))
}

// Ext is the usual file extension of the format ("" for an unknown one).
func (f Format) Ext() string {
	s, _ := f.spec()
	return s.ext
}

// FileMode is the mode of an exported file: readable by others only when redacted, executable by whoever may
// read it when the format is a script.
func (f Format) FileMode(noRedact bool) os.FileMode {
	s, _ := f.spec()
	perm := os.FileMode(0o644)
	if noRedact || !s.redacts {
		perm = 0o600 // it holds live secrets
	}
	if s.executable {
		perm |= (perm & 0o444) >> 2
	}
	return perm
}

// FormatForPath guesses the format from a file name's extension (see FormatExts); ok is false otherwise.
func FormatForPath(path string) (Format, bool) {
	lower := strings.ToLower(path)
	for _, f := range formats {
		if strings.HasSuffix(lower, f.ext) {
			return f.name, true
		}
	}
	return "", false
}

// Write writes exs in format f to w.
func Write(w io.Writer, f Format, exs []*recorder.Exchange, opts Options) error {
	_, err := WriteFrom(w, f, Slice(exs), opts)
	return err
}

// WriteFrom writes the exchanges of src in format f to w, reading each when it needs it (see Exchanges): it
// holds a few of them at a time, however many src has.
func WriteFrom(w io.Writer, f Format, src Exchanges, opts Options) (Result, error) {
	s, ok := f.spec()
	if !ok {
		return Result{}, fmt.Errorf("unknown export format %q (valid: %s)", f, FormatNames(", "))
	}
	if s.check != nil {
		if err := s.check(opts); err != nil {
			return Result{}, err
		}
	}
	if s.stream == nil {
		var res Result
		exs := make([]*recorder.Exchange, 0, src.Len())
		for i := range src.Len() {
			if ex := src.At(i); ex != nil {
				exs = append(exs, ex)
				res.Unread += unread(ex)
			}
		}
		res.Written, res.Gone = len(exs), src.Len()-len(exs)
		return res, orSourceErr(s.write(w, exs, opts), src)
	}
	d := prepareFrom(src, opts, s.passes)
	return d.res, orSourceErr(s.stream(w, d), src)
}

// orSourceErr is err, or else the error of a source that has one (see Exchanges).
func orSourceErr(err error, src Exchanges) error {
	if e, ok := src.(interface{ Err() error }); ok && err == nil {
		return e.Err()
	}
	return err
}

// WriteFile writes exs in format f to path, replacing it atomically (it appears whole or not at all; a failed
// export leaves the old file as it was) with the format's FileMode. A failure to create, write or rename the file
// is an *atomicfile.Error.
func WriteFile(path string, f Format, exs []*recorder.Exchange, opts Options) error {
	_, err := WriteFileFrom(path, f, Slice(exs), opts)
	return err
}

// WriteFileFrom is WriteFile of the exchanges of src, read as WriteFrom reads them.
func WriteFileFrom(path string, f Format, src Exchanges, opts Options) (Result, error) {
	if _, ok := f.spec(); !ok {
		return Result{}, fmt.Errorf("unknown export format %q (valid: %s)", f, FormatNames(", "))
	}
	var res Result
	err := atomicfile.Write(path, f.FileMode(opts.NoRedact), func(w io.Writer) error {
		var err error
		res, err = WriteFrom(w, f, src, opts)
		return err
	})
	return res, err
}
