package recorder

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/internal/testkit"
)

func TestMiddlewareRecordsWireHeadersStatusAndBodies(t *testing.T) {
	store := NewStore(StoreOptions{})
	sub := store.Subscribe(0)
	base, _ := serveRecorded(t, store, Options{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Add("X-Dup", "one")
		w.Header().Add("X-Dup", "two")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"got":%d}`, len(body))
	}))

	// A body longer than the header block: compacting the connection's buffer once overwrote the header block
	// before it was parsed, and the recorder fell back to sorted headers or lost the first lines.
	body := `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"claude-ai","version":"0.1.0"},"padding":"` + strings.Repeat("x", 400) + `"}}`
	raw := "POST /mcp?x=1 HTTP/1.1\r\n" +
		"Host: 127.0.0.1\r\n" +
		"user-agent: Claude-User\r\n" +
		"Content-Type: application/json\r\n" +
		"X-Dup: a\r\n" +
		"Accept: application/json, text/event-stream\r\n" +
		"x-dup: b\r\n" +
		fmt.Sprintf("Content-Length: %d\r\n", len(body)) +
		"Connection: close\r\n\r\n" + body
	resp := rawRequest(t, base, raw)
	if !strings.HasPrefix(resp, "HTTP/1.1 201 ") {
		t.Fatalf("response: %q", resp)
	}
	ex := waitCompleted(t, sub, 1)[0]

	want := Headers{
		{"Host", "127.0.0.1"}, {"user-agent", "Claude-User"}, {"Content-Type", "application/json"}, {"X-Dup", "a"},
		{"Accept", "application/json, text/event-stream"}, {"x-dup", "b"}, {"Content-Length", fmt.Sprint(len(body))},
		{"Connection", "close"},
	}
	if fmt.Sprint(ex.ReqHeaders) != fmt.Sprint(want) {
		t.Errorf("request headers\n got %v\nwant %v", ex.ReqHeaders, want)
	}
	if ex.Method != "POST" || ex.URL != "/mcp?x=1" || ex.Host != "127.0.0.1" || ex.Proto != "HTTP/1.1" || ex.Kind != Inbound {
		t.Errorf("request line: %s %s %s host %s kind %s", ex.Method, ex.URL, ex.Proto, ex.Host, ex.Kind)
	}
	if ex.Status != 201 || ex.State != StateComplete || ex.Error != "" {
		t.Errorf("status %d state %s error %q", ex.Status, ex.State, ex.Error)
	}
	if got := ex.RespHeaders.Values("X-Dup"); fmt.Sprint(got) != "[one two]" {
		t.Errorf("response X-Dup = %v", got)
	}
	if string(ex.ReqBody.Data) != body || ex.ReqBody.Size != int64(len(body)) || ex.ReqBody.Truncated {
		t.Errorf("request body: %d bytes of %d, truncated %v", len(ex.ReqBody.Data), ex.ReqBody.Size, ex.ReqBody.Truncated)
	}
	if want := fmt.Sprintf(`{"got":%d}`, len(body)); string(ex.RespBody.Data) != want {
		t.Errorf("response body %q, want %q", ex.RespBody.Data, want)
	}
	if ex.RemoteAddr == "" || ex.Start.IsZero() || ex.Timings.Total < ex.Timings.Wait {
		t.Errorf("remote %q start %v timings %+v", ex.RemoteAddr, ex.Start, ex.Timings)
	}
	if ex.RPCMethod() != "initialize" {
		t.Errorf("rpc %+v", ex.RPC)
	}
}

func TestMiddlewareKeepAliveRequestsGetTheirOwnHeaders(t *testing.T) {
	store := NewStore(StoreOptions{})
	sub := store.Subscribe(0)
	base, _ := serveRecorded(t, store, Options{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(204)
	}))
	// Two pipelined requests on one connection, the first with a body, the second naming a header the first had.
	raw := "POST /a HTTP/1.1\r\nHost: h\r\nX-First: 1\r\nContent-Length: 5\r\n\r\nhello" +
		"GET /b HTTP/1.1\r\nHost: h\r\nX-Second: 2\r\nConnection: close\r\n\r\n"
	rawRequest(t, base, raw)
	exs := waitCompleted(t, sub, 2)
	if got := fmt.Sprint(exs[0].ReqHeaders); got != "[{Host h} {X-First 1} {Content-Length 5}]" {
		t.Errorf("first: %s", got)
	}
	if got := fmt.Sprint(exs[1].ReqHeaders); got != "[{Host h} {X-Second 2} {Connection close}]" {
		t.Errorf("second: %s", got)
	}
}

func TestMiddlewareWithoutWrappedListenerFallsBackToSortedHeaders(t *testing.T) {
	store := NewStore(StoreOptions{})
	rec := New(store, Options{})
	h := rec.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	r, _ := http.NewRequest("GET", "http://example.com/x", nil)
	r.Header.Set("B", "2")
	r.Header.Set("A", "1")
	r.RequestURI = "/x"
	h.ServeHTTP(discardWriter{}, r)
	ex := store.Snapshot()[0]
	if got := fmt.Sprint(ex.ReqHeaders); got != "[{Host example.com} {A 1} {B 2}]" {
		t.Errorf("headers %s", got)
	}
	if ex.Status != 200 {
		t.Errorf("implicit status: %d", ex.Status)
	}
}

type discardWriter struct{}

func (discardWriter) Header() http.Header         { return http.Header{} }
func (discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (discardWriter) WriteHeader(int)             {}

func TestMiddlewareBoundsBodies(t *testing.T) {
	store := NewStore(StoreOptions{})
	sub := store.Subscribe(0)
	base, _ := serveRecorded(t, store, Options{BodyLimit: 100}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		for range 10 {
			w.Write(bytes.Repeat([]byte("r"), 50))
		}
	}))
	resp, err := http.Post(base+"/up", "text/plain", strings.NewReader(strings.Repeat("q", 1000)))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if len(got) != 500 {
		t.Fatalf("client got %d bytes: the recorder must not cut what the client receives", len(got))
	}
	ex := waitCompleted(t, sub, 1)[0]
	if len(ex.ReqBody.Data) != 100 || ex.ReqBody.Size != 1000 || !ex.ReqBody.Truncated {
		t.Errorf("request body: %d of %d, truncated %v", len(ex.ReqBody.Data), ex.ReqBody.Size, ex.ReqBody.Truncated)
	}
	if len(ex.RespBody.Data) != 100 || ex.RespBody.Size != 500 || !ex.RespBody.Truncated {
		t.Errorf("response body: %d of %d, truncated %v", len(ex.RespBody.Data), ex.RespBody.Size, ex.RespBody.Truncated)
	}
}

func TestMiddlewareHandlerThatNeverReadsTheBody(t *testing.T) {
	store := NewStore(StoreOptions{})
	sub := store.Subscribe(0)
	base, _ := serveRecorded(t, store, Options{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", `Bearer resource_metadata="http://x/.well-known/oauth-protected-resource"`)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	body := `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{}}`
	resp, err := http.Post(base+"/mcp", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	ex := waitCompleted(t, sub, 1)[0]
	if ex.Status != 401 || string(ex.ReqBody.Data) != body || ex.ReqBody.Size != int64(len(body)) {
		t.Errorf("status %d body %q size %d", ex.Status, ex.ReqBody.Data, ex.ReqBody.Size)
	}
	if ex.RPCMethod() != "initialize" {
		t.Errorf("the unread request was not parsed: %+v", ex.RPC)
	}
}

func TestMiddlewareRecordsAPanicAndAnswers500(t *testing.T) {
	store := NewStore(StoreOptions{})
	sub := store.Subscribe(0)
	base, _ := serveRecorded(t, store, Options{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		panic("boom")
	}))
	resp, err := http.Get(base + "/p")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 500 {
		t.Errorf("client got %d", resp.StatusCode)
	}
	ex := waitCompleted(t, sub, 1)[0]
	if ex.Status != 500 || !strings.Contains(ex.Error, "panic") || !strings.Contains(ex.Error, "boom") {
		t.Errorf("recorded status %d error %q, want 500 and the panic", ex.Status, ex.Error)
	}
	// The server keeps serving.
	if resp, err := http.Get(base + "/p"); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}
}

func TestMiddlewareClientGoneBeforeAResponse(t *testing.T) {
	store := NewStore(StoreOptions{})
	sub := store.Subscribe(0)
	entered := make(chan struct{})
	base, _ := serveRecorded(t, store, Options{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-r.Context().Done()
	}))
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/slow", nil)
	go func() { <-entered; cancel() }()
	if _, err := http.DefaultClient.Do(req); err == nil {
		t.Fatal("want a cancelled request")
	}
	ex := waitCompleted(t, sub, 1)[0]
	if ex.Status != 0 || !strings.Contains(ex.Error, "went away") {
		t.Errorf("status %d error %q", ex.Status, ex.Error)
	}
}

// sseHandler answers a POST with an SSE stream: one event, then waits for next, then a second event.
func sseHandler(next <-chan struct{}) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		fmt.Fprint(w, "event: message\nid: e1\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{}}\n\n")
		w.(http.Flusher).Flush()
		<-next
		fmt.Fprint(w, "event: message\nid: e2\ndata: {\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"tools\":[]}}\n\n")
	})
}

// A flush publishes nothing (recording there competed with the client reading the event): the late timer
// publishes what was written, Options.PublishDelay after it, while the stream is open.
func TestMiddlewareFlushPublishesNothing(t *testing.T) {
	store := NewStore(StoreOptions{})
	sub := store.Subscribe(0)
	next := make(chan struct{})
	defer close(next)
	base, _ := serveRecorded(t, store, Options{PublishDelay: time.Hour}, sseHandler(next))
	resp, err := http.Post(base+"/mcp", "application/json", strings.NewReader(`{"jsonrpc":"2.0","id":7,"method":"tools/list"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	for { // the first event, flushed
		l, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if l == "\n" {
			break
		}
	}
	timeout := time.After(100 * time.Millisecond) // the flush published before the client had the event, if at all
	for {
		select {
		case u := <-sub.C:
			if u.Kind != Began {
				t.Fatalf("the flush published %v (%d events)", u.Kind, len(u.Exchange.Events))
			}
		case <-timeout:
			return
		}
	}
}

