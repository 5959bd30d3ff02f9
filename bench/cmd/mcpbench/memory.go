package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/mcpwatch/mcpwatch/bench/loadgen"
	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/recorder/headless"
	"github.com/mcpwatch/mcpwatch/server"
)

// memoryResult is what one recorded tools/call exchange costs, measured in this process on the same pipeline
// `mcpwatch serve --no-tui` runs: the router with the recorder, the store, the headless printer with its analysis
// (subscribed as serve subscribes it), and the capture file.
type memoryResult struct {
	Exchanges int `json:"exchanges"` // recorded between the two heap readings
	// HeapPerExchange is the growth of the live heap (after a full GC) per exchange kept in the store.
	HeapPerExchange float64 `json:"heapPerExchange"`
	// EstimatePerExchange is Exchange.Size's estimate, which the store counted against its byte bound before its
	// records were packed (1,724 B per tools/call on 2026-12-02).
	EstimatePerExchange float64 `json:"estimatePerExchange"`
	// CountedPerExchange is what the store counts against its byte bound now (Stats().Bytes: chunks and slabs
	// whole), per exchange held, over every exchange it holds at the end (so a partly filled slab is spread over
	// all of them).
	CountedPerExchange float64 `json:"countedPerExchange"`
	// CapturePerExchange is the capture file's size per line.
	CapturePerExchange float64 `json:"capturePerExchange"`
	// AllocPerExchange is everything allocated (garbage included) per exchange, client side excluded only
	// approximately: the load generator runs in this process too.
	AllocPerExchange float64 `json:"allocPerExchange"`

	// Proxy is `mcpwatch proxy`'s resident memory after many recorded calls, the store at its default bound.
	Proxy *proxyMemory `json:"proxy,omitempty"`
}

// proxyMemory is the peak RSS of `mcpwatch proxy --no-tui` (recording on, capture file) in front of the plain
// upstream after Calls tools/calls, each recorded twice (the client's exchange and the upstream one), with the
// store at its default bound: past it the store forgets the oldest, the capture file keeps every line.
type proxyMemory struct {
	Calls     uint64        `json:"calls"`     // tools/calls answered and checked
	Lines     uint64        `json:"lines"`     // exchanges recorded: capture lines in every file, plus those rotated out
	Peak      int64         `json:"peakRSS"`   // VmHWM
	RSS       int64         `json:"rss"`       // VmRSS at the end
	Took      time.Duration `json:"took"`      // the run's wall time
	Errors    uint64        `json:"errors"`    // failed operations
	ErrSample string        `json:"errSample"` // the first failure
	Skip      string        `json:"skipped,omitempty"`
	// the proxy's store at the end (its Stats, read from the bench hooks' /debug/store before it stops): the
	// exchanges it holds at its default bound, what it counts for them, and how many it forgot
	Held       int    `json:"held"`
	StoreBytes int64  `json:"storeBytes"`
	Evicted    uint64 `json:"evicted"`
	StatsErr   string `json:"statsErr,omitempty"`
}

// oldEstimate is what a proxied tools/call exchange cost the store by Exchange.Size's estimate on 2026-12-02
// (issue 18): the default bound then held DefaultStoreMaxBytes ÷ it.
const oldEstimate = 1724

// readStoreStats reads the store's Stats from a bench binary's pprof listener at addr (cmd/mcpwatch/bench_hooks.go).
func readStoreStats(addr string) (recorder.Stats, error) {
	var st recorder.Stats
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get("http://" + addr + "/debug/store")
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("/debug/store: %s", resp.Status)
	}
	err = json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&st)
	return st, err
}

