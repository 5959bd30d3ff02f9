package recorder

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/internal/testkit"
)

// A request with a body that follows another on the same connection keeps all its header lines, in order
// (the buffer compaction once overwrote the start of the header block with the body).
func TestWireHeadersSecondRequestWithBody(t *testing.T) {
	store := NewStore(StoreOptions{})
	rec := New(store, Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: rec.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(401) })), ConnContext: ConnContext}
	go hs.Serve(WrapListener(ln))
	defer hs.Close()
	base := "http://" + ln.Addr().String()
	send := func(method, ua string, body []byte) {
		req, _ := http.NewRequest(method, base+"/mcp", bytes.NewReader(body))
		req.Header.Set("User-Agent", ua)
		req.Header.Set("X-Forwarded-Proto", "https")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	send("HEAD", "first", nil)
	send("POST", "second", []byte(`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25"}}`))
	exs := store.Snapshot()
	if len(exs) != 2 {
		t.Fatalf("%d exchanges", len(exs))
	}
	h := exs[1].ReqHeaders
	if len(h) == 0 || h[0].Name != "Host" || h.Get("User-Agent") != "second" || h.Get("Content-Length") == "" || h.Get("X-Forwarded-Proto") != "https" {
		t.Fatalf("second request's headers = %v", h)
	}
}

// Finding a request's header block costs time linear in its lines: a stranger can send thousands of header lines
// in a window (each name was looked up in every line: 16,000 lines took half a second). The cost per line at
// 32,000 lines stays within a few times that at 2,000 (quadratic: 16 times), and a block holds every header of
// its request or is not taken, as before, for few lines and many.
func TestWireHeadersManyLinesLinear(t *testing.T) {
	block := func(n int, skip int) (*http.Request, *wireConn) {
		var b strings.Builder
		b.WriteString("GET /mcp HTTP/1.1\r\nHost: x\r\n")
		for i := range n {
			fmt.Fprintf(&b, "h%d:x\r\n", i)
		}
		b.WriteString("\r\n")
		r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(b.String())))
		if err != nil {
			t.Fatal(err)
		}
		// the window holds the block without one of its lines: not the request's
		raw := strings.Replace(b.String(), fmt.Sprintf("h%d:x\r\n", skip), "", 1)
		return r, &wireConn{buf: []byte(raw)}
	}
	// Each search is timed by its thread's CPU time where the platform tells it (wall time where not): a busy
	// machine takes the core away more often during the longer search, which wall time counts against it.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	now := func() time.Duration {
		if d, ok := testkit.ThreadCPU(); ok {
			return d
		}
		return time.Duration(time.Now().UnixNano())
	}
	perLine := func(n int) float64 {
		best := time.Duration(1 << 62)
		for range 3 {
			r, c := block(n, -1)
			t0 := now()
			h := c.headersFor(r)
			best = min(best, now()-t0)
			if len(h) != n+1 || h[0].Name != "Host" || h[n].Name != fmt.Sprintf("h%d", n-1) {
				t.Fatalf("%d lines: got %d", n, len(h))
			}
		}
		return float64(best) / float64(n)
	}
	// A quadratic search costs 16 times as much per line at 32,000 lines as at 2,000; a linear one the same. The
	// machine's noise can make one measurement look worse than 5 times, never five in a row (a quadratic search
	// fails every attempt).
	var small, large float64
	for range 5 {
		small, large = perLine(2000), perLine(32000)
		t.Logf("per line: %.0f ns at 2,000 lines, %.0f ns at 32,000", small, large)
		if large <= 5*small {
			break
		}
	}
	if large > 5*small {
		t.Errorf("finding the header block grows faster than its lines: %.0f ns per line at 2,000, %.0f at 32,000", small, large)
	}
	for _, n := range []int{3, 40} {
		if r, c := block(n, n/2); c.headersFor(r) != nil {
			t.Errorf("%d lines: a block without one of the request's headers was taken", n)
		}
	}
}

// conns keeps the wrapped connections a listener accepts.
type conns struct {
	net.Listener
	got chan *wireConn
}

func (l conns) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if wc, ok := c.(*wireConn); ok {
		l.got <- wc
	}
	return c, err
}

