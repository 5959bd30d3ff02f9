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
	name = path
	var r io.Reader
	if path == "-" {
		name, r = "stdin", stdin
	} else {
		f, err := os.Open(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, name, nil, fmt.Errorf("capture file %s does not exist", path)
		}
		if err != nil {
			return nil, name, nil, err
		}
		defer f.Close()
		if st, err := f.Stat(); err == nil && st.IsDir() {
			return nil, name, nil, fmt.Errorf("not a capture: %s is a directory", path)
		}
		r = f
	}
	head := &limitedBuffer{max: headBytes}
	res, err = recorder.ReadCapture(bufio.NewReader(io.TeeReader(r, head)))
	if err != nil {
		return nil, name, nil, fmt.Errorf("%s: %w", name, err)
	}
	// A line of JSON that is not an exchange (a one-line HAR, {"a":1}) decodes into an empty Exchange: every
	// recorded exchange has a method.
	kept, notExchanges := res.Exchanges[:0], 0
	for _, ex := range res.Exchanges {
		if ex.Method == "" {
			notExchanges++
			continue
		}
		kept = append(kept, ex)
	}
	res.Exchanges = kept
	if len(res.Exchanges) == 0 {
		first, _, found := bytes.Cut(head.Bytes(), []byte("\n"))
		switch {
		case len(bytes.TrimSpace(head.Bytes())) == 0:
			return nil, name, nil, fmt.Errorf("%s is empty: it holds no exchanges", name)
		case len(res.Skipped) == 0 && notExchanges == 0 && res.TornTail:
			return nil, name, nil, fmt.Errorf("%s holds no exchanges: its only line was incomplete (the last line of a capture whose recorder stopped mid-write)", name)
		default:
			return nil, name, nil, fmt.Errorf("not a capture: %s, first line %s (no line is an exchange of the JSONL captures serve and proxy write)", name, quoteHead(first, !found && head.full))
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
	return res, name, notes, nil
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