func TestMiddlewareRecordsSSEEventByEvent(t *testing.T) {
	// The handler flushes each event and waits: the late timer publishes the first while the stream is open.
	store := NewStore(StoreOptions{})
	sub := store.Subscribe(0)
	next := make(chan struct{})
	base, _ := serveRecorded(t, store, Options{}, sseHandler(next))

	done := make(chan error, 1)
	go func() {
		resp, err := http.Post(base+"/mcp", "application/json", strings.NewReader(`{"jsonrpc":"2.0","id":7,"method":"tools/list"}`))
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		done <- err
	}()

	// While the handler waits, a subscriber must already see the first event: the stream shows up live.
	var sawFirst bool
	timeout := time.After(10 * time.Second)
	for !sawFirst {
		select {
		case u := <-sub.C:
			if u.Kind == Completed {
				t.Fatal("completed before the second event was written")
			}
			if u.Kind == Changed && len(u.Exchange.Events) == 1 {
				if u.Exchange.State != StateStreaming || u.Exchange.Events[0].ID != "e1" {
					t.Errorf("first update: state %s events %+v", u.Exchange.State, u.Exchange.Events)
				}
				if u.Exchange.RPCMethod() != "tools/list" {
					t.Errorf("request not parsed by the first event: %+v", u.Exchange.RPC)
				}
				sawFirst = true
			}
		case <-timeout:
			t.Fatal("no Changed update with the first event while the stream was open")
		}
	}
	close(next)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	ex := waitCompleted(t, sub, 1)[0]
	if len(ex.Events) != 2 || ex.Events[1].ID != "e2" || ex.Events[1].At < ex.Events[0].At {
		t.Fatalf("events %+v", ex.Events)
	}
	// The request, the notification in event 0 and the reply in event 1, paired with the request.
	var reply *RPC
	for i := range ex.RPC {
		if ex.RPC[i].IsResponse {
			reply = &ex.RPC[i]
		}
	}
	if len(ex.RPC) != 3 || reply == nil || reply.ReplyTo != "tools/list" || reply.Event != 1 || string(reply.ID) != "7" {
		t.Errorf("rpc %+v", ex.RPC)
	}
	if ex.RPC[1].Method != "notifications/progress" || !ex.RPC[1].IsNotification() || ex.RPC[1].Event != 0 {
		t.Errorf("notification %+v", ex.RPC[1])
	}
}