// freeAddr returns a loopback address with a port free a moment ago.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// measureProxyMemory starts the plain upstream and `mcpwatch proxy` in front of it (both on the servers' CPUs) and
// sends calls tools/calls through the proxy, then reads the proxy's peak RSS.
func measureProxyMemory(o *options, calls int64) (*proxyMemory, error) {
	if ok, why := hasProxy(o.mcpwatch); !ok {
		return &proxyMemory{Skip: why}, nil
	}
	plain, err := startBanner("plain-mem", nil, o.self, "peer", "plain")
	if err != nil {
		return nil, err
	}
	defer plain.stop()
	capture := filepath.Join(o.dir, "proxy-mem.jsonl")
	statsAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	px, err := startBanner("proxy-mem", []string{"XDG_STATE_HOME=" + filepath.Join(o.dir, "state"), "MCPWATCH_BENCH_PPROF=" + statsAddr}, o.mcpwatch, "proxy", "--upstream", plain.url+"/mcp",
		"--no-tui", "--addr", "127.0.0.1:0", "--log", filepath.Join(o.dir, "proxy-mem.log"), "--capture", capture)
	if err != nil {
		return nil, err
	}
	defer px.stop()
	t0 := time.Now()
	res, err := loadgen.Run(context.Background(), loadgen.Config{URL: px.url + "/mcp", Clients: o.clients, MaxOps: calls, Duration: 6 * time.Hour})
	if err != nil {
		return nil, err
	}
	settle([]*proc{px})
	m := &proxyMemory{Calls: res.Completed, Took: time.Since(t0), Errors: res.Errors}
	m.RSS, m.Peak = px.memory()
	if st, err := readStoreStats(statsAddr); err != nil {
		m.StatsErr = err.Error()
	} else {
		m.Held, m.StoreBytes, m.Evicted = st.Count, st.Bytes, st.Evicted
	}
	px.stop() // the capture file is whole once the proxy has stopped
	// The capture rotates at its default size and deletes the oldest rotated files: the exchanges recorded are the
	// lines of every file left plus those the proxy reports dropped at exit.
	files, _ := filepath.Glob(strings.TrimSuffix(capture, ".jsonl") + "*.jsonl")
	for _, f := range files {
		if n, err := recorder.CountLines(f); err == nil {
			m.Lines += n
		}
	}
	if d := droppedRE.FindStringSubmatch(px.out.String()); d != nil {
		n, _ := strconv.ParseUint(d[1], 10, 64)
		m.Lines += n
	}
	if len(res.Samples) > 0 {
		m.ErrSample = res.Samples[0]
	}
	return m, nil
}

var droppedRE = regexp.MustCompile(`warning: (\d+) exchanges were dropped from the capture`)

func measureMemory(clients int) (*memoryResult, error) {
	dir, remove, err := tempDir("mcpbench-mem-")
	if err != nil {
		return nil, err
	}
	defer remove()
	store := recorder.NewStore(recorder.StoreOptions{})
	rec := recorder.New(store, recorder.Options{})
	capture, err := recorder.OpenCapture(filepath.Join(dir, "capture.jsonl"))
	if err != nil {
		return nil, err
	}
	store.OnComplete(capture.Append)
	srv, err := server.New(server.Config{Addr: "127.0.0.1:0", NoAuth: true, Recorder: rec})
	if err != nil {
		return nil, err
	}
	if err := srv.Listen(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx) }()
	sub := store.Subscribe(4096)
	printed := make(chan error, 1)
	go func() { printed <- headless.Run(context.Background(), store, sub, io.Discard, headless.Options{}) }()
	defer func() {
		cancel()
		<-served
		sub.Close()
		<-printed
		capture.Close()
	}()

	load := func(d time.Duration) error {
		res, err := loadgen.Run(context.Background(), loadgen.Config{URL: srv.LocalURL() + "/mcp", Clients: clients, Duration: d})
		if err != nil {
			return err
		}
		if res.Errors > 0 {
			return fmt.Errorf("%d errors: %v", res.Errors, res.Samples)
		}
		return nil
	}
	quiesce := func() (heap, alloc uint64, count int) {
		// let the capture writer and the printer catch up, then collect
		for range 50 {
			n, _ := capture.Written()
			if n >= store.Stats().Total {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		time.Sleep(200 * time.Millisecond)
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc, ms.TotalAlloc, store.Stats().Count
	}
	if err := load(time.Second); err != nil {
		return nil, err
	}
	h1, a1, c1 := quiesce()
	if err := load(3 * time.Second); err != nil {
		return nil, err
	}
	h2, a2, c2 := quiesce()
	n := c2 - c1
	if n <= 0 {
		return nil, fmt.Errorf("no exchanges recorded")
	}
	m := &memoryResult{Exchanges: n, HeapPerExchange: (float64(h2) - float64(h1)) / float64(n), AllocPerExchange: float64(a2-a1) / float64(n)}
	var est int64
	snap := store.Snapshot()
	for _, ex := range snap[len(snap)-n:] {
		est += ex.Size()
	}
	m.EstimatePerExchange = float64(est) / float64(n)
	if st := store.Stats(); st.Count > 0 {
		m.CountedPerExchange = float64(st.Bytes) / float64(st.Count)
	}
	if written, _ := capture.Written(); written > 0 {
		if st, err := os.Stat(capture.Path()); err == nil {
			m.CapturePerExchange = float64(st.Size()) / float64(written)
		}
	}
	return m, nil
}
