package recorder

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// CaptureFile appends completed exchanges to a JSONL file, one complete exchange per line. Append adds the
// exchange (an immutable record: the store's never change) to the pending group; the capture's writer goroutine,
// woken by the first, lets the group gather for captureGather (5 ms), encodes its lines in order and writes them
// in one write call, while the next group gathers behind it. So the HTTP path neither encodes nor does IO, and
// concurrent exchanges share wake-ups and write calls; a record waits in memory only for the gathering and while a
// write is in progress, so a crash loses at most the exchanges of those last milliseconds, never an earlier line
// (a torn last line is skipped when loading). What may wait is bounded (maxPending, in the records'
// Exchange.Size): when the disk stalls that long, appenders wait too, since the capture may not lose a record.
//
// The file is bounded (CaptureOptions): when the next line would take it beyond MaxSize bytes it is rotated —
// capture.jsonl becomes capture.1.jsonl, capture.1.jsonl capture.2.jsonl, and so on up to Keep rotated files; the
// oldest beyond Keep is deleted — so the capture takes at most MaxSize × (Keep+1) bytes on disk. Lines are never
// split across files: each file is a capture of its own. What rotation deletes, and a line larger than MaxSize
// (never written), is counted (Dropped), never silent.
type CaptureFile struct {
	path string
	f    io.WriteCloser // the file (a stand-in in tests)
	opts CaptureOptions
	size int64 // bytes in the current file
	// retryAt: a rotation failed, so the file grows past the bound rather than lose exchanges, and rotation is tried
	// again once it has grown by another bound (the writer's own; 0: rotate at the bound)
	retryAt int64

	mu         sync.Mutex
	work       *sync.Cond  // the writer waits for lines (or Close)
	room       *sync.Cond  // appenders and Close wait for a write to end
	pending    []*Exchange // records waiting for the writer, in order
	queued     int64       // their Exchange.Size, bounded by bound
	spare      []*Exchange // the other list (double buffering)
	buf        []byte      // the writer's lines (the writer's alone)
	writing    bool        // the writer is in a write call
	waiters    int         // appends waiting for room: the writer does not stop before they are in
	torn       bool        // a write was cut short: the next one starts a new line
	closed     bool
	written    uint64
	recounted  uint64 // bytes looked at again for their newlines after a write cut short (tests)
	late       uint64 // appends after Close (not written)
	rotatedOut uint64 // exchanges deleted with the oldest rotated file
	// The newlines (lines) each file holds, counted as they are written, so that rotation need not read the file it
	// deletes (CountLines read 256 MiB at every rotation once Keep files existed, on the writer, while Append
	// waited for room): fileLines is the current file's, rotLines[i-1] the i-th rotated file's; -1 where the file
	// held lines this process did not write (opened non-empty, or left by an earlier run), as is every rotated file
	// beyond len(rotLines) (it grows by one at each rotation up to Keep: --capture-keep has no upper bound, and a
	// slice of Keep counts made at open was 8 GiB for a Keep of 2^30, a panic for math.MaxInt). The writer's own.
	fileLines  int64
	rotLines   []int64
	fileFrom   int           // where in the buffer being written the current file's bytes begin (write, after a rotation)
	fileSkip   int64         // lines since fileFrom too big for the bound: in the buffer, not in the file
	rotatedNow bool          // a rotation came during the write
	tooBig     uint64        // exchanges whose line alone was larger than MaxSize (not written)
	bound      int64         // maxPending (tests lower it)
	busy       func() bool   // a request is on its way (Store.onPath): the gathering goes on (putOffWhile)
	gather     time.Duration // captureGather (tests raise it)
	err        error
	done       chan struct{}

	// Bodies kept in the file (bodies.go): the writer reports where each body of at least bodyMin bytes landed
	// (onBodies, called without c.mu), and rfiles has a read handle on each generation of the file that exists —
	// the current one and the rotated ones: a handle follows its file through renames, and rotation closes the
	// one of the file it deletes. gen is the current file's generation (1 at open, +1 at each rotation).
	bodyMin  int // under mu; 0: none reported
	onBodies func([]bodyLoc)
	gen      uint32     // written by the writer under mu
	segs     []segment  // where the bytes of the writer's last write went (the writer's own)
	spans    []bodySpan // where the bodies are in the writer's buffer (the writer's own)
	locs     []bodyLoc  // what locate reports (the writer's own, reused)
	rmu      sync.RWMutex
	rfiles   map[uint32]*os.File
	rclosed  bool // under rmu: Close closed every read handle
}

