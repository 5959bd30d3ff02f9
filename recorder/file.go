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

// CaptureFile appends completed exchanges to a JSONL file, one complete exchange per line. Append encodes the
// exchange's line and adds it to the pending group; the capture's writer goroutine, woken at once, writes every
// pending line in one write call, while the next group gathers behind it. So the HTTP path never does IO and
// concurrent exchanges share write calls; a line waits in memory only while a write is in progress, so a crash loses
// at most the exchanges that were being written, never an earlier line (a torn last line is skipped when
// loading). What may wait is bounded (maxPending): when the disk stalls that long, appenders wait too, since the
// capture may not lose a record.
type CaptureFile struct {
	path string
	f    io.WriteCloser // the file (a stand-in in tests)

	mu      sync.Mutex
	work    *sync.Cond // the writer waits for lines (or Close)
	room    *sync.Cond // appenders and Close wait for a write to end
	pending []byte     // lines waiting for the writer
	spare   []byte     // the other buffer (double buffering)
	writing bool       // the writer is in a write call
	waiters int        // appends waiting for room: the writer does not stop before they are in
	torn    bool       // a write was cut short: the next one starts a new line
	closed  bool
	written uint64
	late    uint64 // appends after Close (not written)
	bound   int    // maxPending (tests lower it)
	err     error
	done    chan struct{}
}

// maxPending bounds the bytes that wait for the writer; beyond it, Append waits for a write to end. The two buffers
// are kept for reuse, so a sustained load allocates nothing.
const maxPending = 4 << 20

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
	c := &CaptureFile{path: path, f: f, bound: maxPending, done: make(chan struct{})}
	c.work, c.room = sync.NewCond(&c.mu), sync.NewCond(&c.mu)
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

// Append adds a completed exchange's line to what the writer writes next; it waits only when maxPending bytes
// already wait behind a stalled write. After Close the exchange is counted as late (Late), not written.
func (c *CaptureFile) Append(ex *Exchange) {
	// Encode outside the lock (appenders on other cores do not wait for it), into a pooled buffer.
	bp := lineBuffers.Get().(*[]byte)
	line, err := appendLine((*bp)[:0], ex)
	defer func() {
		if cap(line) <= maxPooledLine {
			*bp = line
			lineBuffers.Put(bp)
		}
	}()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		c.late++
		return
	}
	if err != nil {
		c.setErrLocked(fmt.Errorf("capture file: encode exchange %d: %w", ex.ID, err))
		return
	}
	for len(c.pending) >= c.bound && !c.closed {
		// The disk is behind: wait rather than lose the record or grow without bound.
		c.waiters++
		c.room.Wait()
		c.waiters--
	}
	c.pending = append(c.pending, line...)
	c.work.Signal()
}

// run is the writer: it writes the pending group, one write call at a time, until Close and nothing is left.
func (c *CaptureFile) run() {
	defer close(c.done)
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		for len(c.pending) == 0 && !(c.closed && c.waiters == 0) {
			c.work.Wait()
		}
		if len(c.pending) == 0 {
			return // closed, and everything written
		}
		buf := c.pending
		c.pending, c.spare = c.spare[:0], nil
		if c.torn {
			buf = append(buf, 0)
			copy(buf[1:], buf)
			buf[0] = '\n'
		}
		c.writing = true
		c.mu.Unlock()
		n, err := c.f.Write(buf)
		c.mu.Lock()
		c.writing = false
		c.written += uint64(bytes.Count(buf[:n], []byte{'\n'})) // lines are JSON: their only newline ends them
		if c.torn && n > 0 {
			c.written-- // the newline that closed the torn line
			c.torn = false
		}
		if err != nil {
			// A write cut short leaves a torn line: the next group must not be glued to it.
			c.torn = n < len(buf)
			c.setErrLocked(fmt.Errorf("capture file %s: %w", c.path, err))
		}
		if cap(buf) <= 2*c.bound {
			c.spare = buf[:0] // reuse it; a buffer grown by a very large line is not kept
		}
		c.room.Broadcast()
	}
}

// lineBuffers hold encoded lines between their encoding and their copy into the pending group.
var lineBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// maxPooledLine is the largest line buffer kept in the pool.
const maxPooledLine = 64 << 10

func (c *CaptureFile) setErrLocked(err error) {
	if c.err == nil {
		c.err = err
	}
}

// Written is the number of exchanges written so far; Err the first write error.
func (c *CaptureFile) Written() (uint64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.written, c.err
}

// Late is the number of exchanges appended after Close (not written).
func (c *CaptureFile) Late() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.late
}

// Close writes what is pending (every append that returned before Close is written), stops the writer and closes
// the file.
func (c *CaptureFile) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		<-c.done
		return nil
	}
	c.closed = true
	c.work.Signal()
	c.room.Broadcast()
	c.mu.Unlock()
	<-c.done
	c.mu.Lock()
	defer c.mu.Unlock()
	return errors.Join(c.err, c.f.Close())
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
