package proxy_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/internal/testkit"
	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/server/proxy"
)

// windowProbe is the client side's writer seen from outside the recorder: it counts the process's allocations from
// the request's arrival (before the recorder's middleware) to the first flush of its answer, when the first event's
// bytes go out — the first event's window.
type windowProbe struct {
	http.ResponseWriter
	once         sync.Once
	arrived      uint64
	out          *uint64
	arrivedBytes uint64
	bytes        *uint64
}

func (p *windowProbe) Flush() {
	p.ResponseWriter.(http.Flusher).Flush()
	p.once.Do(func() {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		*p.out = ms.Mallocs - p.arrived
		*p.bytes = ms.TotalAlloc - p.arrivedBytes
	})
}

// windowAllocs opens streams through the proxy (recording with rec, or nothing when rec is nil) and returns the
// fewest allocations seen in a stream's window, from its arrival to its first flush.
func windowAllocs(t *testing.T, upstream string, rec *recorder.Recorder) uint64 {
	p, err := proxy.New(proxy.Options{Upstream: upstream + "/mcp", Recorder: rec, HeaderTimeout: proxy.DefaultHeaderTimeout})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var h http.Handler = p
	if rec != nil {
		h = rec.Middleware(p)
	}
	var window, wbytes uint64
	outer := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		h.ServeHTTP(&windowProbe{ResponseWriter: w, arrived: ms.Mallocs, out: &window, arrivedBytes: ms.TotalAlloc, bytes: &wbytes}, r)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: outer, ConnContext: recorder.ConnContext, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(recorder.WrapListener(ln))
	defer srv.Close()
	hc := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	defer hc.CloseIdleConnections()
	least, leastB := ^uint64(0), ^uint64(0)
	for range 30 {
		req, _ := http.NewRequest(http.MethodGet, "http://"+ln.Addr().String()+"/mcp", nil)
		req.Header.Set("Accept", "text/event-stream")
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(resp.Body).ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "id: 1") {
			t.Fatalf("first line %q, %v", line, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		least = min(least, window)
		leastB = min(leastB, wbytes)
	}
	t.Logf("bytes %d", leastB)
	return least
}

// What recording allocates in the first event's window — from a stream's arrival to the first flush of its
// answer, when the first event goes out — over what the same proxy allocates there recording nothing. The
// recorder's work that need not come before the first byte out comes after it (issue 18, docs/benchmarks-store.md,
// "The first event through proxy, round seven"): what is left (7) is the two exchanges' live records
// (Recorder.begin, Transport.RoundTrip), the client's request header block and list read from the wire (2), the
// upstream copy's link note, the response headers' list (one for both) and the stream body's first room (the
// event's bytes are copied into it before they go out: the caller keeps its buffer). Main at 12d6277: 8, the
// upstream copy's request header list built on the request's way upstream. A guard against recording's work
// creeping back before the first byte (recorder's TestFirstEventWindowLeavesTimerAndEvents holds the moves).
func TestFirstEventWindowAllocations(t *testing.T) {
	if testkit.Race {
		t.Skip("allocation counts differ under the race detector")
	}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, "id: 1\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{\"n\":1}}\n\n")
	}))
	defer up.Close()
	off := windowAllocs(t, up.URL, nil)
	on := windowAllocs(t, up.URL, recorder.New(recorder.NewStore(recorder.StoreOptions{}), recorder.Options{}))
	t.Logf("allocations from a stream's arrival to its first flush: recording off %d, on %d", off, on)
	const want = 10
	if on > off+want {
		t.Errorf("recording allocates %d in the first event's window (%d on, %d off): want at most %d", on-off, on, off, want)
	}
}
