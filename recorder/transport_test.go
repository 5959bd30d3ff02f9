package recorder

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/internal/testkit"
)

func TestTransportRecordsAnOutboundRequest(t *testing.T) {
	var gotBody string
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		gotBody = string(b)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"client_id":"https://client.example/meta.json","client_name":"Example"}`)
	}))
	defer upstream.Close()

	store := NewStore(StoreOptions{})
	sub := store.Subscribe(0)
	client := &http.Client{Transport: &Transport{Recorder: New(store, Options{})}}
	req, _ := http.NewRequest("POST", upstream.URL+"/meta.json?x=1", strings.NewReader("ping"))
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if gotBody != "ping" || !strings.Contains(string(body), "client_name") {
		t.Fatalf("the transport changed the traffic: sent %q got %q", gotBody, body)
	}
	ex := waitCompleted(t, sub, 1)[0]
	if ex.Kind != Outbound || ex.Method != "POST" || ex.URL != upstream.URL+"/meta.json?x=1" || ex.Host != upstream.Listener.Addr().String() {
		t.Errorf("kind %s %s %s host %s", ex.Kind, ex.Method, ex.URL, ex.Host)
	}
	if ex.Status != 200 || ex.RespHeaders.Get("Content-Type") != "application/json" || string(ex.RespBody.Data) != string(body) {
		t.Errorf("status %d headers %v body %q", ex.Status, ex.RespHeaders, ex.RespBody.Data)
	}
	if string(ex.ReqBody.Data) != "ping" || ex.ReqHeaders.Get("Accept") != "application/json" || ex.Proto != "HTTP/1.1" {
		t.Errorf("request body %q headers %v proto %s", ex.ReqBody.Data, ex.ReqHeaders, ex.Proto)
	}
	if ex.Path() != "/meta.json" {
		t.Errorf("path %q", ex.Path())
	}
}

// streamThroughTransport GETs an event stream through a recording Transport: the upstream sends first, flushes,
// and sends second once next is sent to (or closed at the end of the test).
func streamThroughTransport(t *testing.T, opts Options, first, second string) (resp *http.Response, sub *Subscription, next chan struct{}) {
	t.Helper()
	next = make(chan struct{})
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, first)
		w.(http.Flusher).Flush()
		<-next
		fmt.Fprint(w, second)
	}))
	t.Cleanup(upstream.Close)
	t.Cleanup(func() { close(next) })
	store := NewStore(StoreOptions{PublishDelay: -1}) // each update handed over as it is made: what a read published is in sub.C when it returns
	sub = store.Subscribe(0)
	client := &http.Client{Transport: &Transport{Recorder: New(store, opts)}}
	resp, err := client.Get(upstream.URL + "/mcp")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp, sub, next
}

func TestTransportRecordsAStreamedBodyAsItIsRead(t *testing.T) {
	resp, sub, next := streamThroughTransport(t, Options{},
		"id: 1\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\"}\n\n", "id: 2\ndata: bye\n\n")
	br := bufio.NewReader(resp.Body)
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if l == "\n" {
			break
		}
	}
	// The first event is recorded while the stream is still open.
	timeout := time.After(10 * time.Second)
	for seen := false; !seen; {
		select {
		case u := <-sub.C:
			if u.Kind == Completed {
				t.Fatal("completed while the stream was open")
			}
			seen = u.Kind == Changed && len(u.Exchange.Events) == 1 && u.Exchange.State == StateStreaming
		case <-timeout:
			t.Fatal("first event not recorded while the stream was open")
		}
	}
	next <- struct{}{}
	rest, _ := io.ReadAll(br)
	resp.Body.Close()
	if string(rest) != "id: 2\ndata: bye\n\n" {
		t.Errorf("rest %q", rest)
	}
	ex := waitCompleted(t, sub, 1)[0]
	if len(ex.Events) != 2 || ex.Events[1].Data != "bye" || ex.RPC[0].Method != "notifications/message" || ex.RPC[0].From != FromServer {
		t.Errorf("events %+v rpc %+v", ex.Events, ex.RPC)
	}
}

func TestTransportRecordsAFailedRequest(t *testing.T) {
	upstream := httptest.NewServer(http.NotFoundHandler())
	url := upstream.URL
	upstream.Close() // nothing listens there any more

	store := NewStore(StoreOptions{})
	client := &http.Client{Transport: &Transport{Recorder: New(store, Options{})}}
	if _, err := client.Get(url + "/x"); err == nil {
		t.Fatal("want an error")
	}
	snap := store.Snapshot()
	if len(snap) != 1 || snap[0].State != StateComplete || snap[0].Error == "" || snap[0].Status != 0 {
		t.Fatalf("%+v", snap)
	}
}

func TestTransportCompletesWhenTheBodyIsClosedUnread(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "unread")
	}))
	defer upstream.Close()
	store := NewStore(StoreOptions{})
	client := &http.Client{Transport: &Transport{Recorder: New(store, Options{})}}
	resp, err := client.Get(upstream.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if ex := store.Snapshot()[0]; ex.State != StateComplete || ex.Status != 200 {
		t.Errorf("state %s status %d", ex.State, ex.Status)
	}
}

func TestTransportWithoutARecorderPassesThrough(t *testing.T) {
	upstream := testkit.Serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") }))
	resp, err := (&http.Client{Transport: &Transport{}}).Get(upstream.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}

// A proxy reads the upstream's stream, passes each piece on, and reads again: the next read publishes nothing
// (recording there delayed the event on its way to the client); the late timer publishes the event
// Options.PublishDelay after it arrived, while the stream is still open.
func TestTransportRecordsAStreamOffTheReadPath(t *testing.T) {
	for _, delay := range []time.Duration{time.Hour, 5 * time.Millisecond} {
		resp, sub, _ := streamThroughTransport(t, Options{PublishDelay: delay}, "id: 1\ndata: one\n\n", "id: 2\ndata: two\n\n")
		buf := make([]byte, 4096)
		if n, err := resp.Body.Read(buf); err != nil || string(buf[:n]) != "id: 1\ndata: one\n\n" {
			t.Fatalf("first read %q %v", buf[:n], err)
		}
		readAgain := make(chan struct{})
		go func() { close(readAgain); resp.Body.Read(buf) }() // waits for the second event
		<-readAgain
		timeout := time.After(10 * time.Second)
		if delay == time.Hour {
			timeout = time.After(100 * time.Millisecond) // 20 times the other delay: long enough for a read to publish
		}
	wait:
		for {
			select {
			case u := <-sub.C:
				if u.Kind == Changed {
					if delay == time.Hour {
						t.Fatalf("published %d events on the read path", len(u.Exchange.Events))
					}
					if len(u.Exchange.Events) != 1 || u.Exchange.State != StateStreaming {
						t.Fatalf("published %d events, state %s", len(u.Exchange.Events), u.Exchange.State)
					}
					break wait
				}
			case <-timeout:
				if delay != time.Hour {
					t.Fatalf("the first event was not published within %s", delay)
				}
				break wait
			}
		}
	}
}

// The first read of a stream publishes nothing before it reads: the headers alone are published with the first
// events, so that recording them does not delay the first event through a proxy.
func TestTransportFirstReadDoesNotPublishTheHeadersAlone(t *testing.T) {
	resp, sub, _ := streamThroughTransport(t, Options{PublishDelay: time.Hour}, "id: 1\ndata: one\n\n", "id: 2\ndata: two\n\n")
	buf := make([]byte, 4096)
	if n, err := resp.Body.Read(buf); err != nil || string(buf[:n]) != "id: 1\ndata: one\n\n" {
		t.Fatalf("first read %q %v", buf[:n], err)
	}
	// Whatever the first read published is in sub.C by now (the store hands updates over at once: PublishDelay -1).
	for {
		select {
		case u := <-sub.C:
			if u.Kind != Began {
				t.Fatalf("the first read published %v (%d events) before the first event was passed on", u.Kind, len(u.Exchange.Events))
			}
			continue
		default:
		}
		break
	}
}

// A body the caller holds in memory (GetBody) is recorded when the request went out, and only then.
func TestTransportRecordsAnInMemoryBodyOnceSent(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
	}))
	defer upstream.Close()
	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL
	down.Close()
	for _, tc := range []struct {
		url  string
		want string
	}{{upstream.URL, `{"a":1}`}, {downURL, ""}} {
		store := NewStore(StoreOptions{})
		client := &http.Client{Transport: &Transport{Recorder: New(store, Options{})}}
		req, _ := http.NewRequest("POST", tc.url+"/mcp", bytes.NewReader([]byte(`{"a":1}`))) // sets GetBody
		if req.GetBody == nil {
			t.Fatal("no GetBody")
		}
		if resp, err := client.Do(req); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		exs := store.Snapshot()
		if len(exs) != 1 || string(exs[0].ReqBody.Data) != tc.want || exs[0].ReqBody.Size != int64(len(tc.want)) {
			t.Errorf("%s: recorded body %q (size %d), want %q", tc.url, exs[0].ReqBody.Data, exs[0].ReqBody.Size, tc.want)
		}
	}
}
