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

// CaptureFile appends completed exchanges to a JSONL file, one complete exchange per line. Writes are grouped
// (a group commit): the goroutine that appends when no write is in progress writes its line at once, and then the
// lines that others appended meanwhile, in one write call; an append during a write only adds its line to the
// next group and returns. So a line is on its way to the file as soon as its exchange completes — a crash
// loses at most the exchanges whose write was in progress, never an earlier line (a torn last line is skipped
// when loading) — and concurrent exchanges share write calls. No goroutine of its own, no queue that outlives a
// write: when the disk stalls, what waits is bounded (maxPending), and appenders then wait too, since the capture
// may not lose a record.
type CaptureFile struct {
	path string
	f    *os.File

	mu      sync.Mutex
	room    *sync.Cond // signalled when a write ends
	pending []byte     // lines appended during the write in progress
	spare   []byte     // the other buffer (double buffering)
	writing bool       // a goroutine is writing
	waiters int        // appends waiting for room
	closed  bool
	written uint64
	err     error
}

// maxPending bounds the bytes that wait for a write in progress; beyond it, Append waits for the write to end.
// The two buffers are kept for reuse, so a sustained load allocates nothing. (A variable for tests.)
var maxPending = 4 << 20

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
	c := &CaptureFile{path: path, f: f}
	c.room = sync.NewCond(&c.mu)
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

// Append writes a completed exchange's line, together with the lines appended while it writes; when a write is
// already in progress, it leaves its line to that writer's next group and returns. After Close it does nothing.
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
	if c.closed {
		c.mu.Unlock()
		return
	}
	if err != nil {
		c.setErrLocked(fmt.Errorf("capture file: encode exchange %d: %w", ex.ID, err))
		c.mu.Unlock()
		return
	}
	for c.writing && len(c.pending) >= maxPending {
		// The disk is behind: wait rather than lose the record or grow without bound. Close waits for us.
		c.waiters++
		c.room.Wait()
		c.waiters--
	}
	c.pending = append(c.pending, line...)
	if c.writing {
		c.mu.Unlock()
		return // the writer takes it before it stops
	}
	c.writing = true
	c.drainLocked()
	c.mu.Unlock()
}

// drainLocked writes pending groups until none is left. It is called with c.mu held and c.writing set, and
// releases the lock around each write call.
func (c *CaptureFile) drainLocked() {
	for len(c.pending) > 0 {
		buf := c.pending
		c.pending, c.spare = c.spare[:0], nil
		c.mu.Unlock()
		n, err := c.f.Write(buf)
		c.mu.Lock()
		c.written += uint64(bytes.Count(buf[:n], []byte{'\n'})) // lines are JSON: their only newline ends them
		if err != nil {
			c.setErrLocked(fmt.Errorf("capture file %s: %w", c.path, err))
		}
		if cap(buf) <= 2*maxPending {
			c.spare = buf[:0] // reuse it; a buffer grown by a very large line is not kept
		}
		c.room.Broadcast()
	}
	c.writing = false
	c.room.Broadcast()
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

// Close waits for the write in progress and the appends waiting for room (every append that began before Close
// is written), then closes the file. Appends after Close are ignored.
func (c *CaptureFile) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	for c.writing || c.waiters > 0 {
		c.room.Wait()
	}
	err := c.f.Close()
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
