package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/mcpwatch/mcpwatch/recorder"
)

// headBytes is how much of a file's start loadCapture keeps to quote when the file is not a capture.
const headBytes = 200

// loadCapture reads the capture at path ("-": stdin) for open and export. A file none of whose lines is an exchange
// (a HAR, random JSON, a binary, an empty file) is an error naming the file and quoting its first line; notes lists
// what was skipped in a capture that has exchanges, each once ("3 unreadable lines skipped (line 7 first)").
func loadCapture(path string, stdin io.Reader) (res *recorder.LoadResult, name string, notes []string, err error) {
	r, name, done, err := openCapture(path, stdin)
	if err != nil {
		return nil, name, nil, err
	}
	defer done()
	var exs []*recorder.Exchange
	res, notes, err = scanCapture(r, name, func(ex *recorder.Exchange, _ int64, _ int) { exs = append(exs, ex) })
	if err != nil {
		return nil, name, nil, err
	}
	res.Exchanges = exs
	return res, name, notes, nil
}

// openCapture opens the capture at path ("-": stdin), named for messages; done closes it.
func openCapture(path string, stdin io.Reader) (r io.Reader, name string, done func(), err error) {
	if path == "-" {
		return stdin, "stdin", func() {}, nil
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, path, nil, fmt.Errorf("capture file %s does not exist", path)
	}
	if err != nil {
		return nil, path, nil, err
	}
	if st, err := f.Stat(); err == nil && st.IsDir() {
		f.Close()
		return nil, path, nil, fmt.Errorf("not a capture: %s is a directory", path)
	}
	return f, path, func() { f.Close() }, nil
}

// scanCapture reads the capture r (named name) as loadCapture does, giving each exchange to keep with where its
// line is in r (recorder.ScanCapture) instead of keeping them.
func scanCapture(r io.Reader, name string, keep func(ex *recorder.Exchange, off int64, n int)) (res *recorder.LoadResult, notes []string, err error) {
	head := &limitedBuffer{max: headBytes}
	// A line of JSON that is not an exchange (a one-line HAR, {"a":1}) decodes into an empty Exchange: every
	// recorded exchange has a method.
	kept, notExchanges := 0, 0
	res, err = recorder.ScanCapture(bufio.NewReader(io.TeeReader(r, head)), func(ex *recorder.Exchange, off int64, n int) {
		if ex.Method == "" {
			notExchanges++
			return
		}
		kept++
		keep(ex, off, n)
	})
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	if kept == 0 {
		first, _, found := bytes.Cut(head.Bytes(), []byte("\n"))
		switch {
		case len(bytes.TrimSpace(head.Bytes())) == 0:
			return nil, nil, fmt.Errorf("%s is empty: it holds no exchanges", name)
		case len(res.Skipped) == 0 && notExchanges == 0 && res.TornTail:
			return nil, nil, fmt.Errorf("%s holds no exchanges: its only line was incomplete (the last line of a capture whose recorder stopped mid-write)", name)
		default:
			return nil, nil, fmt.Errorf("not a capture: %s, first line %s (no line is an exchange of the JSONL captures serve and proxy write)", name, quoteHead(first, !found && head.full))
		}
	}
	if res.TornTail {
		notes = append(notes, "the torn last line was skipped")
	}
	if n := len(res.Skipped) + notExchanges; n > 0 {
		note := fmt.Sprintf("%d unreadable line%s skipped", n, plural(n))
		if notExchanges == 0 {
			note += fmt.Sprintf(" (line %d first)", res.Skipped[0])
		}
		notes = append(notes, note)
	}
	return res, notes, nil
}

// quoteHead quotes the start of a first line, marking it cut when the line went on.
func quoteHead(line []byte, cut bool) string {
	const show = 60
	if len(line) > show {
		line, cut = line[:show], true
	}
	q := fmt.Sprintf("%q", line)
	if cut {
		q += "…"
	}
	return q
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// limitedBuffer keeps the first max bytes written to it; full says more came.
type limitedBuffer struct {
	bytes.Buffer
	max  int
	full bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); room < len(p) {
		b.Buffer.Write(p[:max(room, 0)])
		b.full = true
		return len(p), nil
	}
	return b.Buffer.Write(p)
}