// maxPending bounds the bytes that wait for the writer; beyond it, Append waits for a write to end. The two buffers
// are kept for reuse, so a sustained load allocates nothing.
const maxPending = 4 << 20

// CaptureOptions bound the capture file on disk.
type CaptureOptions struct {
	// MaxSize is the most bytes one capture file holds (default DefaultCaptureMaxSize); the next line that would
	// pass it goes to a new file after a rotation.
	MaxSize int64
	// Keep is the number of rotated files kept beside the current one (default DefaultCaptureKeep; negative: none,
	// the full file is deleted when it rotates).
	Keep int
	// Logger hears of each rotation, with the count of exchanges dropped so far (nil: not logged).
	Logger *slog.Logger
}

// The capture file's default bounds: 256 MiB a file, 3 rotated files kept (1 GiB on disk at most).
const (
	DefaultCaptureMaxSize = 256 << 20
	DefaultCaptureKeep    = 3
)

// OpenCapture opens (creating it and its directory) path for appending, with the default bounds.
func OpenCapture(path string) (*CaptureFile, error) { return OpenCaptureWith(path, CaptureOptions{}) }

// OpenCaptureWith opens path for appending, bounded by opts. A file that exists already is made private (0600):
// it will hold live tokens.
func OpenCaptureWith(path string, opts CaptureOptions) (*CaptureFile, error) {
	if opts.MaxSize <= 0 {
		opts.MaxSize = DefaultCaptureMaxSize
	}
	switch {
	case opts.Keep == 0:
		opts.Keep = DefaultCaptureKeep
	case opts.Keep < 0:
		opts.Keep = 0
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("capture file: %w", err)
	}
	f, err := OpenPrivate(path)
	if err != nil {
		return nil, fmt.Errorf("capture file: %w", err)
	}
	if err := endWithNewline(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("capture file %s: %w", path, err)
	}
	var size int64
	if st, err := f.Stat(); err == nil {
		size = st.Size()
	}
	c := &CaptureFile{path: path, f: f, opts: opts, size: size, bound: maxPending, gather: captureGather, done: make(chan struct{}), gen: 1}
	if size > 0 {
		c.fileLines = -1
	}
	c.work, c.room = sync.NewCond(&c.mu), sync.NewCond(&c.mu)
	go c.run()
	return c, nil
}

// OpenPrivate opens path for appending (creating it 0600). A regular file that existed already with looser
// permissions is tightened to 0600, since what mcpwatch writes (captures, logs) holds live tokens; when that fails
// the file is refused, with the reason. A device or pipe (/dev/stderr) is left as it is.
func OpenPrivate(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if st.Mode().IsRegular() && st.Mode().Perm()&0o077 != 0 {
		if err := f.Chmod(0o600); err != nil {
			f.Close()
			return nil, fmt.Errorf("%s is readable by others (mode %04o) and could not be made private: %w; it would hold live tokens: fix its mode or choose another path", path, st.Mode().Perm(), err)
		}
	}
	return f, nil
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

// Append adds a completed exchange to what the writer writes next; it waits only when maxPending bytes already
// wait behind a stalled write. The writer encodes its line later: ex must not change after Append (the store's
// records never do). After Close the exchange is counted as late (Late), not written.
func (c *CaptureFile) Append(ex *Exchange) {
	size := ex.Size() // outside the lock
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		c.late++
		return
	}
	for c.queued >= c.bound && !c.closed {
		// The disk is behind: wait rather than lose the record or grow without bound.
		c.waiters++
		c.room.Wait()
		c.waiters--
	}
	c.pending = append(c.pending, ex)
	c.queued += size
	c.work.Signal()
}

