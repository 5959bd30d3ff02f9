package recorder

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
)

// CaptureFile appends completed exchanges to a JSONL file, one complete exchange per line; the writer goroutine
// writes the lines it takes in one write call (at most maxWrite bytes at a time, whole lines only). The HTTP path only enqueues (it never waits
// on the disk), and nothing is dropped: the queue holds what the disk has not taken yet. A crash loses at most the
// exchanges still queued, never an earlier line; a torn last line is skipped when loading.
type CaptureFile struct {
	path string
	f    *os.File

	mu      sync.Mutex
	cond    *sync.Cond
	queue   []*Exchange
	closed  bool
	written uint64
	err     error
	done    chan struct{}
}

// OpenCapture opens (creating it and its directory) path for appending.
func OpenCapture(path string) (*CaptureFile, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("capture file: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("capture file: %w", err)
	}
	if err := endWithNewline(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("capture file %s: %w", path, err)
	}
	c := &CaptureFile{path: path, f: f, done: make(chan struct{})}
	c.cond = sync.NewCond(&c.mu)
	go c.run()
	return c, nil
}

// endWithNewline makes sure a torn last line left by a crash is not glued to the next record.
func endWithNewline(f *os.File) error {
	st, err := f.Stat()
	if err != nil || st.Size() == 0 {
		return err
	}
	r, err := os.Open(f.Name())
	if err != nil {
		return err
	}
	defer r.Close()
	b := make([]byte, 1)
	if _, err := r.ReadAt(b, st.Size()-1); err != nil {
		return err
	}
	if b[0] != '\n' {
		_, err = f.Write([]byte("\n"))
	}
	return err
}

// Path is where the capture goes.
func (c *CaptureFile) Path() string { return c.path }

// Append queues a completed exchange; it never blocks on IO.
func (c *CaptureFile) Append(ex *Exchange) {
	c.mu.Lock()
	if !c.closed {
		c.queue = append(c.queue, ex)
		c.cond.Signal()
	}
	c.mu.Unlock()
}

// maxWrite bounds the lines gathered into one write call.
const maxWrite = 256 << 10

func (c *CaptureFile) run() {
	defer close(c.done)
	var (
		buf  []byte
		ends []int // where each line in buf ends
	)
	flush := func() {
		if len(buf) == 0 {
			return
		}
		n, err := c.f.Write(buf)
		full := 0
		for _, e := range ends {
			if e <= n {
				full++
			}
		}
		c.mu.Lock()
		c.written += uint64(full)
		c.mu.Unlock()
		if err != nil {
			c.setErr(fmt.Errorf("capture file %s: %w", c.path, err))
		}
		buf, ends = buf[:0], ends[:0]
		if cap(buf) > 4*maxWrite {
			buf = nil // do not keep a large body's buffer for ever
		}
	}
	for {
		c.mu.Lock()
		for len(c.queue) == 0 && !c.closed {
			c.cond.Wait()
		}
		batch := c.queue
		c.queue = nil
		closed := c.closed
		c.mu.Unlock()
		for _, ex := range batch {
			start := len(buf)
			line, err := appendLine(buf, ex)
			if err != nil {
				buf = line[:start]
				c.setErr(fmt.Errorf("capture file: encode exchange %d: %w", ex.ID, err))
				continue
			}
			buf = line
			ends = append(ends, len(buf))
			if len(buf) >= maxWrite {
				flush()
			}
		}
		flush()
		if closed && len(batch) == 0 {
			return
		}
	}
}

func (c *CaptureFile) setErr(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.mu.Unlock()
}

// Written is the number of exchanges written so far; Err the first write error.
func (c *CaptureFile) Written() (uint64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.written, c.err
}

// Close writes what is queued and closes the file.
func (c *CaptureFile) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		<-c.done
		return nil
	}
	c.closed = true
	c.cond.Signal()
	c.mu.Unlock()
	<-c.done
	err := c.f.Close()
	c.mu.Lock()
	defer c.mu.Unlock()
	return errors.Join(c.err, err)
}

// LoadResult is a loaded capture.
type LoadResult struct {
	Exchanges []*Exchange
	// TornTail is true when the last line was incomplete (a crash mid-write) and was skipped.
	TornTail bool
	// Skipped lists the line numbers (1-based) of other lines that could not be read.
	Skipped []int
}

// maxLine bounds a capture line (bodies are bounded by the recorder, so a line beyond this is damage).
const maxLine = 256 << 20

// LoadCapture reads a capture file. A torn last line is tolerated; other unreadable lines are skipped and listed.
func LoadCapture(path string) (*LoadResult, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("capture: %w", err)
	}
	defer f.Close()
	return ReadCapture(f)
}

// ReadCapture reads JSONL exchanges from r.
func ReadCapture(r io.Reader) (*LoadResult, error) {
	res := &LoadResult{}
	br := bufio.NewReaderSize(r, 1<<16)
	for lineNo := 1; ; lineNo++ {
		line, err := readLine(br)
		if len(line) > 0 {
			complete := line[len(line)-1] == '\n'
			var ex Exchange
			switch {
			case len(bytes.TrimSpace(line)) == 0:
			case json.Unmarshal(line, &ex) == nil:
				res.Exchanges = append(res.Exchanges, &ex)
			case !complete && err == io.EOF:
				res.TornTail = true
			default:
				res.Skipped = append(res.Skipped, lineNo)
			}
		}
		if err == io.EOF {
			return res, nil
		}
		if err != nil {
			return res, fmt.Errorf("capture: line %d: %w", lineNo, err)
		}
	}
}

func readLine(br *bufio.Reader) ([]byte, error) {
	var buf []byte
	for {
		chunk, err := br.ReadSlice('\n')
		buf = append(buf, chunk...)
		if len(buf) > maxLine {
			return buf, fmt.Errorf("line longer than %d bytes", maxLine)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		return buf, err
	}
}
