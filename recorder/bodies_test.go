package recorder

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// waitWritten waits (bounded) until the capture wrote n exchanges: the writer reports the bodies' places before it
// counts the lines.
func waitWritten(t testing.TB, c *CaptureFile, n uint64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		w, err := c.Written()
		if err != nil {
			t.Fatal(err)
		}
		if w >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the capture wrote %d of %d exchanges", w, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// bigBody is a body of n bytes that says which exchange it belongs to: text, or binary (base64 in the line).
func bigBody(id uint64, side, n int, binary bool) []byte {
	var seed [32]byte
	seed[0], seed[1], seed[2] = byte(id), byte(id>>8), byte(side)
	b := make([]byte, n)
	rand.NewChaCha8(seed).Read(b)
	if !binary {
		for i, c := range b {
			b[i] = "abc\"\\<>&\n\x01é"[c%12]
		}
	}
	if !binary {
		b = bytes.ToValidUTF8(b, []byte("?"))
	}
	return b
}

// largeExchange is a tools/call whose request and response bodies are large, its event's data a run of the body.
func largeExchange(id uint64, reqN, respN int, binary bool) *Exchange {
	ex := benchExchange()
	ex.ID = id
	ex.ReqBody = Body{Data: bigBody(id, 0, reqN, binary), Size: int64(reqN)}
	resp := bigBody(id, 1, respN, binary)
	ex.RespBody = Body{Data: resp, Size: int64(respN) + 7, Truncated: true}
	ex.Events = []SSEEvent{{At: 5, Data: string(resp[min(3, len(resp)):min(len(resp), 3+respN/2)])}}
	ex.RPC[0].ID = []byte(`"` + fmt.Sprint(id) + `"`)
	return ex
}

func openCaptureStore(t testing.TB, opts CaptureOptions, sopts StoreOptions, min int) (*Store, *CaptureFile, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "capture.jsonl")
	c, err := OpenCaptureWith(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	s := NewStore(sopts)
	s.useCapture(c, min)
	return s, c, path
}

// With a capture file, a large body is held in memory only until its line is written: the store then counts (and
// holds) the records without their bodies, and Get reads them back equal to what was recorded. Without a capture
// file the store holds them all.
func TestLargeBodiesLeaveMemoryOnceWritten(t *testing.T) {
	const n, size = 1000, 16 << 10
	want := func(i int) *Exchange { return largeExchange(uint64(i+1), size, size, i%2 == 0) }
	before := liveHeap()
	s, c, _ := openCaptureStore(t, CaptureOptions{}, StoreOptions{}, FileBodyMin)
	for i := range n {
		s.Add(want(i))
	}
	waitWritten(t, c, n)
	heap := liveHeap() - before
	mem := NewStore(StoreOptions{})
	for i := range n {
		mem.Add(want(i))
	}
	inFile, inMem := s.Stats().Bytes, mem.Stats().Bytes
	t.Logf("%d exchanges of two %d-byte bodies: the store counts %d B with the capture file (%d B of heap, the capture's buffers included), %d B without",
		n, size, inFile, heap, inMem)
	if inMem < n*2*size || inFile > inMem/10 || heap > inMem/3 {
		t.Errorf("with the capture file the store counts %d B and holds %d B of heap; without it, %d B", inFile, heap, inMem)
	}
	for i := range n {
		got := s.Get(uint64(i + 1))
		checkPacked(t, fmt.Sprint("Get ", i), want(i), got)
	}
	snap := s.Snapshot()
	for i, ex := range snap {
		want := want(i)
		if !ex.BodiesInFile() || ex.ReqBody.Data != nil || ex.RespBody.Size != want.RespBody.Size || string(ex.RPC[0].ID) != string(want.RPC[0].ID) {
			t.Fatalf("snapshot %d: in file %v, request body %d bytes, response size %d, id %s", i, ex.BodiesInFile(), len(ex.ReqBody.Data), ex.RespBody.Size, ex.RPC[0].ID)
		}
		checkPacked(t, fmt.Sprint("WithBodies ", i), want, ex.WithBodies())
	}
}

// Over random sizes around the threshold, text and binary, with the file rotating in between and rotation
// deleting the oldest files: a body reads back equal while its file exists, and as absent with a note (its size
// still known) once rotation deleted it. Bodies below the threshold stay in memory.
func TestFileBodiesReadBackAcrossRotation(t *testing.T) {
	const min = 1 << 10
	s, c, path := openCaptureStore(t, CaptureOptions{MaxSize: 96 << 10, Keep: 2}, StoreOptions{}, min)
	r := rand.New(rand.NewPCG(7, 8))
	g := &gen{r: r}
	var want []*Exchange
	for i := range 400 {
		ex := g.exchange()
		sizes := [...]int{min - 1, min, min + 1, r.IntN(3 * min), r.IntN(8 * min), 0}
		for side, b := range [2]*Body{&ex.ReqBody, &ex.RespBody} {
			n := sizes[r.IntN(len(sizes))]
			b.Data = bigBody(uint64(i), side, n, r.IntN(2) == 0)
			if r.IntN(3) == 0 {
				b.Data = b.Data[:len(b.Data):len(b.Data)]
			}
		}
		for i := range ex.RPC {
			if len(ex.RPC[i].ID) > 0 && !json.Valid(ex.RPC[i].ID) {
				ex.RPC[i].ID = []byte(`"x"`) // what json.Marshal refuses is not written
			}
		}
		if len(ex.RespBody.Data) > 4 {
			ex.Events = append(ex.Events, SSEEvent{At: 1, Data: string(ex.RespBody.Data[1:4])})
		}
		ex.ID, ex.State = s.Add(ex), StateComplete
		want = append(want, ex)
		if i%50 == 49 {
			waitWritten(t, c, uint64(i+1)) // reads back while the writer goes on
			got := s.Get(ex.ID)
			checkPacked(t, fmt.Sprint("Get at once ", i), ex, got)
		}
	}
	waitWritten(t, c, uint64(len(want)))
	onDisk := map[uint64]bool{}
	for _, p := range append([]string{path}, c.RotatedPaths()...) {
		res, err := LoadCapture(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, ex := range res.Exchanges {
			onDisk[ex.ID] = true
		}
	}
	rotatedOut, _ := c.Dropped()
	var back, gone int
	for _, ex := range want {
		got := s.Get(ex.ID)
		note := got.Note(NoteBody)
		big := len(ex.ReqBody.Data) >= min || len(ex.RespBody.Data) >= min
		switch {
		case note == "":
			// on disk, or small, or never written (a line larger than MaxSize: its bodies stay in memory)
			checkPacked(t, fmt.Sprint("Get ", ex.ID), ex, got)
			back++
		case onDisk[ex.ID] || !big:
			t.Fatalf("exchange %d: its line is on disk (%v) or its bodies small, but %q", ex.ID, onDisk[ex.ID], note)
		default:
			if !strings.Contains(note, "deleted by rotation") || got.RespBody.Size != ex.RespBody.Size || got.ReqBody.Size != ex.ReqBody.Size {
				t.Fatalf("exchange %d: rotated out, read back with note %q, sizes %d %d", ex.ID, note, got.ReqBody.Size, got.RespBody.Size)
			}
			for side, b := range [2]Body{got.ReqBody, got.RespBody} {
				wb := [2]Body{ex.ReqBody, ex.RespBody}[side]
				if len(wb.Data) >= min && b.Data != nil || len(wb.Data) < min && !bytes.Equal(b.Data, wb.Data) {
					t.Fatalf("exchange %d side %d: %d bytes read back, want %d", ex.ID, side, len(b.Data), len(wb.Data))
				}
			}
			gone++
		}
	}
	t.Logf("rotated out %d exchanges; %d read back, %d gone with their file", rotatedOut, back, gone)
	if rotatedOut == 0 || gone == 0 || back < 100 {
		t.Errorf("rotated out %d; %d read back, %d gone", rotatedOut, back, gone)
	}
	c.rmu.RLock()
	handles := len(c.rfiles)
	c.rmu.RUnlock()
	if handles > 3 {
		t.Errorf("%d read handles open for a capture of 3 files", handles)
	}
}

// A capture file cut short, or changed, under the store: the bodies read back as absent with a note, never a
// panic; and once the capture is closed too.
func TestFileBodiesOfADamagedFile(t *testing.T) {
	for _, damage := range []string{"truncated", "changed", "closed"} {
		t.Run(damage, func(t *testing.T) {
			s, c, path := openCaptureStore(t, CaptureOptions{}, StoreOptions{}, 1<<10)
			const n = 20
			want := make([]*Exchange, n)
			for i := range n {
				want[i] = largeExchange(uint64(i+1), 4<<10, 4<<10, i%2 == 0)
				s.Add(want[i])
			}
			waitWritten(t, c, n)
			st, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			switch damage {
			case "truncated":
				if err := os.Truncate(path, st.Size()/2); err != nil {
					t.Fatal(err)
				}
			case "changed":
				f, err := os.OpenFile(path, os.O_WRONLY, 0)
				if err != nil {
					t.Fatal(err)
				}
				junk := bytes.Repeat([]byte("\x00}{\""), int(st.Size()/4))
				if _, err := f.WriteAt(junk, 0); err != nil {
					t.Fatal(err)
				}
				f.Close()
			case "closed":
				c.Close()
			}
			noted := 0
			for id := uint64(1); id <= n; id++ {
				got := s.Get(id)
				note := got.Note(NoteBody)
				switch {
				case note == "":
					checkPacked(t, fmt.Sprint(id), want[id-1], got)
				case got.RespBody.Data != nil || got.RespBody.Size != 4<<10+7:
					t.Fatalf("exchange %d: %d bytes read back, size %d, note %q", id, len(got.RespBody.Data), got.RespBody.Size, note)
				default:
					noted++
				}
			}
			if noted < n/3 || damage != "truncated" && noted != n {
				t.Errorf("%d of %d exchanges with a note", noted, n)
			}
			t.Logf("%s: %s", damage, s.Get(n).Notes)
		})
	}
}

// Readers (Get, Snapshot then WithBodies) while the writer writes and rotates (go test -race): every body reads
// back as what was recorded, or as absent with a note once its file is deleted.
func TestFileBodiesReadersRaceTheWriter(t *testing.T) {
	const min, size = 512, 2 << 10
	s, c, _ := openCaptureStore(t, CaptureOptions{MaxSize: 32 << 10, Keep: 1}, StoreOptions{MaxBytes: 1 << 20}, min)
	const n = 1500
	done := make(chan struct{})
	var wg sync.WaitGroup
	check := func(ex *Exchange) {
		if ex == nil {
			return
		}
		if ex.Note(NoteBody) != "" {
			if ex.RespBody.Data != nil || ex.RespBody.Size != size+7 {
				t.Errorf("exchange %d: note %q with %d bytes", ex.ID, ex.Note(NoteBody), len(ex.RespBody.Data))
			}
			return
		}
		if !bytes.Equal(ex.RespBody.Data, bigBody(ex.ID, 1, size, ex.ID%2 == 0)) {
			t.Errorf("exchange %d: its body reads back different (%d bytes)", ex.ID, len(ex.RespBody.Data))
		}
	}
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(1, 1))
			for {
				select {
				case <-done:
					return
				default:
				}
				st := s.Stats()
				if st.Total > 0 {
					check(s.Get(1 + uint64(r.IntN(int(st.Total)))))
				}
				if r.IntN(50) == 0 {
					for _, ex := range s.Snapshot() {
						if r.IntN(20) == 0 {
							check(ex.WithBodies())
						}
					}
				}
			}
		}()
	}
	for i := range n {
		s.Add(largeExchange(uint64(i+1), 100, size, (i+1)%2 == 0))
	}
	waitWritten(t, c, n)
	close(done)
	wg.Wait()
	if out, _ := c.Dropped(); out == 0 {
		t.Error("nothing rotated out")
	}
}