// run is the writer: it encodes the pending group's lines and writes them, one write call at a time, until Close
// and nothing is left.
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
		if !c.closed && c.waiters == 0 && c.queued < c.bound/2 {
			// Let the lines of the exchanges completing meanwhile gather, not waiting on work (each Append would
			// wake the writer): one wake-up and one write call for them all rather than for each.
			// While a request is on its way (the store's), the gathering goes on, maxPutOff times at most: the
			// encoding and the write wait for its answer to start rather than delay it.
			for putOff := 0; ; putOff++ {
				c.mu.Unlock()
				time.Sleep(c.gather)
				c.mu.Lock()
				if putOff >= maxPutOff || c.busy == nil || !c.busy() || c.closed || c.waiters > 0 || c.queued >= c.bound/2 {
					break
				}
			}
		}
		group := c.pending
		c.pending, c.spare, c.queued = c.spare[:0], nil, 0
		buf := c.buf[:0]
		if c.torn {
			buf = append(buf, '\n')
		}
		c.writing = true
		bodyMin, onBodies := c.bodyMin, c.onBodies
		c.mu.Unlock()
		c.spans = c.spans[:0]
		buf, lines, encErr := encodeLines(buf, group, bodyMin, onBodies != nil, &c.spans)
		n, tooBig, err := c.write(buf)
		if onBodies != nil && len(c.spans) > 0 {
			if locs := c.locate(); len(locs) > 0 {
				onBodies(locs)
			}
		}
		c.mu.Lock()
		c.writing = false
		if encErr != nil {
			c.setErrLocked(encErr)
		}
		// The lines dealt with: all those encoded (and the newline closing a torn line, first in buf) when the whole
		// buffer was, without looking at its bytes again; after a write cut short, the newlines in what went (lines
		// are JSON: their only newline ends them). Those too big were dropped, not written.
		nl := uint64(lines)
		if c.torn {
			nl++
		}
		if n < len(buf) {
			nl = uint64(bytes.Count(buf[:n], []byte{'\n'}))
			c.recounted += uint64(n)
		}
		c.written += nl - tooBig
		c.tooBig += tooBig
		c.countFileLines(buf[:n], nl-tooBig)
		if c.torn && n > 0 {
			c.written-- // the newline that closed the torn line
			c.torn = false
		}
		if err != nil {
			// A write cut short leaves a torn line: the next group must not be glued to it.
			c.torn = n < len(buf)
			c.setErrLocked(fmt.Errorf("capture file %s: %w", c.path, err))
		}
		if int64(cap(buf)) <= 2*c.bound {
			c.buf = buf[:0] // reuse it; a buffer grown by a very large line is not kept
		} else {
			c.buf = nil
		}
		clear(group) // the records are the store's to forget
		if cap(group) <= maxPooledGroup {
			c.spare = group[:0]
		}
		c.room.Broadcast()
	}
}

// putOffWhile makes the writer go on gathering while busy reports a request on its way (Store.UseCapture).
func (c *CaptureFile) putOffWhile(busy func() bool) {
	c.mu.Lock()
	c.busy = busy
	c.mu.Unlock()
}

// captureGather is how long the writer lets lines gather after the first of a group arrived: a record waits in
// memory at most that long beyond a write in progress (and maxPutOff times longer while requests are on their
// way). It was 2 ms; 5 ms makes a group of serve's legacy tools/calls at 5,500 calls/s some 27 lines (46 KB)
// rather than 11: the writer wakes twice and writes once per group, and a write call's own cost (the file
// system's, beside copying the bytes) is shared by more lines (docs/benchmarks-store.md, "round six"). The
// capture is not what a user watches live (the TUI reads the store): its lines are a few ms later.
const captureGather = 5 * time.Millisecond

