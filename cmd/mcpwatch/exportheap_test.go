package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/internal/testkit"
	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/recorder/export"
)

// heapWatch is an export's stdout that, every every writes, collects and notes the live heap's growth since it
// was made: what the export holds at that moment.
type heapWatch struct {
	base, most uint64
	every, n   int
}

func newHeapWatch(every int) *heapWatch {
	h := &heapWatch{every: every}
	h.base = liveHeap()
	return h
}

func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

func (h *heapWatch) Write(p []byte) (int, error) {
	h.n++
	if h.n%h.every == 0 {
		if l := liveHeap(); l > h.base {
			h.most = max(h.most, l-h.base)
		}
	}
	return len(p), nil
}

// `mcpwatch export FILE` holds a few exchanges at a time, however big the file: it reads each one's line again
// when it writes it. Loading the whole capture first (as before) held the 4,000 exchanges of 4 KiB bodies here
// at once: the live heap grew by more than the file's size during the export.
func TestExportOfAFileHoldsAFewExchangesAtATime(t *testing.T) {
	n := 4_000
	if testing.Short() || testkit.Race {
		n = 600
	}
	path := filepath.Join(t.TempDir(), "big.jsonl")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	bw := bufio.NewWriter(f)
	t0 := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	for i := range n {
		resp := fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"result":{"content":[{"type":"text","text":"%s"}]}}`, i, strings.Repeat("x", 4<<10))
		req := fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"echo"}}`, i)
		ex := &recorder.Exchange{ID: uint64(i + 1), Kind: recorder.Inbound, Method: "POST", URL: "/mcp", Host: "127.0.0.1:4000",
			Start:      t0.Add(time.Duration(i) * time.Millisecond),
			ReqHeaders: recorder.Headers{{Name: "Content-Type", Value: "application/json"}, {Name: "Authorization", Value: "Bearer at-SECRET-token-0001"}},
			ReqBody:    recorder.Body{Data: []byte(req), Size: int64(len(req))},
			Status:     200, RespHeaders: recorder.Headers{{Name: "Content-Type", Value: "application/json"}},
			RespBody: recorder.Body{Data: []byte(resp), Size: int64(len(resp))}, State: recorder.StateComplete,
		}
		if err := json.NewEncoder(bw).Encode(ex); err != nil {
			t.Fatal(err)
		}
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	st, _ := os.Stat(path)
	for _, format := range []string{"jsonl", "har"} {
		out := newHeapWatch(200)
		var errOut strings.Builder
		if err := cmdExport(t.Context(), &exportFlags{format: format}, []string{path}, out, &errOut); err != nil {
			t.Fatalf("%s: %v (%s)", format, err, errOut.String())
		}
		// What the export may keep of each exchange between its passes is a few dozen bytes; the file is 4.6 KiB
		// an exchange. A tenth of the file and a MiB are room for that, the encoders' buffers and the collector's
		// slack.
		if bound := uint64(st.Size())/10 + 1<<20; out.most > bound {
			t.Errorf("%s: the live heap grew by %d KiB during the export of a %d KiB capture (at most %d KiB)", format, out.most>>10, st.Size()>>10, bound>>10)
		}
		t.Logf("%s: the live heap grew by at most %d KiB during the export of a %d KiB capture of %d exchanges", format, out.most>>10, st.Size()>>10, n)
	}
}

// A capture line that no longer reads when the export reads it again (the file was changed meanwhile) fails the
// export, and --out's old file stays as it was.
func TestExportOfAFileThatChangesFails(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "capture.jsonl")
	data, err := os.ReadFile(fixture)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	src, _, _, err := captureExchanges(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	// The file is rewritten in place: the lines' places no longer hold them.
	if err := os.WriteFile(path, bytes.Repeat([]byte("x"), len(data)), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.har")
	if err := os.WriteFile(out, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = export.WriteFileFrom(out, export.HAR, src, export.Options{})
	if err == nil || !strings.Contains(err.Error(), "changed while it was exported") {
		t.Fatalf("the export of a changed file: %v", err)
	}
	if b, _ := os.ReadFile(out); string(b) != "old" {
		t.Errorf("the old file was replaced: %.40q", b)
	}
}
