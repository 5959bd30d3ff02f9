package recorder

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The capture file is bounded in bytes: it rotates before a line would take it past MaxSize, keeps Keep rotated
// files, and counts what it deletes; every exchange is either in one of the files or counted.
func TestCaptureFileRotatesWithinBound(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "capture.jsonl")
	line, err := appendLine(nil, sampleExchange(1))
	if err != nil {
		t.Fatal(err)
	}
	const maxSize = 8 << 10
	var log bytes.Buffer
	c, err := OpenCaptureWith(path, CaptureOptions{MaxSize: maxSize, Keep: 2, Logger: slog.New(slog.NewTextHandler(&log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	const total = 400 // about 40 files' worth
	for i := range total {
		c.Append(sampleExchange(uint64(i + 1)))
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	written, _ := c.Written()
	rotatedOut, tooBig := c.Dropped()
	if written != total || tooBig != 0 || rotatedOut == 0 {
		t.Fatalf("written %d, rotated out %d, too big %d", written, rotatedOut, tooBig)
	}
	want := []string{path, filepath.Join(dir, "capture.1.jsonl"), filepath.Join(dir, "capture.2.jsonl")}
	if got := append([]string{c.Path()}, c.RotatedPaths()...); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("files %v, want %v", got, want)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 3 {
		t.Fatalf("%d files in the directory: %v", len(entries), entries)
	}
	var kept uint64
	next := uint64(0)
	for i := len(want) - 1; i >= 0; i-- { // oldest first
		st, err := os.Stat(want[i])
		if err != nil {
			t.Fatal(err)
		}
		if st.Size() > maxSize || i > 0 && st.Size() < maxSize-int64(len(line))-64 || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: %d bytes (bound %d), mode %v", want[i], st.Size(), maxSize, st.Mode())
		}
		res, err := LoadCapture(want[i])
		if err != nil || res.TornTail || len(res.Skipped) > 0 {
			t.Fatalf("%s: %v %+v", want[i], err, res)
		}
		for _, ex := range res.Exchanges { // each file a capture of its own, in order, continuing the previous
			if next != 0 && ex.ID != next {
				t.Fatalf("%s: exchange %d after %d", want[i], ex.ID, next-1)
			}
			next = ex.ID + 1
		}
		kept += uint64(len(res.Exchanges))
	}
	if next != total+1 || kept+rotatedOut != total {
		t.Errorf("kept %d (up to %d) + rotated out %d != %d", kept, next-1, rotatedOut, total)
	}
	if n := strings.Count(log.String(), "capture file rotated"); n < 10 || !strings.Contains(log.String(), fmt.Sprintf("exchanges_dropped_so_far=%d", rotatedOut)) {
		t.Errorf("%d rotations logged:\n%s", n, log.String())
	}
}

// A line larger than the whole bound is not written (no file passes MaxSize); it is counted. Opening an existing
// capture beyond the bound rotates it before the first write.
func TestCaptureFileCountsLineLargerThanBound(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.jsonl")
	if err := os.WriteFile(path, []byte(strings.Repeat("x", 3000)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := OpenCaptureWith(path, CaptureOptions{MaxSize: 2048, Keep: 1})
	if err != nil {
		t.Fatal(err)
	}
	big := sampleExchange(1)
	big.ReqBody = Body{Data: []byte(strings.Repeat("b", 4096)), Size: 4096}
	c.Append(sampleExchange(2))
	c.Append(big)
	c.Append(sampleExchange(3))
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	written, _ := c.Written()
	rotatedOut, tooBig := c.Dropped()
	if written != 2 || tooBig != 1 || rotatedOut != 0 {
		t.Fatalf("written %d, too big %d, rotated out %d", written, tooBig, rotatedOut)
	}
	res, err := LoadCapture(path)
	if err != nil || len(res.Exchanges) != 2 || res.Exchanges[0].ID != 2 || res.Exchanges[1].ID != 3 {
		t.Fatalf("%v %+v", err, res)
	}
	if st, _ := os.Stat(path); st.Size() > 2048 {
		t.Errorf("%d bytes", st.Size())
	}
	if old, err := os.ReadFile(c.RotatedPaths()[0]); err != nil || len(old) != 3001 {
		t.Errorf("the earlier content was not kept as the rotated file: %d bytes, %v", len(old), err)
	}
}

// A capture or log file that existed with loose permissions is made private: it holds live tokens.
func TestOpenPrivateTightensExistingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.jsonl")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o666); err != nil {
		t.Fatal(err)
	}
	c, err := OpenCapture(path)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("capture file mode %v", st.Mode().Perm())
	}
	log := filepath.Join(t.TempDir(), "mcpwatch.log")
	os.WriteFile(log, nil, 0o600)
	os.Chmod(log, 0o644)
	f, err := OpenPrivate(log)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if st, _ := os.Stat(log); st.Mode().Perm() != 0o600 {
		t.Errorf("log file mode %v", st.Mode().Perm())
	}
	if f, err := OpenPrivate(os.DevNull); err != nil { // a device is left alone
		t.Errorf("%s: %v", os.DevNull, err)
	} else {
		f.Close()
	}
}

// A rotation that fails (the rotated name taken by a directory) loses nothing: the capture writes on past its bound
// and reports why.
func TestCaptureFileRotationFailureLosesNothing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.jsonl")
	if err := os.MkdirAll(filepath.Join(dir, "c.1.jsonl", "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	c, err := OpenCaptureWith(path, CaptureOptions{MaxSize: 4096, Keep: 1})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		c.Append(sampleExchange(uint64(i + 1)))
	}
	cerr := c.Close()
	written, _ := c.Written()
	res, lerr := LoadCapture(path)
	if written != 20 || lerr != nil || len(res.Exchanges) != 20 || cerr == nil || !strings.Contains(cerr.Error(), "rotation failed") {
		t.Fatalf("written %d, loaded %d (%v), close: %v", written, len(res.Exchanges), lerr, cerr)
	}
}

// A rotation that failed is tried again one bound later: once the obstacle is gone the file rotates again instead
// of growing for the rest of the run.
func TestCaptureFileRotationRetried(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.jsonl")
	blocker := filepath.Join(dir, "c.1.jsonl")
	if err := os.MkdirAll(filepath.Join(blocker, "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	c, err := OpenCaptureWith(path, CaptureOptions{MaxSize: 4096, Keep: 1})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	appendUntil := func(cond func() bool) {
		for i := 0; i < 200 && !cond(); i++ {
			n++
			c.Append(sampleExchange(uint64(n)))
			waitFor(t, func() bool { w, _ := c.Written(); return w == uint64(n) })
		}
	}
	appendUntil(func() bool { fi, err := os.Stat(path); return err == nil && fi.Size() > 4096 })
	if fi, err := os.Stat(path); err != nil || fi.Size() <= 4096 {
		t.Fatalf("the file did not grow past the bound while rotation failed: %v", err)
	}
	if err := os.RemoveAll(blocker); err != nil {
		t.Fatal(err)
	}
	appendUntil(func() bool { fi, err := os.Stat(blocker); return err == nil && fi.Mode().IsRegular() })
	if err := c.Close(); err == nil || !strings.Contains(err.Error(), "rotation failed") {
		t.Errorf("close: %v, want the earlier rotation failure reported", err)
	}
	if fi, err := os.Stat(blocker); err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("no rotation after the obstacle went (after %d appends): %v", n, err)
	}
	total := 0
	for _, p := range []string{blocker, path} {
		res, err := LoadCapture(p)
		if err != nil {
			t.Fatal(err)
		}
		total += len(res.Exchanges)
	}
	if rotatedOut, tooBig := c.Dropped(); total+int(rotatedOut+tooBig) != n {
		t.Errorf("%d exchanges in the files, %d dropped, %d appended", total, rotatedOut+tooBig, n)
	}
}

// Rotation counts the lines of the file it deletes as they were written rather than reading the file again (256 MiB
// at every rotation once Keep files exist, on the writer, while appends wait for room): a deleted file's lines are
// the ones this process wrote into it, whatever else the file came to hold; a rotated file left by an earlier run
// is counted by reading it.
func TestCaptureFileRotationCountsWithoutReading(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "capture.jsonl")
	// an earlier run's oldest rotated file: 3 lines, read when it is deleted
	if err := os.WriteFile(filepath.Join(dir, "capture.2.jsonl"), []byte("{}\n{}\n{}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const maxSize = 8 << 10
	c, err := OpenCaptureWith(path, CaptureOptions{MaxSize: maxSize, Keep: 2})
	if err != nil {
		t.Fatal(err)
	}
	const total = 400
	for i := range total {
		c.Append(sampleExchange(uint64(i + 1)))
		if i%40 == 39 {
			waitWritten(t, c, uint64(i+1)) // the writer idle: the files stay where they are
			// lines nobody wrote through c, in the files rotation will delete: not counted as exchanges of c's
			for _, p := range c.RotatedPaths() {
				f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
				if err != nil {
					t.Fatal(err)
				}
				f.WriteString("\n\n\n\n\n")
				f.Close()
			}
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	rotatedOut, _ := c.Dropped()
	var kept uint64
	for _, p := range append([]string{c.Path()}, c.RotatedPaths()...) {
		res, err := LoadCapture(p)
		if err != nil {
			t.Fatal(err)
		}
		kept += uint64(len(res.Exchanges))
	}
	if rotatedOut != total-kept+3 {
		t.Errorf("rotated out %d, want %d (%d written, %d kept, 3 of the earlier run's)", rotatedOut, total-kept+3, total, kept)
	}
}