// A request's body is not kept in the connection's window once its header block is taken (a large one moved
// through it again and again): the bytes kept on a connection that sent a 1 MiB body are its header blocks; the
// requests after it, their bodies sent with a length or chunked, still get their header lines in wire order.
func TestWireConnKeepsNoBody(t *testing.T) {
	store := NewStore(StoreOptions{})
	rec := New(store, Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := conns{WrapListener(ln), make(chan *wireConn, 4)}
	hs := &http.Server{Handler: rec.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(204)
	})), ConnContext: ConnContext}
	go hs.Serve(l)
	defer hs.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	big := bytes.Repeat([]byte("y"), 1<<20)
	// Three requests in one go (pipelined), the last two in one write: a header name order no sorting gives.
	head := func(n int, te bool) string {
		length := fmt.Sprintf("Content-Length: %d\r\n", n)
		if te {
			length = "Transfer-Encoding: chunked\r\n"
		}
		return "POST /mcp HTTP/1.1\r\nHost: x\r\nZ-Last: 1\r\n" + length + "A-First: 2\r\n\r\n"
	}
	small := `{"jsonrpc":"2.0","id":1,"method":"ping"}`
	go func() {
		c.Write([]byte(head(len(big), false)))
		c.Write(big)
		c.Write([]byte(head(len(small), false) + small + head(0, true) + fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(small), small)))
	}()
	br := bufio.NewReader(c)
	for range 3 {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	wc := <-l.got
	var exs []*Exchange
	waitFor(t, func() bool { exs = store.Snapshot(); return len(exs) == 3 && exs[2].State != StatePending })
	for i, ex := range exs {
		var names []string
		for _, h := range ex.ReqHeaders {
			names = append(names, h.Name)
		}
		want := "Host Z-Last Content-Length A-First"
		if i == 2 {
			want = "Host Z-Last Transfer-Encoding A-First"
		}
		if got := strings.Join(names, " "); got != want {
			t.Errorf("request %d: headers %q, want %q in wire order", i+1, got, want)
		}
	}
	wc.mu.Lock()
	kept := wc.kept
	wc.mu.Unlock()
	t.Logf("%d bytes kept", kept)
	// the three header blocks, the chunked body (kept: its length is not known) and at most a read's worth of
	// the big body, read with its header block before the block was taken
	if kept > 16<<10 {
		t.Errorf("%d bytes kept on a connection that sent %d bytes of body", kept, len(big))
	}
}

