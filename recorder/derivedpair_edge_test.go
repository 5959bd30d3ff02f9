package recorder

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// sizedRT answers a call with a body as long as its request's, JSON or an event, different for every call (it says
// the request's id).
type sizedRT struct{ sse bool }

func (m sizedRT) RoundTrip(req *http.Request) (*http.Response, error) {
	b, _ := io.ReadAll(req.Body)
	req.Body.Close()
	s := string(b)
	id, _, _ := strings.Cut(strings.TrimPrefix(s, `{"jsonrpc":"2.0","id":`), ",")
	body := fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"result":{"content":[{"type":"text","text":"%s %s"}]}}`, id, id, strings.Repeat("y", len(s)))
	ct := "application/json"
	if m.sse {
		body, ct = "event: message\ndata: "+body+"\n\n", "text/event-stream"
	}
	return &http.Response{StatusCode: 200, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Content-Type": {ct}, "Content-Length": {strconv.Itoa(len(body))}},
		Body:          io.NopCloser(strings.NewReader(body)),
		ContentLength: int64(len(body)), Request: req}, nil
}

// Proxied calls whose records complete in pairs (the client's referring to the upstream copy's packed parts), with
// a capture file keeping the large bodies and a byte bound small enough that bodies are spilled and records
// forgotten: the store counts exactly what it holds, and every record it holds reads back as it was heard.
func TestDerivedPairsAtTheBoundWithACaptureFile(t *testing.T) {
	for _, sse := range []bool{false, true} {
		const n = 600
		s, c, _ := openCaptureStore(t, CaptureOptions{}, StoreOptions{MaxBytes: 192 << 10, PublishDelay: -1}, 1024)
		var mu sync.Mutex
		heard := map[uint64]*Exchange{}
		s.OnComplete(func(ex *Exchange) { mu.Lock(); heard[ex.ID] = ex; mu.Unlock() })
		rec := New(s, Options{})
		h := proxiedHandler(t, rec, &Transport{Base: sizedRT{sse: sse}, Recorder: rec, Derive: true})
		for i := range n {
			pad := strings.Repeat("x", []int{10, 300, 1500, 5000}[i%4])
			body := fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"echo","arguments":{"text":"%s"}}}`, i, pad)
			r := httptest.NewRequest("POST", "/mcp", strings.NewReader(body))
			r.ContentLength = int64(len(body))
			h.ServeHTTP(httptest.NewRecorder(), r)
			if i%25 == 24 {
				waitWritten(t, c, uint64(2*(i+1)))
				checkAccount(t, s)
			}
		}
		waitWritten(t, c, 2*n)
		checkAccount(t, s)
		st := s.Stats()
		if st.Evicted == 0 || st.Bytes > s.opts.MaxBytes {
			t.Errorf("sse %v: %+v", sse, st)
		}
		derivedHeld, spilled := 0, 0
		for _, ex := range s.Snapshot() {
			if ex.BodiesInFile() {
				spilled++
			}
			if ex.Kind == Outbound {
				derivedHeld++
			}
			mu.Lock()
			w := heard[ex.ID]
			mu.Unlock()
			checkPacked(t, fmt.Sprint("sse ", sse, " Get ", ex.ID), w, s.Get(ex.ID))
		}
		t.Logf("sse %v: %d held (%d upstream copies, %d without their bodies), %d forgotten", sse, st.Count, derivedHeld, spilled, st.Evicted)
		if derivedHeld == 0 || spilled == 0 {
			t.Errorf("sse %v: nothing the test is about", sse)
		}
	}
}

// piecesRT answers with memAnswer (JSON or an event) in pieces of 16 bytes, yielding between them.
type piecesRT struct{ sse bool }

type piecesBody struct {
	s string
	i int
}

func (p *piecesBody) Read(b []byte) (int, error) {
	if p.i >= len(p.s) {
		return 0, io.EOF
	}
	runtime.Gosched()
	n := copy(b[:min(len(b), 16)], p.s[p.i:])
	p.i += n
	return n, nil
}

func (p *piecesBody) Close() error { return nil }

func (m piecesRT) RoundTrip(req *http.Request) (*http.Response, error) {
	io.Copy(io.Discard, req.Body)
	req.Body.Close()
	body, ct := memAnswer, "application/json"
	if m.sse {
		body, ct = "event: message\ndata: "+memAnswer+"\n\nevent: message\ndata: "+memAnswer+"\n\n", "text/event-stream"
	}
	return &http.Response{StatusCode: 200, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Content-Type": {ct}},
		Body:          &piecesBody{s: body},
		ContentLength: -1, Request: req}, nil
}

// Upstream copies read (Get, SnapshotLast) while their answers come in pieces, most of them begun without a
// snapshot (Store.beginLazy): every id the store holds has a record, whole, in flight or completed — also in the
// moment between its end and its store call (live.final) — and some are read in flight (run with -race).
func TestUpstreamCopiesReadWhileAnswered(t *testing.T) {
	for _, sse := range []bool{false, true} {
		store := NewStore(StoreOptions{PublishDelay: -1, MaxCount: 256})
		rec := New(store, Options{})
		h := proxiedHandler(t, rec, &Transport{Base: piecesRT{sse: sse}, Recorder: rec, Derive: true})
		stop := make(chan struct{})
		var wg sync.WaitGroup
		var inFlight, reads atomic.Int64
		check := func(ex *Exchange) {
			if ex == nil {
				t.Errorf("sse %v: no record for an id the store holds", sse)
				return
			}
			reads.Add(1)
			if ex.Kind != Outbound {
				return
			}
			if ex.State != StateComplete {
				inFlight.Add(1)
			}
			if len(ex.Notes) != 1 || ex.Notes[0].Key != NoteInbound || ex.RespBody.Size < int64(len(ex.RespBody.Data)) {
				t.Errorf("sse %v: upstream copy %d read as %+v", sse, ex.ID, ex)
			}
			if ex.State == StateComplete && (len(ex.RPC) < 2 || string(ex.RespBody.Data) == "") {
				t.Errorf("sse %v: completed upstream copy %d read as %+v", sse, ex.ID, ex)
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				// the newest two ids are held (the count bound is far): each has a record, in flight or not
				if total := store.Stats().Total; total >= 2 {
					check(store.Get(total))
					check(store.Get(total - 1))
				}
				for _, ex := range store.SnapshotLast(4) {
					check(ex)
				}
			}
		}()
		body := `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo"}}`
		var calls sync.WaitGroup
		for range 3 {
			calls.Add(1)
			go func() {
				defer calls.Done()
				for range 200 {
					r := httptest.NewRequest("POST", "/mcp", strings.NewReader(body))
					r.ContentLength = int64(len(body))
					h.ServeHTTP(httptest.NewRecorder(), r)
				}
			}()
		}
		calls.Wait()
		close(stop)
		wg.Wait()
		checkAccount(t, store)
		t.Logf("sse %v: %d reads, %d of an upstream copy in flight", sse, reads.Load(), inFlight.Load())
		if inFlight.Load() == 0 {
			t.Errorf("sse %v: no upstream copy read in flight", sse)
		}
	}
}
