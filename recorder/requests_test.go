package recorder

import (
	"bufio"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// Recorder.Requests counts as streams that would not end on their own a GET's event stream and a POST's that has
// answered every request it carried, not a POST's whose answer is still to come (a server that stops must let
// that one answer), nor a plain answer in progress.
func TestRequestsCountsStreamsThatWouldNotEnd(t *testing.T) {
	answer := make(chan struct{})
	release := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body strings.Builder
		_, _ = bufio.NewReader(r.Body).WriteTo(&body)
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		if r.Method == http.MethodPost {
			select {
			case <-answer:
			case <-release:
				return
			}
			fmt.Fprint(w, "event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{}}\n\n")
			w.(http.Flusher).Flush()
		}
		<-release // held open
	})
	rec := New(NewStore(StoreOptions{}), Options{PublishDelay: time.Millisecond})
	srv := httptest.NewServer(rec.Middleware(h))
	defer srv.Close()
	defer close(release) // before the server closes: it waits for its handlers
	open := func(method, body string) *http.Response {
		req, _ := http.NewRequest(method, srv.URL+"/mcp", strings.NewReader(body))
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	wait := func(wantOpen, wantStreams int64) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			o, s := rec.Requests()
			if o == wantOpen && s == wantStreams {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("Requests: %d open, %d streams; want %d, %d", o, s, wantOpen, wantStreams)
			}
			time.Sleep(time.Millisecond)
		}
	}
	open(http.MethodPost, `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"slow"}}`)
	wait(1, 0) // its answer is still to come: not a stream to cut
	time.Sleep(20 * time.Millisecond)
	if _, s := rec.Requests(); s != 0 {
		t.Fatalf("a POST stream that has not answered counted as a stream that would not end (%d)", s)
	}
	open(http.MethodGet, "")
	wait(2, 1)
	close(answer)
	wait(2, 2) // answered and still open: it would not end on its own
}
