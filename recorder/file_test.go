package recorder

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func sampleExchange(id uint64) *Exchange {
	code := -32601
	return &Exchange{
		ID: id, Kind: Inbound, State: StateComplete,
		Start:      time.Date(2026, 7, 28, 10, 0, 0, int(id)*1000, time.UTC),
		Timings:    Timings{Wait: 3 * time.Millisecond, Total: 5 * time.Millisecond},
		RemoteAddr: "127.0.0.1:5555", Method: "POST", URL: "/mcp", Host: "localhost:4000", Proto: "HTTP/1.1",
		ReqHeaders:  Headers{{"Content-Type", "application/json"}, {"X-Dup", "1"}, {"x-dup", "2"}},
		ReqBody:     Body{Data: []byte(`{"jsonrpc":"2.0","id":1,"method":"nope"}`), Size: 40},
		Status:      200,
		RespHeaders: Headers{{"Content-Type", "text/event-stream"}},
		RespBody:    Body{Data: []byte{0xff, 0x00, 'x'}, Size: 9, Truncated: true},
		Events:      []SSEEvent{{At: time.Millisecond, ID: "1", Event: "message", Data: "a\nb", Retry: 10}},
		RPC:         []RPC{{From: FromServer, ID: json.RawMessage("1"), ErrorCode: &code, ErrorMessage: "no", IsResponse: true, ReplyTo: "nope", Event: 0}},
		Toggles:     []ToggleChange{{Name: "f", What: "status", Before: "200", After: "500"}},
		Notes:       []Note{{Key: "era", Value: "legacy"}},
	}
}

func TestCaptureFileRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "dir", "c.jsonl")
	c, err := OpenCapture(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.Path() != path {
		t.Errorf("path %s", c.Path())
	}
	want := []*Exchange{sampleExchange(1), sampleExchange(2)}
	want[1].ReqBody = Body{} // an empty body round-trips as empty text
	for _, ex := range want {
		c.Append(ex)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Written(); n != 2 || err != nil {
		t.Errorf("written %d err %v", n, err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	c.Append(sampleExchange(3)) // after Close: ignored, no panic
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o600 {
		t.Errorf("capture file mode %v: captures hold secrets", st.Mode().Perm())
	}
	res, err := LoadCapture(path)
	if err != nil {
		t.Fatal(err)
	}
	if res.TornTail || len(res.Skipped) != 0 || len(res.Exchanges) != 2 {
		t.Fatalf("load: torn %v skipped %v n %d", res.TornTail, res.Skipped, len(res.Exchanges))
	}
	for i := range want {
		got := res.Exchanges[i]
		if want[i].ReqBody.Data == nil {
			want[i].ReqBody.Data = []byte{}
		}
		if !got.Start.Equal(want[i].Start) {
			t.Errorf("start %v", got.Start)
		}
		got.Start = want[i].Start
		if !reflect.DeepEqual(got, want[i]) {
			g, _ := json.Marshal(got)
			w, _ := json.Marshal(want[i])
			t.Errorf("exchange %d\n got %s\nwant %s", i, g, w)
		}
	}
	// One complete exchange per line.
	data, _ := os.ReadFile(path)
	if lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n"); len(lines) != 2 {
		t.Errorf("%d lines", len(lines))
	}
}

func TestCaptureFileCloseDrainsTheQueue(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.jsonl")
	c, err := OpenCapture(path)
	if err != nil {
		t.Fatal(err)
	}
	const n = 2000
	for i := range n {
		c.Append(sampleExchange(uint64(i + 1)))
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	res, err := LoadCapture(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Exchanges) != n {
		t.Fatalf("%d of %d exchanges on disk after Close", len(res.Exchanges), n)
	}
	for i, ex := range res.Exchanges {
		if ex.ID != uint64(i+1) {
			t.Fatalf("line %d holds exchange %d", i+1, ex.ID)
		}
	}
}

func TestCaptureFileFedByTheStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.jsonl")
	c, err := OpenCapture(path)
	if err != nil {
		t.Fatal(err)
	}
	s := NewStore(StoreOptions{MaxCount: 2}) // the ring forgets; the file must not
	s.OnComplete(c.Append)
	for range 10 {
		s.Add(&Exchange{Method: "GET"})
	}
	c.Close()
	res, _ := LoadCapture(path)
	if len(res.Exchanges) != 10 {
		t.Errorf("%d exchanges in the file", len(res.Exchanges))
	}
}

func line(t *testing.T, ex *Exchange) string {
	b, err := json.Marshal(ex)
	if err != nil {
		t.Fatal(err)
	}
	return string(b) + "\n"
}

func TestReadCaptureToleratesATornLastLine(t *testing.T) {
	full := line(t, sampleExchange(1)) + line(t, sampleExchange(2))
	torn := line(t, sampleExchange(3))
	res, err := ReadCapture(strings.NewReader(full + torn[:len(torn)/2]))
	if err != nil {
		t.Fatal(err)
	}
	if !res.TornTail || len(res.Skipped) != 0 || len(res.Exchanges) != 2 {
		t.Errorf("torn %v skipped %v n %d", res.TornTail, res.Skipped, len(res.Exchanges))
	}
	// A complete last line without its newline is not torn.
	res, _ = ReadCapture(strings.NewReader(full + strings.TrimSuffix(torn, "\n")))
	if res.TornTail || len(res.Exchanges) != 3 {
		t.Errorf("unterminated complete line: torn %v n %d", res.TornTail, len(res.Exchanges))
	}
}

// A capture written before the toggles' key was "toggles" (it was "faults") opens with its toggles; a line is
// written with the new key.
func TestReadCaptureAcceptsTheOldFaultsKey(t *testing.T) {
	old := `{"id":7,"kind":"inbound","state":"complete","start":"2026-11-25T18:54:06Z","timings":{"wait":0,"total":0},` +
		`"method":"POST","url":"/mcp","requestHeaders":[],"requestBody":{"size":0},"status":200,"responseHeaders":[],` +
		`"responseBody":{"size":0},"faults":[{"name":"omit-session-id","what":"response header Mcp-Session-Id","before":"S1"}]}` + "\n"
	res, err := ReadCapture(strings.NewReader(old + line(t, sampleExchange(8))))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Exchanges) != 2 || len(res.Skipped) != 0 {
		t.Fatalf("n %d skipped %v", len(res.Exchanges), res.Skipped)
	}
	want := []ToggleChange{{Name: "omit-session-id", What: "response header Mcp-Session-Id", Before: "S1"}}
	if got := res.Exchanges[0].Toggles; !reflect.DeepEqual(got, want) {
		t.Errorf("old line's toggles %+v, want %+v", got, want)
	}
	if got, want := res.Exchanges[1].Toggles, sampleExchange(8).Toggles; len(want) == 0 || !reflect.DeepEqual(got, want) {
		t.Errorf("new line's toggles %+v, want %+v", got, want)
	}
	if l := line(t, sampleExchange(8)); !strings.Contains(l, `"toggles":[`) || strings.Contains(l, `"faults"`) {
		t.Errorf("a line is written with the key toggles: %s", l)
	}
}

func TestReadCaptureSkipsAndListsACorruptMiddleLine(t *testing.T) {
	in := line(t, sampleExchange(1)) + "{\"id\": 2, garbage\n" + "\n" + line(t, sampleExchange(4)) + "not json\n" + line(t, sampleExchange(6))
	res, err := ReadCapture(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(res.Skipped) != "[2 5]" || res.TornTail || len(res.Exchanges) != 3 {
		t.Errorf("skipped %v torn %v n %d", res.Skipped, res.TornTail, len(res.Exchanges))
	}
	if ids(res.Exchanges) != "1 4 6" {
		t.Errorf("ids %s", ids(res.Exchanges))
	}
}

func TestReadCaptureLongLines(t *testing.T) {
	ex := sampleExchange(1)
	ex.RespBody = Body{Data: bytes.Repeat([]byte("z"), 300<<10), Size: 300 << 10} // longer than the reader's buffer
	res, err := ReadCapture(strings.NewReader(line(t, ex) + line(t, sampleExchange(2))))
	if err != nil || len(res.Exchanges) != 2 || len(res.Exchanges[0].RespBody.Data) != 300<<10 {
		t.Fatalf("err %v n %d", err, len(res.Exchanges))
	}
}

func TestLoadCaptureMissingFile(t *testing.T) {
	_, err := LoadCapture(filepath.Join(t.TempDir(), "nope.jsonl"))
	if err == nil || !os.IsNotExist(unwrapAll(err)) {
		t.Errorf("err %v", err)
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		err = u.Unwrap()
	}
}

func TestReopenAfterATornLineAppendsCleanly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.jsonl")
	torn := line(t, sampleExchange(2))
	if err := os.WriteFile(path, []byte(line(t, sampleExchange(1))+torn[:20]), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := OpenCapture(path)
	if err != nil {
		t.Fatal(err)
	}
	c.Append(sampleExchange(3))
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	res, err := LoadCapture(path)
	if err != nil {
		t.Fatal(err)
	}
	// The torn record is now a damaged middle line, listed; the new record is intact on its own line.
	if ids(res.Exchanges) != "1 3" || fmt.Sprint(res.Skipped) != "[2]" || res.TornTail {
		t.Errorf("ids %s skipped %v torn %v", ids(res.Exchanges), res.Skipped, res.TornTail)
	}
	// Reopening a clean file adds nothing.
	before, _ := os.ReadFile(path)
	c, err = OpenCapture(path)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Error("reopening a clean capture changed it")
	}
}

func TestCaptureFileWriteErrorIsReported(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.jsonl")
	c, err := OpenCapture(path)
	if err != nil {
		t.Fatal(err)
	}
	c.f.Close() // the disk goes away under the writer
	c.Append(sampleExchange(1))
	if err := c.Close(); err == nil {
		t.Error("Close hid a write error")
	}
	if _, err := c.Written(); err == nil {
		t.Error("Written hid a write error")
	}
}

func TestCaptureFileWritesEachLineAtOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.jsonl")
	c, err := OpenCapture(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range 3 {
		c.Append(sampleExchange(uint64(i + 1)))
		// No Close, no other line: the writer takes it at once (a crash then loses nothing).
		// Written counts a line once its write returned, a moment after its bytes are in the file.
		waitFor(t, func() bool {
			res, err := LoadCapture(path)
			n, _ := c.Written()
			return err == nil && len(res.Exchanges) == i+1 && !res.TornTail && n == uint64(i+1)
		})
	}
}

// stalledCapture is a capture file whose "disk" is a pipe nobody reads until release is called.
func stalledCapture(t *testing.T) (c *CaptureFile, release func() []byte) {
	t.Helper()
	c, err := OpenCapture(filepath.Join(t.TempDir(), "c.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	c.f.Close()
	c.f = pw
	got := make(chan []byte, 1)
	var once bool
	return c, func() []byte {
		if once {
			t.Fatal("released twice")
		}
		once = true
		go func() { b, _ := io.ReadAll(pr); got <- b }()
		if err := c.Close(); err != nil {
			t.Error(err)
		}
		return <-got
	}
}

func bigExchange(id uint64, size int) *Exchange {
	ex := sampleExchange(id)
	ex.RespBody = Body{Data: bytes.Repeat([]byte("x"), size), Size: int64(size)}
	return ex
}

func TestCaptureFileAppendDuringAStalledWriteReturnsAndKeepsOrder(t *testing.T) {
	c, release := stalledCapture(t)
	// The first line is more than a pipe holds: the writer's write blocks, as on a stalled disk. The append itself
	// returned: appends do no IO.
	c.Append(bigExchange(1, 256<<10))
	waitFor(t, func() bool { c.mu.Lock(); defer c.mu.Unlock(); return c.writing })
	// Appends during the write return at once: their lines join the next group.
	for id := uint64(2); id <= 50; id++ {
		done := make(chan struct{})
		go func() { c.Append(sampleExchange(id)); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("append %d waited for the stalled write", id)
		}
	}
	data := release()
	res, err := ReadCapture(bytes.NewReader(data))
	if err != nil || res.TornTail || len(res.Skipped) > 0 {
		t.Fatalf("capture: %v, torn %v, skipped %v", err, res.TornTail, res.Skipped)
	}
	if len(res.Exchanges) != 50 {
		t.Fatalf("%d of 50 exchanges written", len(res.Exchanges))
	}
	for i, ex := range res.Exchanges {
		if ex.ID != uint64(i+1) {
			t.Fatalf("line %d holds exchange %d", i+1, ex.ID)
		}
	}
}

func TestCaptureFileWaitsWhenTooMuchIsPending(t *testing.T) {
	c, release := stalledCapture(t)
	c.mu.Lock()
	c.bound = 1 << 20
	c.mu.Unlock()
	c.Append(bigExchange(1, 256<<10)) // the writer blocks in its write
	waitFor(t, func() bool { c.mu.Lock(); defer c.mu.Unlock(); return c.writing })
	// Fill what may wait behind the stalled write (16 lines of just over 64 KiB); the next one must wait, not grow
	// the buffer. It is written in the end: Close waits for it.
	const size = 64 << 10
	n := int(c.bound / size)
	for id := range n {
		c.Append(bigExchange(uint64(id+2), size))
	}
	over := make(chan struct{})
	go func() { c.Append(sampleExchange(uint64(n + 2))); close(over) }()
	select {
	case <-over:
		t.Fatalf("an append beyond %d pending bytes did not wait (%d pending)", c.bound, len(c.pending))
	case <-time.After(200 * time.Millisecond):
	}
	data := release()
	<-over
	res, err := ReadCapture(bytes.NewReader(data))
	if err != nil || len(res.Exchanges) != n+2 {
		t.Fatalf("%v: %d of %d exchanges written", err, len(res.Exchanges), n+2)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 10 s")
		}
		time.Sleep(time.Millisecond)
	}
}

// shortWriter fails its first write halfway, as a full disk does, then writes whole.
type shortWriter struct {
	bytes.Buffer
	failed bool
}

func (w *shortWriter) Write(p []byte) (int, error) {
	if !w.failed {
		w.failed = true
		n, _ := w.Buffer.Write(p[:len(p)/2])
		return n, syscall.ENOSPC
	}
	return w.Buffer.Write(p)
}

func (w *shortWriter) Close() error { return nil }

// After a write cut short, the next lines start on a line of their own: the torn one is lost, not the next.
func TestCaptureFileAfterAShortWrite(t *testing.T) {
	c, err := OpenCapture(filepath.Join(t.TempDir(), "c.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	w := &shortWriter{}
	c.mu.Lock()
	c.f.Close()
	c.f = w
	c.mu.Unlock()
	c.Append(sampleExchange(1))
	waitFor(t, func() bool { _, err := c.Written(); return err != nil })
	c.Append(sampleExchange(2))
	c.Append(sampleExchange(3))
	if err := c.Close(); err == nil || !strings.Contains(err.Error(), "no space") {
		t.Errorf("Close: %v", err)
	}
	res, err := ReadCapture(bytes.NewReader(w.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	var ids []uint64
	for _, ex := range res.Exchanges {
		ids = append(ids, ex.ID)
	}
	if !reflect.DeepEqual(ids, []uint64{2, 3}) || len(res.Skipped) != 1 {
		t.Errorf("exchanges %v, skipped lines %v: want 2 and 3 whole, the torn first line skipped", ids, res.Skipped)
	}
	if n, _ := c.Written(); n != 2 {
		t.Errorf("Written = %d, want 2", n)
	}
}

// An append that comes after Close is counted, not silently lost.
func TestCaptureFileCountsLateAppends(t *testing.T) {
	c, err := OpenCapture(filepath.Join(t.TempDir(), "c.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	c.Append(sampleExchange(1))
	if c.Late() != 1 {
		t.Errorf("Late = %d", c.Late())
	}
}

// The writer encodes the lines: a record json.Marshal refuses too (a year past 9999) is left out and reported, and
// the lines around it are written whole, in order.
func TestCaptureFileLeavesOutWhatCannotBeEncoded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.jsonl")
	c, err := OpenCapture(path)
	if err != nil {
		t.Fatal(err)
	}
	bad := sampleExchange(2)
	bad.Start = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, ex := range []*Exchange{sampleExchange(1), bad, sampleExchange(3)} {
		c.Append(ex)
	}
	if err := c.Close(); err == nil || !strings.Contains(err.Error(), "encode exchange 2") {
		t.Fatalf("Close: %v, want the encoding error of exchange 2", err)
	}
	if n, _ := c.Written(); n != 2 {
		t.Fatalf("%d written, want 2", n)
	}
	res, err := LoadCapture(path)
	if err != nil || res.TornTail || len(res.Skipped) > 0 || len(res.Exchanges) != 2 {
		t.Fatalf("capture: %v, torn %v, skipped %v, %d exchanges", err, res.TornTail, res.Skipped, len(res.Exchanges))
	}
	if res.Exchanges[0].ID != 1 || res.Exchanges[1].ID != 3 {
		t.Fatalf("ids %d, %d; want 1, 3", res.Exchanges[0].ID, res.Exchanges[1].ID)
	}
}

// countingFile counts the write calls a capture makes.
type countingFile struct {
	mu     sync.Mutex
	writes int
	bytes.Buffer
}

func (w *countingFile) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes++
	return w.Buffer.Write(p)
}

func (w *countingFile) Close() error { return nil }

// Exchanges completing one after another share the writer's wake-ups and write calls: it lets a group gather
// for captureGather rather than waking (and writing) for each. 100 appends 200 µs apart: a write call each before
// (the writer keeps up), one per captureGather now.
func TestCaptureFileGathersGroups(t *testing.T) {
	c, err := OpenCapture(filepath.Join(t.TempDir(), "c.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	c.f.Close()
	w := &countingFile{}
	c.f = w
	const n = 100
	start := time.Now()
	for i := range n {
		c.Append(sampleExchange(uint64(i + 1)))
		for t0 := time.Now(); time.Since(t0) < 200*time.Microsecond; {
			runtime.Gosched() // the writer may run here
		}
	}
	elapsed := time.Since(start)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(w.String(), "\n"); got != n {
		t.Fatalf("%d lines written, want %d", got, n)
	}
	t.Logf("%d write calls for %d lines in %v", w.writes, n, elapsed)
	if limit := min(n/2, int(elapsed/captureGather)+2); w.writes > limit {
		t.Errorf("%d write calls for %d lines in %v (want at most %d): the writer woke for each rather than gathering them",
			w.writes, n, elapsed, limit)
	}
}

// The writer counts the lines it wrote from what it encoded, without reading the written bytes again for their
// newlines (they were counted so, a second pass over every byte of the capture); only a write cut short is looked
// at again. A line too big for the file and a torn line before a group are counted as before.
func TestCaptureFileCountsLinesWithoutReadingThemAgain(t *testing.T) {
	c, err := OpenCaptureWith(filepath.Join(t.TempDir(), "c.jsonl"), CaptureOptions{MaxSize: 8 << 10})
	if err != nil {
		t.Fatal(err)
	}
	big := sampleExchange(1000)
	big.RespBody = Body{Data: bytes.Repeat([]byte("x"), 16<<10), Size: 16 << 10}
	for i := range 50 {
		c.Append(sampleExchange(uint64(i + 1)))
		if i == 20 {
			c.Append(big)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if n, _ := c.Written(); n != 50 {
		t.Errorf("Written = %d, want 50", n)
	}
	if _, tooBig := c.Dropped(); tooBig != 1 {
		t.Errorf("too big = %d, want 1", tooBig)
	}
	if c.recounted != 0 {
		t.Errorf("%d bytes written were read again for their newlines, want none", c.recounted)
	}
}