// BenchmarkStoreGetBody: Get of a record whose response body is in memory (memory) or read back from the capture
// file (file), for bodies around the threshold: what reading back costs against what it saves.
//
//	go test ./recorder -run '^$' -bench StoreGetBody -benchmem
func BenchmarkStoreGetBody(b *testing.B) {
	for _, size := range []int{1 << 10, 4 << 10, 16 << 10, 64 << 10} {
		for _, where := range []string{"memory", "file"} {
			b.Run(fmt.Sprintf("%s/%dKiB", where, size>>10), func(b *testing.B) {
				s := NewStore(StoreOptions{})
				var c *CaptureFile
				if where == "file" {
					s, c, _ = openCaptureStore(b, CaptureOptions{}, StoreOptions{}, 1<<10)
				}
				const n = 64
				for i := range n {
					ex := largeExchange(uint64(i+1), 100, size, false)
					ex.RespBody.Data = jsonBody(i, size) // JSON, as servers answer: few escapes
					s.Add(ex)
				}
				if c != nil {
					waitWritten(b, c, n)
				}
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					i++
					if ex := s.Get(uint64(1 + i%n)); len(ex.RespBody.Data) != size {
						b.Fatalf("%d bytes", len(ex.RespBody.Data))
					}
				}
			})
		}
	}
}