// maxPooledGroup is the longest list of pending records kept for reuse.
const maxPooledGroup = 64 << 10

// encodeLines appends the lines of group to buf, in order, and returns how many it appended; a record that cannot
// be encoded is left out (only what json.Marshal refuses too: a year past 9999), and the first such error returned. Where each body of at least
// bodyMin bytes (0: none) is in buf is appended to spans, after where its whole line is when lines (sideLine).
func encodeLines(buf []byte, group []*Exchange, bodyMin int, lines bool, spans *[]bodySpan) ([]byte, int, error) {
	var first error
	n := 0
	var lp lineParts // a body or header list met again in the group is copied from its first line (line.go)
	var at [2][2]int
	for _, ex := range group {
		big := bodyMin > 0 && (len(ex.ReqBody.Data) >= bodyMin || len(ex.RespBody.Data) >= bodyMin)
		where := (*[2][2]int)(nil) // where the bodies land: asked only of a line with a large body
		if big {
			where = &at
		}
		start := len(buf)
		line, err := lp.appendLine(buf, ex, where)
		if err == nil {
			if lines {
				*spans = append(*spans, bodySpan{id: ex.ID, side: sideLine, from: start, to: len(line)})
			}
			buf = line
			n++
			if big {
				for side, b := range [2]*Body{&ex.ReqBody, &ex.RespBody} {
					if len(b.Data) >= bodyMin {
						*spans = append(*spans, bodySpan{id: ex.ID, side: uint8(side), from: at[side][0], to: at[side][1], n: len(b.Data)})
					}
				}
			}
			continue
		}
		lp.forget(len(buf)) // buf is as it was: the part of a line is left out
		if first == nil {
			first = fmt.Errorf("capture file: encode exchange %d: %w", ex.ID, err)
		}
	}
	return buf, n, first
}

// write writes buf (whole lines) to the file, rotating it first whenever the next lines would take it beyond
// MaxSize. It returns the bytes of buf dealt with: written, or (tooBig lines, each larger than MaxSize) dropped.
// Only the writer goroutine calls it; it takes c.mu only to count.
func (c *CaptureFile) write(buf []byte) (done int, tooBig uint64, err error) {
	c.segs = c.segs[:0]
	c.fileFrom, c.fileSkip, c.rotatedNow = 0, 0, false
	for done < len(buf) {
		rest := buf[done:]
		if end := bytes.IndexByte(rest, '\n') + 1; end > 0 && int64(end) > c.opts.MaxSize || end == 0 && int64(len(rest)) > c.opts.MaxSize {
			// A line longer than the whole bound: dropped, counted.
			if end == 0 {
				end = len(rest)
			}
			tooBig++
			c.fileSkip++
			done += end
			continue
		}
		cut := len(rest)
		if room := c.opts.MaxSize - c.size; int64(cut) > room && c.size >= c.retryAt {
			// The lines that fit; the rest after a rotation.
			cut = bytes.LastIndexByte(rest[:max(room, 0)], '\n') + 1
		}
		if cut == 0 {
			c.addFileLines(buf[c.fileFrom:done])
			c.fileFrom, c.fileSkip, c.rotatedNow = done, 0, true // counted up to here
			if err := c.rotate(); err == nil {
				c.retryAt = 0
			} else {
				// Lose nothing: write on in the current file, past the bound, and report it (Written, Close); try
				// again one bound later (a full disk may have room by then).
				c.retryAt = c.size + c.opts.MaxSize
				c.forgetLineCounts() // which files hold what is the disk's word now
				c.mu.Lock()
				c.setErrLocked(fmt.Errorf("capture file %s: rotation failed, writing on past --capture-max-size: %w", c.path, err))
				c.mu.Unlock()
				if c.opts.Logger != nil {
					c.opts.Logger.Error("capture file rotation failed; writing on past the bound", "path", c.path, "err", err)
				}
			}
			continue
		}
		n, err := c.f.Write(rest[:cut])
		if n > 0 {
			c.segs = append(c.segs, segment{from: done, to: done + n, gen: c.gen, off: c.size})
		}
		c.size += int64(n)
		done += n
		if err != nil {
			return done, tooBig, err
		}
	}
	return done, tooBig, nil
}

