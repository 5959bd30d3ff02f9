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
	"time"
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
//
// The reader takes the newest id (Stats) and reads it (Get) under two locks: between them it may be held off its
// core for a scheduler's time slice (10 ms; 8 ms measured, the callers recording 362 exchanges meanwhile), and the
// id it took may be evicted by the count bound before it reads it. A nil Get is a defect only for an id the store
// still holds after it (ids are evicted oldest first and never come back); once in every run the reader waits,
// before its Get, until the callers recorded past the count bound, so that the read of an evicted id is checked too.
func TestUpstreamCopiesReadWhileAnswered(t *testing.T) {
	for _, sse := range []bool{false, true} {
		const maxCount = 256
		store := NewStore(StoreOptions{PublishDelay: -1, MaxCount: maxCount})
		rec := New(store, Options{})
		h := proxiedHandler(t, rec, &Transport{Base: piecesRT{sse: sse}, Recorder: rec, Derive: true})
		stop := make(chan struct{})
		var wg sync.WaitGroup
		var inFlight, reads, evicted atomic.Int64
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
		// get reads id, held when the reader took it: nil only when it was evicted since (below the oldest id held)
		get := func(id uint64) {
			ex := store.Get(id)
			if st := store.Stats(); ex == nil && id <= st.Total-uint64(st.Count) {
				evicted.Add(1)
				return
			}
			check(ex)
		}
		body := `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo"}}`
		call := func() {
			r := httptest.NewRequest("POST", "/mcp", strings.NewReader(body))
			r.ContentLength = int64(len(body))
			h.ServeHTTP(httptest.NewRecorder(), r)
		}
		call() // ids 1 and 2, which the reader takes first
		took := make(chan struct{})
		wg.Add(1)
		go func() {
			defer wg.Done()
			first := true
			for {
				select {
				case <-stop:
					return
				default:
				}
				// the newest two ids were held: each has a record, in flight or not, unless evicted since
				total := store.Stats().Total
				if first {
					// held off while the callers record past the count bound (bounded: they record 1,200)
					first = false
					close(took)
					for deadline := time.Now().Add(10 * time.Second); store.Stats().Total <= total+maxCount && time.Now().Before(deadline); {
						time.Sleep(100 * time.Microsecond)
					}
				}
				get(total)
				get(total - 1)
				// read under one lock: every record held
				for _, ex := range store.SnapshotLast(4) {
					check(ex)
				}
			}
		}()
		<-took
		var calls sync.WaitGroup
		for range 3 {
			calls.Add(1)
			go func() {
				defer calls.Done()
				for range 200 {
					call()
				}
			}()
		}
		calls.Wait()
		close(stop)
		wg.Wait()
		checkAccount(t, store)
		t.Logf("sse %v: %d reads, %d of an upstream copy in flight, %d of an id evicted since", sse, reads.Load(), inFlight.Load(), evicted.Load())
		if inFlight.Load() == 0 {
			t.Errorf("sse %v: no upstream copy read in flight", sse)
		}
		if evicted.Load() == 0 {
			t.Errorf("sse %v: no id read once evicted", sse)
		}
	}
}
