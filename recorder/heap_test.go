package recorder

import (
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// BenchmarkStoreLiveHeap records tools/call exchanges (a JSON-RPC POST answered with an SSE event, as the go-sdk
// answers) through the middleware over a real connection, then measures the live heap the store holds per
// exchange after a full GC: a figure that does not depend on how busy the machine is. It reports the body bytes
// separately (the heap figure includes them), Exchange.Size's estimate, what the store's byte bound counts per
// exchange (its chunks and slabs as held) and how many such exchanges the default bound holds (the count bound
// included).
//
// The records as the recorder built them (as-built) and packed (pack.go) run side by side.
//
//	go test ./recorder -run '^$' -bench StoreLiveHeap -benchtime 20000x
func BenchmarkStoreLiveHeap(b *testing.B) {
	for _, tc := range []struct {
		name   string
		packed bool
	}{{"as-built", false}, {"packed", true}} {
		b.Run(tc.name, func(b *testing.B) {
			defer func(old bool) { packRecords = old }(packRecords)
			packRecords = tc.packed
			storeLiveHeap(b)
		})
	}
}

func storeLiveHeap(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	store := NewStore(StoreOptions{})
	// every call and answer differ (the JSON-RPC id, the text), as a client's do: no body or message list is shared
	// with another exchange
	h := New(store, Options{}).Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		id, _, _ := strings.Cut(strings.TrimPrefix(string(body), `{"jsonrpc":"2.0","id":`), ",")
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-cache, no-transform")
		w.Header().Set("Mcp-Session-Id", "3GXWB6LQ2ZQ4YQ3Z")
		w.WriteHeader(http.StatusOK)
		ev := strings.Replace(benchEvent, `"id":7`, `"id":`+id, 1)
		io.WriteString(w, strings.Replace(strings.Replace(ev, "_7", "_"+id, 1), "1417", id, 1))
	}))
	srv := &http.Server{Handler: h, ConnContext: ConnContext}
	go srv.Serve(WrapListener(ln))
	defer srv.Close()
	url := "http://" + ln.Addr().String() + "/mcp"
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	defer client.CloseIdleConnections()
	n := 0
	call := func() {
		n++
		id := strconv.Itoa(1000 + n)
		req, _ := http.NewRequest("POST", url, strings.NewReader(strings.Replace(strings.Replace(benchCall, `"id":7`, `"id":`+id, 1), "1417", id, 1)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("Mcp-Session-Id", "3GXWB6LQ2ZQ4YQ3Z")
		req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	for range 100 { // warm up: connections, pools, the intern table
		call()
	}
	heap := func() uint64 {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	c0 := store.Stats().Count
	h0 := heap()
	b.ResetTimer()
	for b.Loop() {
		call()
	}
	b.StopTimer()
	h1 := heap()
	snap := store.Snapshot()
	n = len(snap) - c0
	if n <= 0 {
		b.Fatal("nothing recorded")
	}
	var bodies, est int64
	for _, ex := range snap[c0:] {
		bodies += int64(len(ex.ReqBody.Data) + len(ex.RespBody.Data))
		est += ex.Size()
	}
	per := (float64(h1) - float64(h0)) / float64(n)
	b.ReportMetric(per, "heap-B/exchange")
	b.ReportMetric(per-float64(bodies)/float64(n), "heap-B/exchange-without-bodies")
	b.ReportMetric(float64(bodies)/float64(n), "body-B/exchange")
	b.ReportMetric(float64(est)/float64(n), "estimate-B/exchange")
	// what the byte bound counts per exchange: the store's chunks and slabs (bodies included) as held
	st := store.Stats()
	counted := float64(st.Bytes) / float64(st.Count)
	b.ReportMetric(counted, "counted-B/exchange")
	b.ReportMetric(min(float64(store.opts.MaxCount), float64(store.opts.MaxBytes)/counted), "held-in-default-bound")
	runtime.KeepAlive(snap)
}