// rotated is the name of the i-th rotated file: capture.jsonl → capture.1.jsonl.
func (c *CaptureFile) rotated(i int) string {
	ext := filepath.Ext(c.path)
	return fmt.Sprintf("%s.%d%s", strings.TrimSuffix(c.path, ext), i, ext)
}

// RotatedPaths lists the capture's rotated files that exist, newest first (the current file, Path, comes before
// them).
func (c *CaptureFile) RotatedPaths() []string {
	var out []string
	for i := 1; i <= c.opts.Keep; i++ {
		if _, err := os.Stat(c.rotated(i)); err == nil {
			out = append(out, c.rotated(i))
		}
	}
	return out
}

// rotate shifts the rotated files (deleting the oldest beyond Keep, its exchanges counted), moves the current file
// to the first rotated name and opens a new, empty current file. The current file stays open until the new one is:
// when a step fails, writing goes on in it (see write).
func (c *CaptureFile) rotate() error {
	last := c.path
	if c.opts.Keep > 0 {
		last = c.rotated(c.opts.Keep)
	}
	n, err := c.linesOfLast(last)
	if err == nil {
		st, _ := os.Stat(last)
		if err := os.Remove(last); err != nil {
			return err
		}
		c.forget(st)
		c.mu.Lock()
		c.rotatedOut += n
		c.mu.Unlock()
	}
	for i := c.opts.Keep - 1; i >= 1; i-- {
		if err := os.Rename(c.rotated(i), c.rotated(i+1)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	if c.opts.Keep > 0 {
		if err := os.Rename(c.path, c.rotated(1)); err != nil {
			return err
		}
	}
	f, err := OpenPrivate(c.path)
	if err != nil {
		return err
	}
	if c.opts.Keep > 0 {
		if len(c.rotLines) < c.opts.Keep {
			c.rotLines = append(c.rotLines, -1)
		}
		copy(c.rotLines[1:], c.rotLines[:len(c.rotLines)-1])
		c.rotLines[0] = c.fileLines
	}
	old := c.f
	c.f, c.size, c.fileLines = f, 0, 0
	c.mu.Lock()
	c.gen++
	if c.onBodies != nil {
		c.openReader(c.gen)
	}
	dropped := c.rotatedOut + c.tooBig
	if err := old.Close(); err != nil {
		c.setErrLocked(fmt.Errorf("capture file %s: closing the rotated file: %w", c.path, err))
	}
	c.mu.Unlock()
	if c.opts.Logger != nil {
		c.opts.Logger.Warn("capture file rotated (--capture-max-size)", "path", c.path, "bound_bytes", c.opts.MaxSize,
			"rotated_files_kept", c.opts.Keep, "exchanges_dropped_so_far", dropped)
	}
	return nil
}

// linesOfLast is the number of lines of last, the file rotation deletes (the current one when none is kept): as
// counted while this process wrote it, or read from it when it held lines of an earlier run.
func (c *CaptureFile) linesOfLast(last string) (uint64, error) {
	n := c.fileLines
	if c.opts.Keep > 0 {
		n = -1 // a file of an earlier run
		if c.opts.Keep <= len(c.rotLines) {
			n = c.rotLines[c.opts.Keep-1]
		}
	}
	if n < 0 {
		return CountLines(last)
	}
	if _, err := os.Stat(last); err != nil {
		return 0, err // none to delete yet
	}
	return uint64(n), nil
}

// forgetLineCounts makes every file's count unknown (a rotation failed half-way): rotation counts them by reading.
func (c *CaptureFile) forgetLineCounts() {
	c.fileLines = -1
	c.rotLines = c.rotLines[:0]
}

// addFileLines adds the newlines of b, written to the current file, to its count (a rotation is next: b is at most
// the one buffer being written, once a rotation).
func (c *CaptureFile) addFileLines(b []byte) {
	if c.fileLines >= 0 {
		c.fileLines += int64(bytes.Count(b, []byte{'\n'})) - c.fileSkip
	}
}

// countFileLines counts the lines of a write's buffer that went to the current file: nl, the newlines it wrote,
// when no rotation was tried during it, or else those after the last one, counted in written.
// Lines too big for the bound (skipped whole, not written) are not counted (fileSkip).
func (c *CaptureFile) countFileLines(written []byte, nl uint64) {
	if c.fileLines < 0 {
		return
	}
	if !c.rotatedNow {
		c.fileLines += int64(nl)
		return
	}
	if c.fileFrom < len(written) {
		c.addFileLines(written[c.fileFrom:])
	}
}

// CountLines counts the complete lines (exchanges) of a capture file: one about to be deleted by rotation when it
// held lines of an earlier run, or one the benchmark's memory group checks.
func CountLines(path string) (uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var n uint64
	buf := make([]byte, 1<<16)
	for {
		k, err := f.Read(buf)
		n += uint64(bytes.Count(buf[:k], []byte{'\n'}))
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// Dropped counts the exchanges the capture no longer holds: deleted with the oldest rotated file (rotatedOut),
// or never written because their line alone was larger than MaxSize (tooBig).
func (c *CaptureFile) Dropped() (rotatedOut, tooBig uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rotatedOut, c.tooBig
}

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
	c.closeReaders()
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

// captureLine is one line of a capture as read: an exchange, and the key captures written before the toggles' key
// was "toggles" used for them ("faults"), so that an old capture still opens with its toggles.
type captureLine struct {
	*Exchange
	OldToggles []ToggleChange `json:"faults"`
}

// ReadCapture reads JSONL exchanges from r.
func ReadCapture(r io.Reader) (*LoadResult, error) {
	var exs []*Exchange
	res, err := ScanCapture(r, func(ex *Exchange, _ int64, _ int) { exs = append(exs, ex) })
	res.Exchanges = exs
	return res, err
}

// ScanCapture reads JSONL exchanges from r as ReadCapture does, giving each to f with where its line is (its
// offset in r and its length) instead of keeping them: the result's Exchanges is empty. An exchange is read again
// from its line by DecodeCaptureLine.
func ScanCapture(r io.Reader, f func(ex *Exchange, off int64, n int)) (*LoadResult, error) {
	res := &LoadResult{}
	br := bufio.NewReaderSize(r, 1<<16)
	var off int64
	for lineNo := 1; ; lineNo++ {
		line, err := readLine(br)
		if len(line) > 0 {
			complete := line[len(line)-1] == '\n'
			ex, derr := DecodeCaptureLine(line)
			switch {
			case len(bytes.TrimSpace(line)) == 0:
			case derr == nil:
				f(ex, off, len(line))
			case !complete && err == io.EOF:
				res.TornTail = true
			default:
				res.Skipped = append(res.Skipped, lineNo)
			}
		}
		off += int64(len(line))
		if err == io.EOF {
			return res, nil
		}
		if err != nil {
			return res, fmt.Errorf("capture: line %d: %w", lineNo, err)
		}
	}
}

// DecodeCaptureLine reads the exchange of one capture line.
func DecodeCaptureLine(line []byte) (*Exchange, error) {
	ex := &Exchange{}
	ln := captureLine{Exchange: ex}
	if err := json.Unmarshal(line, &ln); err != nil {
		return nil, err
	}
	if ex.Toggles == nil {
		ex.Toggles = ln.OldToggles
	}
	return ex, nil
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
