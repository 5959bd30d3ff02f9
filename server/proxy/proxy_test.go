package proxy_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/internal/testkit"
	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/server"
	"github.com/mcpwatch/mcpwatch/server/proxy"
	"github.com/mcpwatch/mcpwatch/server/servertest"
)

// rig is mcpwatch's router (capture, guard) with the proxy mounted, listening on loopback.
type rig struct {
	store *recorder.Store
	url   string
}

func newRig(t *testing.T, upstream string, opts proxy.Options, public string) *rig {
	t.Helper()
	store := recorder.NewStore(recorder.StoreOptions{})
	rec := recorder.New(store, recorder.Options{})
	opts.Upstream, opts.Recorder = upstream, rec
	p, err := proxy.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close) // after the server stopped
	srv := servertest.Serve(t, server.Config{PublicURL: public, Recorder: rec, Handler: p, EndpointPath: p.EndpointPath()})
	return &rig{store: store, url: srv.LocalURL()}
}

// exchanges waits until n exchanges are complete and returns them (inbound, then outbound, in id order).
func (r *rig) exchanges(t *testing.T, n int) []*recorder.Exchange {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var done []*recorder.Exchange
		for _, ex := range r.store.Snapshot() {
			if ex.State == recorder.StateComplete {
				done = append(done, ex)
			}
		}
		if len(done) >= n {
			return done
		}
		if time.Now().After(deadline) {
			t.Fatalf("want %d complete exchanges, have %d", n, len(done))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func pair(t *testing.T, exs []*recorder.Exchange) (in, out *recorder.Exchange) {
	t.Helper()
	for _, ex := range exs {
		switch ex.Kind {
		case recorder.Inbound:
			in = ex
		case recorder.Outbound:
			out = ex
		}
	}
	if in == nil || out == nil {
		t.Fatalf("want an inbound and an outbound exchange, have %d exchanges", len(exs))
	}
	return in, out
}

func TestForwardsAndRecordsBothSidesLinked(t *testing.T) {
	var got struct {
		sync.Mutex
		host, xfh, xfp, xff, path, body string
	}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got.Lock()
		got.host, got.xfh, got.xfp, got.xff = r.Host, r.Header.Get("X-Forwarded-Host"), r.Header.Get("X-Forwarded-Proto"), r.Header.Get("X-Forwarded-For")
		got.path, got.body = r.URL.RequestURI(), string(b)
		got.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Mcp-Session-Id", "s-1")
		io.WriteString(w, `{"jsonrpc":"2.0","id":1,"result":{}}`)
	}))
	defer up.Close()
	r := newRig(t, up.URL+"/mcp", proxy.Options{}, "https://abc.trycloudflare.com")

	req, _ := http.NewRequest("POST", r.url+"/mcp?x=1", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"initialize"}`))
	req.Host = "abc.trycloudflare.com"
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-For", "203.0.113.7")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != `{"jsonrpc":"2.0","id":1,"result":{}}` || resp.Header.Get("Mcp-Session-Id") != "s-1" {
		t.Fatalf("client got %d %q %v", resp.StatusCode, body, resp.Header)
	}
	got.Lock()
	upHost := strings.TrimPrefix(up.URL, "http://")
	if got.host != upHost || got.xfh != "abc.trycloudflare.com" || got.xfp != "https" || got.xff != "203.0.113.7, 127.0.0.1" {
		t.Errorf("upstream saw Host %q X-Forwarded-Host %q -Proto %q -For %q", got.host, got.xfh, got.xfp, got.xff)
	}
	if got.path != "/mcp?x=1" || got.body != `{"jsonrpc":"2.0","id":1,"method":"initialize"}` {
		t.Errorf("upstream got %q %q", got.path, got.body)
	}
	got.Unlock()

	in, out := pair(t, r.exchanges(t, 2))
	if in.Note(recorder.NoteOutbound) != strconv.FormatUint(out.ID, 10) || out.Note(recorder.NoteInbound) != strconv.FormatUint(in.ID, 10) {
		t.Errorf("not linked: inbound notes %v, outbound notes %v", in.Notes, out.Notes)
	}
	if out.URL != up.URL+"/mcp?x=1" || out.Status != 200 || string(out.RespBody.Data) != string(body) || string(out.ReqBody.Data) != string(in.ReqBody.Data) {
		t.Errorf("outbound %s %d %q %q", out.URL, out.Status, out.RespBody.Data, out.ReqBody.Data)
	}
	if in.Status != 200 || string(in.RespBody.Data) != string(body) || in.RPCMethod() != "initialize" {
		t.Errorf("inbound %d %q %q", in.Status, in.RespBody.Data, in.RPCMethod())
	}
}

func TestPreserveHostSendsThePublicHost(t *testing.T) {
	hosts := make(chan string, 1)
	up := testkit.Serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hosts <- r.Host }))
	r := newRig(t, up.URL, proxy.Options{PreserveHost: true}, "https://abc.trycloudflare.com")
	req, _ := http.NewRequest("GET", r.url+"/", nil)
	req.Host = "abc.trycloudflare.com"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if h := <-hosts; h != "abc.trycloudflare.com" {
		t.Errorf("upstream saw Host %q", h)
	}
}

func TestForeignHostRefusedBeforeTheUpstream(t *testing.T) {
	called := make(chan struct{}, 1)
	up := testkit.Serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { called <- struct{}{} }))
	r := newRig(t, up.URL, proxy.Options{}, "")
	req, _ := http.NewRequest("GET", r.url+"/mcp", nil)
	req.Host = "evil.example"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Errorf("status %d", resp.StatusCode)
	}
	select {
	case <-called:
		t.Error("the upstream was called")
	default:
	}
}

// Each SSE event reaches the client before the upstream writes the next one: the upstream waits for the client to
// have read event 1 before it writes event 2, so a proxy that buffered would never deliver either.
func TestStreamsEachEventAsItArrives(t *testing.T) {
	clientGotFirst := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "id: 1\ndata: {\"n\":1}\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-clientGotFirst:
		case <-time.After(10 * time.Second):
			return
		}
		io.WriteString(w, "id: 2\ndata: {\"n\":2}\n\n")
	}))
	defer up.Close()
	r := newRig(t, up.URL, proxy.Options{}, "")

	req, _ := http.NewRequest("GET", r.url+"/mcp", nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	first := readEvent(t, br)
	if first != "id: 1\ndata: {\"n\":1}\n\n" {
		t.Fatalf("first event %q", first)
	}
	// The capture has the event too, while the stream is still open (published once its bytes are on their way —
	// after the flush, or 2 ms later at the latest — so it may follow the client's read by a moment).
	var live *recorder.Exchange
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		live = nil
		for _, ex := range r.store.Snapshot() {
			if ex.Kind == recorder.Inbound {
				live = ex
			}
		}
		if live != nil && len(live.Events) == 1 {
			break
		}
	}
	if live == nil || live.State != recorder.StateStreaming || len(live.Events) != 1 {
		t.Errorf("inbound exchange while streaming: %+v", live)
	}
	close(clientGotFirst)
	if second := readEvent(t, br); second != "id: 2\ndata: {\"n\":2}\n\n" {
		t.Fatalf("second event %q", second)
	}
	in, out := pair(t, r.exchanges(t, 2))
	if len(in.Events) != 2 || len(out.Events) != 2 || in.Events[1].Data != `{"n":2}` {
		t.Errorf("events: inbound %+v outbound %+v", in.Events, out.Events)
	}
}

func readEvent(t *testing.T, br *bufio.Reader) string {
	t.Helper()
	type res struct {
		s   string
		err error
	}
	c := make(chan res, 1)
	go func() {
		var b strings.Builder
		for {
			line, err := br.ReadString('\n')
			b.WriteString(line)
			if err != nil {
				c <- res{b.String(), err}
				return
			}
			if line == "\n" {
				c <- res{b.String(), nil}
				return
			}
		}
	}()
	select {
	case r := <-c:
		if r.err != nil {
			t.Fatalf("reading an event: %v (so far %q)", r.err, r.s)
		}
		return r.s
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10s: the proxy is buffering")
		return ""
	}
}

// The upstream receives the start of a request body before the client has written the rest.
func TestStreamsRequestBodies(t *testing.T) {
	gotFirst := make(chan string, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		br := bufio.NewReader(r.Body)
		line, _ := br.ReadString('\n')
		gotFirst <- line
		rest, _ := io.ReadAll(br)
		fmt.Fprintf(w, "%s|%s", strings.TrimSpace(line), rest)
	}))
	defer up.Close()
	r := newRig(t, up.URL, proxy.Options{}, "")

	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", r.url+"/upload", pr)
	type result struct {
		body string
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- result{err: err}
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- result{string(b), err}
	}()
	io.WriteString(pw, "first\n")
	select {
	case l := <-gotFirst:
		if l != "first\n" {
			t.Fatalf("upstream read %q", l)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the upstream did not receive the first part of the body before the rest was written")
	}
	io.WriteString(pw, "second")
	pw.Close()
	res := <-done
	if res.err != nil || res.body != "first|second" {
		t.Fatalf("client got %q, %v", res.body, res.err)
	}
}

// The request body stays readable after the response has started: the client sends part of a body, the upstream
// answers it and flushes, then the client sends the rest. (The same mechanism once cut SSE responses after their
// first event: net/http closed the request body when the proxy flushed the headers, while the transport was still
// reading it.)
func TestFullDuplexBodies(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.NewResponseController(w).EnableFullDuplex()
		br := bufio.NewReader(r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			fmt.Fprintf(w, "data: %s\n", line)
			w.(http.Flusher).Flush()
		}
	}))
	t.Cleanup(up.Close) // after the rig's cleanup, which cuts the proxy's connection to it
	r := newRig(t, up.URL, proxy.Options{}, "")
	pr, pw := io.Pipe()
	defer pw.Close() // also unblocks a write if nothing reads the body any more
	req, _ := http.NewRequest("POST", r.url+"/mcp", pr)
	respc := make(chan *http.Response, 1)
	errc := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			errc <- err
			return
		}
		respc <- resp
	}()
	io.WriteString(pw, "one\n")
	var resp *http.Response
	select {
	case resp = <-respc:
	case err := <-errc:
		t.Fatal(err)
	case <-time.After(10 * time.Second):
		t.Fatal("no response to the first part of the body")
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	if ev := readEvent(t, br); ev != "data: one\n\n" {
		t.Fatalf("first event %q", ev)
	}
	go io.WriteString(pw, "two\n") // after the response started
	if ev := readEvent(t, br); ev != "data: two\n\n" {
		t.Fatalf("second event %q", ev)
	}
}

func TestUpstreamDownIs502(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	r := newRig(t, "http://"+addr+"/mcp", proxy.Options{}, "")
	resp, err := http.Post(r.url+"/mcp", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 502 || !strings.Contains(string(body), "could not reach the upstream http://"+addr) || !strings.Contains(string(body), "connection refused") {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	in, out := pair(t, r.exchanges(t, 2))
	if in.Status != 502 || !strings.HasPrefix(in.Note(proxy.NoteError), "502 Bad Gateway") {
		t.Errorf("inbound %d notes %v", in.Status, in.Notes)
	}
	if out.Status != 0 || !strings.Contains(out.Error, "connection refused") {
		t.Errorf("outbound %d error %q", out.Status, out.Error)
	}
}

// An upstream that sends no response headers in time is answered 504, a GET event stream included (it would hang
// the client for ever); a stream whose headers came in time outlives the timeout.
func TestSlowUpstreamIs504EventStreamsToo(t *testing.T) {
	stop, late := make(chan struct{}), make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/stream" { // headers at once, the first event after the timeout
			w.Header().Set("Content-Type", "text/event-stream")
			w.WriteHeader(200)
			w.(http.Flusher).Flush()
			select {
			case <-late:
				io.WriteString(w, "data: late\n\n")
			case <-stop:
			}
			return
		}
		select { // never answers
		case <-stop:
		case <-r.Context().Done():
		}
	}))
	defer up.Close()
	defer close(stop)
	r := newRig(t, up.URL, proxy.Options{HeaderTimeout: 100 * time.Millisecond}, "")
	client := &http.Client{Timeout: 10 * time.Second} // a hang fails the test instead of stalling it

	get := func(path string) *http.Request {
		req, _ := http.NewRequest("GET", r.url+path, nil)
		req.Header.Set("Accept", "text/event-stream")
		return req
	}
	post, _ := http.NewRequest("POST", r.url+"/mcp", strings.NewReader(`{}`))
	for _, req := range []*http.Request{post, get("/mcp")} {
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", req.Method, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 504 || !strings.Contains(string(body), "sent no response headers within 100ms") {
			t.Fatalf("%s: %d %q", req.Method, resp.StatusCode, body)
		}
	}

	resp, err := client.Do(get("/stream"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("event stream: %d", resp.StatusCode)
	}
	time.Sleep(300 * time.Millisecond) // past the header timeout, which must no longer apply
	close(late)
	body, err := io.ReadAll(resp.Body)
	if string(body) != "data: late\n\n" {
		t.Fatalf("event stream after the timeout: %q, %v", body, err)
	}
}

// An upstream that breaks off mid-body: the client's response is aborted (not silently complete), and the capture
// says why.
func TestUpstreamBreakingOffAbortsTheResponse(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, bw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		bw.WriteString("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
		bw.WriteString("e\r\ndata: partial\n\r\n")
		bw.Flush()
		conn.Close()
	}))
	defer up.Close()
	r := newRig(t, up.URL, proxy.Options{}, "")
	resp, err := http.Get(r.url + "/mcp")
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil {
		t.Error("the client read a complete body from an upstream that broke off")
	}
	in, out := pair(t, r.exchanges(t, 2))
	if in.Error != "handler aborted the response" || !strings.Contains(in.Note(proxy.NoteError), "broke off") {
		t.Errorf("inbound error %q notes %v", in.Error, in.Notes)
	}
	if out.Error == "" {
		t.Error("outbound has no error")
	}
}

func TestClientClosingAStreamIsNotAnError(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: hello\n\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	defer up.Close()
	r := newRig(t, up.URL, proxy.Options{}, "")
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", r.url+"/mcp", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	readEvent(t, bufio.NewReader(resp.Body))
	cancel()
	resp.Body.Close()
	in, _ := pair(t, r.exchanges(t, 2))
	if in.Error != "stream closed by the client" || len(in.Events) != 1 {
		t.Errorf("inbound error %q events %d", in.Error, len(in.Events))
	}
}

func TestRewritesTheUpstreamsOwnURLs(t *testing.T) {
	var upURL string
	gz := func(s string) []byte {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		zw.Write([]byte(s))
		zw.Close()
		return b.Bytes()
	}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		local := strings.Replace(upURL, "127.0.0.1", "localhost", 1) // the server says localhost
		port := upURL[strings.LastIndexByte(upURL, ':')+1:]
		switch r.URL.Path {
		case "/mcp":
			w.Header().Set("WWW-Authenticate", `Bearer resource_metadata="`+local+`/.well-known/oauth-protected-resource/mcp", scope="mcp"`)
			w.WriteHeader(401)
		case "/.well-known/oauth-protected-resource/mcp":
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("ETag", `"v1"`)
			fmt.Fprintf(w, `{"resource":"%s/mcp","authorization_servers":["%s"],"other":"http:\/\/127.0.0.1:%s\/x","not":"%s0/y"}`, local, upURL, port, local)
		case "/.well-known/oauth-authorization-server":
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Encoding", "gzip")
			w.Write(gz(`{"issuer":"` + local + `","token_endpoint":"` + local + `/token"}`))
		case "/.well-known/openid-configuration":
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Encoding", "br")
			w.Write([]byte("not really brotli"))
		case "/authorize":
			http.Redirect(w, r, local+"/login?next=1", http.StatusFound)
		case "/consent": // the authorization response: back to the client, with iss (RFC 9207)
			w.Header().Set("Location", "https://claude.ai/api/mcp/auth_callback?code=c1&state=s%20x&iss="+url.QueryEscape(local)+"#f")
			w.WriteHeader(http.StatusFound)
		}
	}))
	defer up.Close()
	upURL = up.URL
	port := upURL[strings.LastIndexByte(upURL, ':')+1:]
	local := "http://localhost:" + port
	pub := "https://abc.trycloudflare.com"
	r := newRig(t, up.URL+"/mcp", proxy.Options{RewriteURLs: true}, pub)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path string) (*http.Response, string) {
		req, _ := http.NewRequest("GET", r.url+path, nil)
		req.Host = "abc.trycloudflare.com"
		req.Header.Set("Accept-Encoding", "gzip")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}

	resp, _ := get("/mcp")
	if want := `Bearer resource_metadata="` + pub + `/.well-known/oauth-protected-resource/mcp", scope="mcp"`; resp.Header.Get("WWW-Authenticate") != want {
		t.Errorf("WWW-Authenticate %q", resp.Header.Get("WWW-Authenticate"))
	}
	resp, body := get("/.well-known/oauth-protected-resource/mcp")
	want := `{"resource":"` + pub + `/mcp","authorization_servers":["` + pub + `"],"other":"https:\/\/abc.trycloudflare.com\/x","not":"` + local + `0/y"}`
	if body != want || resp.Header.Get("Content-Length") != strconv.Itoa(len(want)) || resp.Header.Get("ETag") != "" {
		t.Errorf("metadata %q (Content-Length %s, ETag %q)\nwant     %q", body, resp.Header.Get("Content-Length"), resp.Header.Get("ETag"), want)
	}
	resp, body = get("/.well-known/oauth-authorization-server")
	if body != `{"issuer":"`+pub+`","token_endpoint":"`+pub+`/token"}` || resp.Header.Get("Content-Encoding") != "" {
		t.Errorf("gzip metadata %q %v", body, resp.Header)
	}
	_, body = get("/.well-known/openid-configuration")
	if body != "not really brotli" {
		t.Errorf("br body changed: %q", body)
	}
	resp, _ = get("/authorize")
	if resp.Header.Get("Location") != pub+"/login?next=1" {
		t.Errorf("Location %q", resp.Header.Get("Location"))
	}
	resp, _ = get("/consent")
	if want := "https://claude.ai/api/mcp/auth_callback?code=c1&state=s%20x&iss=" + url.QueryEscape(pub) + "#f"; resp.Header.Get("Location") != want {
		t.Errorf("authorization response Location %q\nwant %q (iss names the public issuer)", resp.Header.Get("Location"), want)
	}

	// Each rewrite is noted on the inbound exchange; the outbound one keeps what the upstream sent.
	exs := r.exchanges(t, 10)
	notes := map[string][]proxy.Rewrite{}
	for _, ex := range exs {
		for _, n := range ex.Notes {
			if n.Key != proxy.NoteRewrite {
				continue
			}
			if ex.Kind != recorder.Inbound {
				t.Errorf("rewrite note on %s exchange", ex.Kind)
			}
			var rw proxy.Rewrite
			if err := json.Unmarshal([]byte(n.Value), &rw); err != nil {
				t.Fatal(err)
			}
			notes[ex.Path()] = append(notes[ex.Path()], rw)
		}
		if ex.Kind == recorder.Outbound && ex.Path() == "/.well-known/oauth-protected-resource/mcp" && !strings.Contains(string(ex.RespBody.Data), `"resource":"`+local+`/mcp"`) {
			t.Errorf("outbound body %q", ex.RespBody.Data)
		}
	}
	prm := notes["/.well-known/oauth-protected-resource/mcp"]
	if len(prm) != 3 || prm[0].Where != "body" || prm[0].To != pub || prm[0].Count+prm[1].Count+prm[2].Count != 3 {
		t.Errorf("metadata notes %+v", prm)
	}
	if ch := notes["/mcp"]; len(ch) != 1 || ch[0].Where != "header WWW-Authenticate" || ch[0].From != local || !strings.Contains(ch[0].Before, local) || !strings.Contains(ch[0].After, pub) {
		t.Errorf("challenge notes %+v", ch)
	}
	if oidc := notes["/.well-known/openid-configuration"]; len(oidc) != 1 || oidc[0].Skipped != "content-encoding br" {
		t.Errorf("oidc notes %+v", oidc)
	}
	if loc := notes["/authorize"]; len(loc) != 1 || loc[0].Where != "header Location" {
		t.Errorf("location notes %+v", loc)
	}
}

func TestRewriteOffForwardsUntouched(t *testing.T) {
	doc := `{"resource":"http://localhost:1/mcp"}`
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, strings.Replace(doc, "localhost:1", r.Host, 1))
	}))
	defer up.Close()
	r := newRig(t, up.URL, proxy.Options{}, "https://abc.trycloudflare.com")
	req, _ := http.NewRequest("GET", r.url+"/.well-known/oauth-protected-resource", nil)
	req.Host = "abc.trycloudflare.com"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), up.URL) {
		t.Errorf("body %q", b)
	}
}

// A small body is read whole and forwarded with its headers; one that ends before its Content-Length must not
// reach the upstream as a complete request, and the client is not left waiting.
func TestBodyShorterThanItsContentLength(t *testing.T) {
	reached := make(chan string, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err == nil {
			reached <- string(b)
		}
	}))
	defer up.Close()
	r := newRig(t, up.URL+"/mcp", proxy.Options{}, "")
	conn, err := net.Dial("tcp", strings.TrimPrefix(r.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(conn, "POST /mcp HTTP/1.1\r\nHost: "+strings.TrimPrefix(r.url, "http://")+"\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"jsonrpc\":")
	conn.(*net.TCPConn).CloseWrite()
	// Whatever the upstream makes of the broken request is forwarded (or the connection closes); what must not
	// happen is a wait for a body that will never come.
	if _, err := http.ReadResponse(bufio.NewReader(conn), nil); err != nil {
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatal("no answer: the proxy waits for a body that will never come")
		}
	}
	select {
	case b := <-reached:
		t.Errorf("the upstream read a complete body %q", b)
	case <-time.After(100 * time.Millisecond):
	}
}
