package recorder

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
)

// cutFile writes through to the capture's real file, cutting its first write short after cut bytes (a full disk).
type cutFile struct {
	*os.File
	cut  int
	done bool
}

func (w *cutFile) Write(p []byte) (int, error) {
	if !w.done {
		w.done = true
		n, _ := w.File.Write(p[:min(w.cut, len(p))])
		return n, syscall.ENOSPC
	}
	return w.File.Write(p)
}

// Rotation's count of the lines of the file it deletes, kept as they are written, is what reading the file would
// say, whatever the writes were: random line sizes (some larger than the bound), bounds, Keep values, groups that
// rotate several times in one write call, writes cut short (torn lines and the newline closing them), rotations
// that fail and later succeed, a capture opened non-empty and rotated files of an earlier run. Between groups,
// each count is checked against the file's, and at the end every newline written is in a file or in rotatedOut.
func TestCaptureFileRotationCountsDifferential(t *testing.T) {
	for seed := range uint64(24) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			dir := t.TempDir()
			path := filepath.Join(dir, "c.jsonl")
			keep := []int{-1, 1, 2, 3}[rng.IntN(4)]
			maxSize := int64(1500 + rng.IntN(6000))
			var before uint64 // an earlier run's lines, in the files rotation will delete
			if rng.IntN(2) == 0 {
				os.WriteFile(path, []byte("{}\n{}\n"), 0o600)
				before += 2
			}
			if keep > 0 && rng.IntN(2) == 0 {
				os.WriteFile(filepath.Join(dir, fmt.Sprintf("c.%d.jsonl", keep)), []byte("{}\n{}\n{}\n"), 0o600)
				before += 3
			}
			c, err := OpenCaptureWith(path, CaptureOptions{MaxSize: maxSize, Keep: keep})
			if err != nil {
				t.Fatal(err)
			}
			idle := func() {
				waitFor(t, func() bool {
					c.mu.Lock()
					defer c.mu.Unlock()
					return len(c.pending) == 0 && !c.writing
				})
			}
			check := func(when string) {
				c.mu.Lock()
				defer c.mu.Unlock()
				if c.fileLines >= 0 {
					if n, err := CountLines(path); err != nil || int64(n) != c.fileLines {
						t.Fatalf("%s: current file: counted %d, the file holds %d (%v)", when, c.fileLines, n, err)
					}
				}
				for i, want := range c.rotLines {
					if want >= 0 {
						if n, err := CountLines(c.rotated(i + 1)); err != nil || int64(n) != want {
							t.Fatalf("%s: rotated file %d: counted %d, the file holds %d (%v)", when, i+1, want, n, err)
						}
					}
				}
			}
			// rotations fail while a directory holds the oldest rotated file's name (once Keep files exist)
			blocker := filepath.Join(dir, fmt.Sprintf("c.%d.jsonl", keep))
			blocked := keep > 0 && before < 3 && rng.IntN(2) == 0
			if blocked {
				if err := os.MkdirAll(filepath.Join(blocker, "x"), 0o700); err != nil {
					t.Fatal(err)
				}
			}
			var torn, id uint64 // torn: writes cut short (the next one's first newline closes their torn line)
			for round := range 30 {
				switch r := rng.IntN(8); {
				case r == 0:
					// the next write is cut short: a torn line, closed by the next write's newline
					c.mu.Lock()
					if f, ok := c.f.(*os.File); ok {
						cut := &cutFile{File: f, cut: 1 + rng.IntN(int(maxSize))}
						c.f = cut
					}
					c.mu.Unlock()
				case r == 1 && blocked && round > 10:
					if err := os.RemoveAll(blocker); err != nil {
						t.Fatal(err)
					}
					blocked = false
				}
				for range 1 + rng.IntN(25) {
					id++
					ex := sampleExchange(id)
					ex.RespBody = Body{Data: bytes.Repeat([]byte{'a'}, rng.IntN(int(maxSize)*5/4)), Size: 1}
					c.Append(ex)
				}
				idle()
				check(fmt.Sprint("round ", round))
				c.mu.Lock()
				if c.torn {
					torn++
				}
				c.mu.Unlock()
			}
			if blocked {
				if err := os.RemoveAll(blocker); err != nil {
					t.Fatal(err)
				}
			}
			id++
			c.Append(sampleExchange(id)) // closes a torn line left by the last round
			idle()
			check("end")
			c.Close()
			written, _ := c.Written()
			rotatedOut, _ := c.Dropped()
			var kept uint64
			for _, p := range append([]string{path}, c.RotatedPaths()...) {
				n, err := CountLines(p)
				if err != nil {
					t.Fatal(err)
				}
				kept += n
			}
			// every newline written (an exchange, or one closing a torn line) is in a file or was rotated out
			if want := written + torn + before - kept; rotatedOut != want {
				t.Errorf("rotated out %d, want %d (written %d, %d writes cut short, %d of an earlier run, %d in the files)", rotatedOut, want, written, torn, before, kept)
			}
		})
	}
}

// Opening a capture costs nothing in proportion to Keep (--capture-keep has no upper bound): rotation's counts grow
// with the rotations, not with Keep. A slice of Keep+1 counts made at open was 8 MiB for a Keep of 2^20 (8 GiB for
// 2^30) and a panic (makeslice) for math.MaxInt.
func TestCaptureFileOpenWithLargeKeep(t *testing.T) {
	dir := t.TempDir()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	c, err := OpenCaptureWith(filepath.Join(dir, "a.jsonl"), CaptureOptions{Keep: 1 << 20})
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Errorf("opening a capture with Keep 2^20 allocated %d bytes", grew)
	}
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Errorf("opening a capture with Keep math.MaxInt: panic %v", r)
			}
		}()
		c, err := OpenCaptureWith(filepath.Join(dir, "b.jsonl"), CaptureOptions{Keep: math.MaxInt})
		if err != nil {
			t.Fatal(err)
		}
		c.Append(sampleExchange(1))
		if err := c.Close(); err != nil {
			t.Error(err)
		}
		if w, _ := c.Written(); w != 1 {
			t.Errorf("written %d, want 1", w)
		}
	}()
}