func TestMiddlewareNotesAndFaults(t *testing.T) {
	store := NewStore(StoreOptions{})
	sub := store.Subscribe(0)
	var id uint64
	base, _ := serveRecorded(t, store, Options{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		AddNote(r.Context(), "era", "legacy")
		AddToggle(r.Context(), ToggleChange{Name: "no-session-id", What: "response header Mcp-Session-Id", Before: "abc"})
		id = exchangeID(r.Context())
	}))
	resp, err := http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	ex := waitCompleted(t, sub, 1)[0]
	if ex.Note("era") != "legacy" || len(ex.Toggles) != 1 || ex.Toggles[0].Name != "no-session-id" || id != ex.ID {
		t.Errorf("notes %+v faults %+v id %d/%d", ex.Notes, ex.Toggles, id, ex.ID)
	}
	// Outside a capture these are no-ops.
	AddNote(context.Background(), "k", "v")
	AddToggle(context.Background(), ToggleChange{})
	if exchangeID(context.Background()) != 0 {
		t.Error("ExchangeID outside a capture")
	}
}

func TestParseRPC(t *testing.T) {
	tests := []struct {
		name, body string
		want       string
	}{
		{"request", `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, `[{"from":"client","method":"tools/list","id":1,"event":-1}]`},
		{"string id", `{"jsonrpc":"2.0","id":"a","method":"x"}`, `[{"from":"client","method":"x","id":"a","event":-1}]`},
		{"notification", `{"jsonrpc":"2.0","method":"notifications/initialized"}`, `[{"from":"client","method":"notifications/initialized","event":-1}]`},
		{"error reply", `{"jsonrpc":"2.0","id":3,"error":{"code":-32601,"message":"Method not found"}}`, `[{"from":"client","id":3,"errorCode":-32601,"errorMessage":"Method not found","response":true,"event":-1}]`},
		{"error with null id", `{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}`, `[{"from":"client","id":null,"errorCode":-32700,"errorMessage":"Parse error","response":true,"event":-1}]`},
		{"batch", ` [{"jsonrpc":"2.0","id":1,"method":"a"},{"jsonrpc":"2.0","method":"b"}]`, `[{"from":"client","method":"a","id":1,"event":-1,"batch":true},{"from":"client","method":"b","event":-1,"batch":true}]`},
		{"not json-rpc", `{"client_name":"claude"}`, `[]`},
		{"not json", `hello`, `null`},
		{"empty", ``, `null`},
		{"broken", `{"jsonrpc":`, `null`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := json.Marshal(ParseRPC([]byte(tt.body), FromClient, -1))
			if string(got) != tt.want {
				t.Errorf("\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestPairRepliesNeedsTheOtherSide(t *testing.T) {
	msgs := append(ParseRPC([]byte(`{"jsonrpc":"2.0","id":1,"method":"initialize"}`), FromClient, -1),
		ParseRPC([]byte(`{"jsonrpc":"2.0","id":1,"method":"roots/list"}`), FromServer, 0)...)
	msgs = append(msgs, ParseRPC([]byte(`{"jsonrpc":"2.0","id":1,"result":{}}`), FromServer, 1)...)
	pairReplies(msgs)
	if msgs[2].ReplyTo != "initialize" {
		t.Errorf("a server reply must pair with the client's request, not the server's own: %+v", msgs[2])
	}
}

// A client that sends "Expect: 100-continue" waits for 100 Continue before sending its body. An answer given
// without reading the body (a 401 challenge) must reach it at once, as it would without the recorder: reading the
// body to record it used to stall the answer until the client gave up waiting (curl: 1 s; this raw client: never).
func TestMiddlewareDoesNotStallAnExpectContinueClient(t *testing.T) {
	store := NewStore(StoreOptions{})
	sub := store.Subscribe(0)
	base, _ := serveRecorded(t, store, Options{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
	}))
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Headers only: the body waits for a 100 Continue that never comes.
	fmt.Fprint(c, "POST /mcp HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 20\r\nExpect: 100-continue\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 401") {
		t.Fatalf("status line %q, %v: the answer was held back", line, err)
	}
	ex := waitCompleted(t, sub, 1)[0]
	if ex.Status != 401 || ex.ReqBody.Size != 0 {
		t.Errorf("status %d, body size %d (the body never crossed the wire)", ex.Status, ex.ReqBody.Size)
	}
}

// An unread body is recorded as far as net/http itself reads it before replying.
func TestMiddlewareReadsAnUnreadBodyAsFarAsNetHTTPDoes(t *testing.T) {
	store := NewStore(StoreOptions{})
	sub := store.Subscribe(0)
	base, _ := serveRecorded(t, store, Options{BodyLimit: 1 << 20}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
	}))
	for _, size := range []int{1000, 1 << 20} {
		resp, err := http.Post(base+"/mcp", "application/octet-stream", bytes.NewReader(make([]byte, size)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		ex := waitCompleted(t, sub, 1)[0]
		want := int64(min(size, maxPostHandlerRead+1))
		if ex.ReqBody.Size != want {
			t.Errorf("%d-byte body: recorded %d bytes, want %d", size, ex.ReqBody.Size, want)
		}
	}
}

// A handler that writes events without ever flushing (net/http passes them on as its buffer fills): each is
// recorded within Options.PublishDelay (2 ms) of its write, however long the stream goes on writing, and nothing is published
// after the exchange completed.
func TestStreamWithoutFlushesIsRecordedAsItGoes(t *testing.T) {
	store := NewStore(StoreOptions{})
	sub := store.Subscribe(100000)
	const events = 100
	base, _ := serveRecorded(t, store, Options{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		for i := range events {
			fmt.Fprintf(w, "data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{\"n\":%d}}\n\n", i)
			time.Sleep(time.Millisecond)
		}
	}))
	resp, err := http.Get(base + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	var changed int
	var ex *Exchange
	for ex == nil {
		u := <-sub.C
		switch u.Kind {
		case Changed:
			changed++
		case Completed:
			ex = u.Exchange
		}
	}
	// 100 writes over at least 100 ms: a deadline that each write pushed back would publish once or twice.
	if changed < 10 {
		t.Errorf("%d updates while %d events were written over %s: the stream was not recorded as it went", changed, events, ex.Timings.Total)
	}
	if len(ex.Events) != events || len(ex.RPC) != events {
		t.Errorf("%d events, %d messages", len(ex.Events), len(ex.RPC))
	}
	time.Sleep(40 * time.Millisecond) // 20 times the delay
	select {
	case u := <-sub.C:
		t.Errorf("an update after the exchange completed: %v", u.Kind)
	default:
	}
}

// The first requests are looked up in order, the rest in a map: a response pairs with the first request of the
// other side with its id on either path, and a later request with the same id changes nothing.
func TestPairRepliesBeyondTheFirstRequests(t *testing.T) {
	var msgs []RPC
	for i := range 6 {
		msgs = append(msgs, ParseRPC(fmt.Appendf(nil, `{"jsonrpc":"2.0","id":%d,"method":"m%d"}`, i, i), FromClient, -1)...)
	}
	for i := range 6 { // the same ids again: the first requests stand
		msgs = append(msgs, ParseRPC(fmt.Appendf(nil, `{"jsonrpc":"2.0","id":%d,"method":"again"}`, i), FromClient, -1)...)
	}
	for i := range 7 {
		msgs = append(msgs, ParseRPC(fmt.Appendf(nil, `{"jsonrpc":"2.0","id":%d,"result":{}}`, 6-i), FromServer, i)...)
	}
	pairReplies(msgs)
	for _, m := range msgs[12:] {
		want := ""
		if id := string(m.ID); id != "6" {
			want = "m" + id
		}
		if m.ReplyTo != want {
			t.Errorf("answer %s: ReplyTo %q, want %q", m.ID, m.ReplyTo, want)
		}
	}
}

// A message is read with one allocation, its list (its id is the body's bytes): the protocol version and the
// method are interned, no list of raw messages is made for a single one, and a request and its answer are paired
// without a map.
func TestParseRPCAllocations(t *testing.T) {
	if testkit.Race {
		t.Skip("allocation counts under -race are the race detector's")
	}
	req := []byte(`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo"}}`)
	resp := []byte(`{"jsonrpc":"2.0","id":7,"result":{"content":[]}}`)
	var msgs []RPC
	allocs := testing.AllocsPerRun(100, func() {
		msgs, _ = appendRPC(nil, 1, -1, req, FromClient, -1)
		msgs, _ = appendRPC(msgs, 0, -1, resp, FromServer, 0)
		pairReplies(msgs)
	})
	if len(msgs) != 2 || msgs[0].Method != "tools/call" || msgs[1].ReplyTo != "tools/call" {
		t.Fatalf("%+v", msgs)
	}
	if allocs > 1 {
		t.Errorf("%.0f allocations for a request and its answer, want 1 (the list; the ids are the bodies' bytes)", allocs)
	}
}

// The recorder's part of a recorded JSON-RPC POST answered with JSON, beside the same handler unrecorded: its
// body wrappers live in the exchange's own allocation and the request's message list is made with room for the
// answer (the request is read first: in the exchange's own allocation, and the messages' ids are the bodies'
// bytes), so recording adds a bounded, small number of allocations (13 until the list and the ids, 10 since, 9
// since the request's context is the exchange's own: liveCtx; 8 measured then, the bound since the body read to its
// end is let go without an allocation: live.letGo).
func TestRecorderAllocationsPerExchange(t *testing.T) {
	if testkit.Race {
		t.Skip("allocation counts under -race are the race detector's")
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"jsonrpc":"2.0","id":7,"result":{}}`)
	})
	store := NewStore(StoreOptions{MaxCount: 16})
	rec := New(store, Options{}).Middleware(h)
	bare, recorded := leastAllocs(serveCall(h)), leastAllocs(serveCall(rec))
	if ex := store.Get(store.Stats().Total); ex == nil || ex.RPC[1].ReplyTo != "tools/call" {
		t.Fatalf("not recorded: %+v", ex)
	}
	t.Logf("%.0f allocations bare, %.0f recorded", bare, recorded)
	if recorded-bare > 8 {
		t.Errorf("recording adds %.0f allocations per exchange, want at most 8", recorded-bare)
	}
}

// A handler may leave its request body to another goroutine and return (a reverse proxy's transport goes on sending
// a full-duplex request upstream after the answer came back): the recorder's end of the exchange reads the body's
// bookkeeping while that goroutine reads the body. Under -race this was a data race on teeBody's fields.
func TestBodyReadAfterTheHandlerReturned(t *testing.T) {
	store := NewStore(StoreOptions{})
	sub := store.Subscribe(0)
	read := make(chan int64, 1)
	base, _ := serveRecorded(t, store, Options{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body := r.Body
		started := make(chan struct{})
		go func() {
			var first [1]byte
			n, _ := io.ReadFull(body, first[:])
			close(started)
			m, _ := io.Copy(io.Discard, body)
			read <- int64(n) + m
		}()
		<-started // it reads on while the handler returns
		w.WriteHeader(http.StatusAccepted)
	}))
	payload := strings.Repeat("x", 64<<10)
	resp, err := http.Post(base+"/mcp", "text/plain", strings.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	exs := waitCompleted(t, sub, 1)
	if exs[0].Status != http.StatusAccepted {
		t.Fatalf("status %d", exs[0].Status)
	}
	select {
	case <-read:
	case <-time.After(10 * time.Second):
		t.Fatal("the handler's goroutine never finished reading")
	}
	if got := exs[0].ReqBody.Size; got > int64(len(payload)) {
		t.Fatalf("recorded %d request bytes of %d", got, len(payload))
	}
}

// Nothing is handed to a subscriber while a stream is served: not its beginning before the first event reaches
// the client, not its end before the client has the last byte and sends its next request. A subscriber woken
// there ran on the proxy's core before it read the upstream's answer or the client's next request, and the first
// event waited for it (docs/benchmarks-store.md, "Subscribers off the path").
func TestStreamWakesNoSubscriberWhileServed(t *testing.T) {
	store := NewStore(StoreOptions{PublishDelay: time.Hour})
	sub := store.Subscribe(16) // hears of requests as they begin, as the TUI does
	release := make(chan struct{})
	base, _ := serveRecorded(t, store, Options{PublishDelay: time.Hour}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "id: 1\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\"}\n\n")
		w.(http.Flusher).Flush()
		<-release
		io.WriteString(w, "id: 2\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\"}\n\n")
	}))
	resp, err := http.Get(base + "/mcp")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if line == "\n" {
			break
		}
	}
	if n := len(sub.C); n != 0 {
		t.Errorf("%d updates handed to the subscriber before the first event reached the client (%v)", n, (<-sub.C).Kind)
	}
	close(release)
	if _, err := io.Copy(io.Discard, br); err != nil {
		t.Fatal(err)
	}
	if n := len(sub.C); n != 0 {
		t.Errorf("%d updates handed to the subscriber before the client had the stream's end", n)
	}
	sub.Close() // hands over what is pending
	var kinds []UpdateKind
	var last *Exchange
	for u := range sub.C {
		kinds = append(kinds, u.Kind)
		last = u.Exchange
	}
	if fmt.Sprint(kinds) != fmt.Sprint([]UpdateKind{Began, Completed}) || len(last.Events) != 2 || len(last.RPC) != 2 {
		t.Errorf("the subscriber got %v, the last with %d events", kinds, len(last.Events))
	}
}

// The recorder's part of a recorded tools/call answered as serve answers it in the legacy era: an event stream of
// a priming event, flushed, then the answer's event. The stream's events are cut from the body the recorder keeps
// (their texts are its bytes), its first two events and the era's note live in the exchange's own allocation and
// its body starts with room for both events, so that a stream adds no allocation per event: 13 allocations more
// than the handler alone, 24 before (the events' list twice, two event ids, the priming event's type, the answer's
// data, the note's list and the body's growth; then the message list and the messages' ids, as for a JSON answer);
// 11 at 117047b, 10 since the request's context is the exchange's own (liveCtx).
func TestRecorderAllocationsPerStream(t *testing.T) {
	if testkit.Race {
		t.Skip("allocation counts under -race are the race detector's")
	}
	const (
		prime  = "event: prime\nid: 2Q4QP5ASOC4O5EHEJOPZ4HXJOW_0\ndata: \n\n"
		answer = "event: message\nid: 2Q4QP5ASOC4O5EHEJOPZ4HXJOW_1\ndata: {\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{}}\n\n"
	)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		AddNote(r.Context(), "era", "legacy: session id")
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, prime)
		w.(http.Flusher).Flush()
		io.WriteString(w, answer)
		w.(http.Flusher).Flush()
	})
	store := NewStore(StoreOptions{MaxCount: 16})
	rec := New(store, Options{PublishDelay: time.Hour}).Middleware(h) // no progress published: the stream's own cost
	bare, recorded := leastAllocs(serveCall(h)), leastAllocs(serveCall(rec))
	ex := store.Get(store.Stats().Total)
	if ex == nil || len(ex.Events) != 2 || ex.Events[1].ID != "2Q4QP5ASOC4O5EHEJOPZ4HXJOW_1" || ex.Events[0].Event != "prime" ||
		ex.Events[1].Data != `{"jsonrpc":"2.0","id":7,"result":{}}` || len(ex.RPC) != 2 || ex.RPC[1].ReplyTo != "tools/call" ||
		string(ex.RespBody.Data) != prime+answer || len(ex.Notes) != 1 {
		t.Fatalf("recorded %+v", ex)
	}
	t.Logf("%.0f allocations bare, %.0f recorded", bare, recorded)
	if recorded-bare > 9 { // 9 measured since liveCtx; the bound since live.letGo
		t.Errorf("recording a two-event stream adds %.0f allocations per exchange, want at most 9", recorded-bare)
	}
}

// serveCall returns a function that serves h one tools/call, for allocation counts.
func serveCall(h http.Handler) func() {
	return func() {
		r := httptest.NewRequest("POST", "/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{}}`))
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
}

// leastAllocs is the least of three testing.AllocsPerRun counts of f. AllocsPerRun counts the whole process's
// allocations: another test's goroutine still winding down (a capture writer's or a feeder's gathering timer) can
// only add to them, so the least of three runs is f's.
func leastAllocs(f func()) float64 {
	n := testing.AllocsPerRun(200, f)
	for range 2 {
		n = min(n, testing.AllocsPerRun(200, f))
	}
	return n
}