// decodeBody reads back what appendBody wrote, byte for byte, as Body.UnmarshalJSON does (text and base64, every
// escape), and refuses what appendBody does not write rather than guess.
func FuzzDecodeBody(f *testing.F) {
	f.Add([]byte(`{"jsonrpc":"2.0","result":{"text":"<a&b>\u2028\n\t\"q\"\\"}}`))
	f.Add([]byte{0xff, 0, 1, 2})
	f.Add([]byte("é\x01\x1f\x7f\u2029"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, truncated := range []bool{false, true} {
			b := Body{Data: data, Size: int64(len(data)) + 3, Truncated: truncated}
			js := appendBody(nil, &b)
			got, ok := decodeBody(js, uint32(len(data)))
			if !ok || !bytes.Equal(got, data) || got == nil {
				t.Fatalf("%q: decoded %q %v from %s", data, got, ok, js)
			}
		}
		// anything else: never a panic, and what it accepts json accepts the same
		if got, ok := decodeBody(data, 1<<20); ok {
			var b Body
			if err := b.UnmarshalJSON(data); err != nil || !bytes.Equal(b.Data, got) {
				t.Fatalf("%q: decoded %q, encoding/json %q %v", data, got, b.Data, err)
			}
		}
	})
}

func TestDecodeBodyRefusesWhatJSONRefuses(t *testing.T) {
	for _, js := range []string{`{"text":"","size":}`, `{"text":"","size":01}`, `{"text":"","size":1,}`, `{"text":"a` + "\x01" + `","size":1}`,
		`{"text":"\x","size":1}`, `{"base64":"!!","size":1}`, `{"text":"","size":1}x`, `{"text":"\u12","size":1}`} {
		if got, ok := decodeBody([]byte(js), 10); ok {
			t.Errorf("%s: decoded %q", js, got)
		}
	}
	for _, js := range []string{`{"text":"","size":0}`, `{"text":"\ud83d\ude00","size":4}`, `{"size":3,"text":"abc"}`} {
		if _, ok := decodeBody([]byte(js), 10); !ok {
			t.Errorf("%s: refused", js)
		}
	}
}

// jsonBody is a tools/list result of about n bytes (exactly n), different for each i.
func jsonBody(i, n int) []byte {
	b := fmt.Appendf(nil, `{"jsonrpc":"2.0","id":%d,"result":{"tools":[`, i)
	for k := 0; len(b) < n-64; k++ {
		b = fmt.Appendf(b, `{"name":"tool-%d","description":"Does thing %d of the \"set\" <fast>","inputSchema":{"type":"object"}},`, k, i)
	}
	b = append(b, `{"name":"last"}]}}`...)
	for len(b) < n {
		b = append(b, ' ')
	}
	return b[:n]
}