// toolsCall is the bytes of an MCP client's tools/call with the given id as one read brings them (its header block
// and its body), and the request net/http reads from them.
func toolsCall(tb testing.TB, id int) (string, *http.Request) {
	body := fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}`, id)
	raw := "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:4000\r\nUser-Agent: mcpload/1.0\r\nContent-Length: " + fmt.Sprint(len(body)) +
		"\r\nAccept: application/json, text/event-stream\r\nContent-Type: application/json\r\nMcp-Protocol-Version: 2025-11-25\r\n" +
		"Mcp-Session-Id: 3GXWB6LQ2ZQ4YQ3Z\r\nAccept-Encoding: gzip\r\n\r\n" + body
	r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
	if err != nil {
		tb.Fatal(err)
	}
	return raw, r
}

// A connection's next header block that is its last one again, byte for byte (a client's calls on one
// connection: the same names and values, bodies of the same length), is listed as the last one was, without an
// allocation: the same list, which its records share (its array clipped: nothing is appended in it). A block
// that differs (a body of another length) gets its own list with its own values, and one that does not hold
// every header of its request is still not taken.
func TestWireHeadersRepeatedBlock(t *testing.T) {
	c := &wireConn{}
	take := func(raw string, r *http.Request) Headers {
		c.buf = append(c.buf[:0], raw...)
		c.skip = 0
		return c.headersFor(r)
	}
	raw3, r3 := toolsCall(t, 3)
	raw4, r4 := toolsCall(t, 4)
	first := take(raw3, r3)
	if len(first) != 8 || cap(first) != len(first) || first.Get("Content-Length") != fmt.Sprint(r3.ContentLength) {
		t.Fatalf("first block: %v (cap %d)", first, cap(first))
	}
	again := take(raw4, r4) // the same length: the same bytes
	if len(again) != len(first) || &again[0] != &first[0] {
		t.Errorf("the same block again got a list of its own")
	}
	if n := testing.AllocsPerRun(100, func() { take(raw4, r4) }); n != 0 && !testkit.Race {
		t.Errorf("the same block again: %.0f allocations, want none", n)
	}
	raw10, r10 := toolsCall(t, 10) // one byte longer: another Content-Length
	other := take(raw10, r10)
	if len(other) != 8 || &other[0] == &first[0] || other.Get("Content-Length") != fmt.Sprint(r10.ContentLength) ||
		first.Get("Content-Length") != fmt.Sprint(r3.ContentLength) {
		t.Errorf("another block: %v; the first: %v", other, first)
	}
	// the block again, taken for a request with a header it does not hold: not this request's
	take(raw3, r3)
	r3.Header.Set("X-Not-In-The-Block", "1")
	if h := take(raw3, r3); h != nil {
		t.Errorf("a block without one of its request's headers was taken: %v", h)
	}
}

// BenchmarkHeadersFor takes the header block of an MCP client's tools/call from its connection's bytes (the block
// and its body, as one read brings them): the connection's last block again (same), or one that differs from it
// (each call's body of another length than the last's).
func BenchmarkHeadersFor(b *testing.B) {
	raw3, r3 := toolsCall(b, 3)
	raw10, r10 := toolsCall(b, 10)
	for _, tc := range []struct {
		name string
		alt  bool
	}{{"same", false}, {"differs", true}} {
		b.Run(tc.name, func(b *testing.B) {
			c := &wireConn{}
			i := 0
			b.ReportAllocs()
			onThreadCPU(b, 1, func() {
				raw, r := raw3, r3
				if tc.alt && i%2 == 1 {
					raw, r = raw10, r10
				}
				i++
				c.buf = append(c.buf[:0], raw...)
				c.skip = 0
				if h := c.headersFor(r); len(h) != 8 {
					b.Fatalf("%d headers", len(h))
				}
			})
		})
	}
}

// onThreadCPU runs f for each of b's iterations on one thread and reports that thread's CPU time per iteration
// (cpu-ns/op; per one of the n units an iteration does: cpu-ns/unit): on a busy machine, wall time per iteration
// counts the time other processes had the core.
func onThreadCPU(b *testing.B, n int, f func()) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	t0, ok := testkit.ThreadCPU()
	for b.Loop() {
		f()
	}
	if t1, ok1 := testkit.ThreadCPU(); ok && ok1 {
		b.ReportMetric(float64(t1-t0)/float64(b.N), "cpu-ns/op")
		if n > 1 {
			b.ReportMetric(float64(t1-t0)/float64(b.N)/float64(n), "cpu-ns/unit")
		}
	}
}

// Requests pipelined on one connection, in one write, get each its own header lines and body when blocks repeat:
// the same block twice (the second listed as the first), a block of the same length that differs (one letter of
// its User-Agent), then the first block again after it, and a chunked block twice (the second after a body of
// another length: not where the bytes read start, so parsed again). The bodies are read whole through ReadBody (the server's small-body read), so each record's body is the
// buffer its handler read.
func TestWireHeadersRepeatedBlocksPipelined(t *testing.T) {
	store := NewStore(StoreOptions{})
	base, _ := serveRecorded(t, store, Options{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > 0 {
			ReadBody(r.Body, r.ContentLength)
		} else {
			io.ReadAll(r.Body)
		}
		io.WriteString(w, "ok")
	}))
	type req struct{ head, body string }
	sized := func(ua, body string) req {
		return req{"POST /mcp HTTP/1.1\r\nHost: h\r\nUser-Agent: " + ua + "\r\nContent-Length: " + fmt.Sprint(len(body)) + "\r\n", body}
	}
	chunked := func(body string) req {
		return req{"POST /mcp HTTP/1.1\r\nHost: h\r\nUser-Agent: c\r\nTransfer-Encoding: chunked\r\n", body}
	}
	reqs := []req{sized("a", "hello"), sized("a", "world"), sized("b", "again"), sized("a", "hallo"), chunked("abc"),
		chunked("abcdefgh"), {"GET /done HTTP/1.1\r\nHost: h\r\nConnection: close\r\n", ""}}
	var raw strings.Builder
	for _, q := range reqs {
		raw.WriteString(q.head + "\r\n")
		if strings.Contains(q.head, "chunked") {
			fmt.Fprintf(&raw, "%x\r\n%s\r\n0\r\n\r\n", len(q.body), q.body)
		} else {
			raw.WriteString(q.body)
		}
	}
	if got := rawRequest(t, base, raw.String()); strings.Count(got, "HTTP/1.1 200") != len(reqs) {
		t.Fatalf("answers: %q", got)
	}
	deadline := time.Now().Add(10 * time.Second)
	for store.Stats().Total < uint64(len(reqs)) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	exs := store.Snapshot()
	if len(exs) != len(reqs) {
		t.Fatalf("%d records, want %d", len(exs), len(reqs))
	}
	for i, ex := range exs {
		for ex.State != StateComplete && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
			ex = store.Get(ex.ID)
		}
		var want []string
		for _, l := range strings.Split(strings.TrimSuffix(reqs[i].head, "\r\n"), "\r\n")[1:] {
			name, value, _ := strings.Cut(l, ": ")
			want = append(want, name+"="+value)
		}
		var got []string
		for _, h := range ex.ReqHeaders {
			got = append(got, h.Name+"="+h.Value)
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") || string(ex.ReqBody.Data) != reqs[i].body {
			t.Errorf("request %d: headers %q, body %q; want %q, %q", i+1, got, ex.ReqBody.Data, want, reqs[i].body)
		}
	}
}
