package recorder

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// callHeaders is what call n of TestHeaderListsConcurrentCalls sends (req) and its upstream answers (resp): a few
// recurring sets of names, one name more or less, names without values, and now and then a set never seen before.
func callHeaders(n int) (req, resp http.Header) {
	pool := []string{"Accept", "Content-Type", "Mcp-Session-Id", "Mcp-Protocol-Version", "User-Agent", "Authorization",
		"X-Forwarded-For", "X-Trace"}
	req, resp = http.Header{"X-Call": {strconv.Itoa(n)}}, http.Header{"X-Call": {strconv.Itoa(n)}}
	for i, name := range pool {
		switch (n/3 + i) % 5 {
		case 0: // left out
		case 1:
			if n%4 == 0 {
				req[name] = nil // a name without values
			}
		default:
			req[name] = []string{name + "-" + strconv.Itoa(n%7), "second"}[:1+(n+i)%2]
		}
		if (n+i)%3 != 0 {
			resp[name] = []string{strconv.Itoa(n)}
		}
	}
	if n%11 == 0 {
		req[fmt.Sprintf("X-Once-%d", n)] = []string{"x"} // a set of names never seen again
		resp[fmt.Sprintf("X-Once-%d", n)] = []string{"y"}
	}
	return req, resp
}

// answersByCall answers call n (its X-Call header) with callHeaders(n)'s response headers.
type answersByCall struct{}

func (answersByCall) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		io.Copy(io.Discard, req.Body)
		req.Body.Close()
	}
	n, _ := strconv.Atoi(req.Header.Get("X-Call"))
	_, h := callHeaders(n)
	return &http.Response{StatusCode: 200, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: h,
		Body: io.NopCloser(strings.NewReader(memAnswer)), ContentLength: int64(len(memAnswer)), Request: req}, nil
}

// Proxied calls from many goroutines at once, their header sets changing call by call (the per-recorder name orders
// filled, hit and replaced while other calls build from them): every upstream copy's two lists are FromHTTP's of
// what was sent and answered, and its client's answer the same list. Run with -race.
func TestHeaderListsConcurrentCalls(t *testing.T) {
	const workers, calls = 8, 150
	store := NewStore(StoreOptions{MaxCount: workers * calls * 2})
	rec := New(store, Options{})
	sub := store.SubscribeWith(SubscribeOptions{Buffer: workers * calls * 4, NoBegan: true})
	for _, derive := range []bool{true, false} {
		h := proxiedHandler(t, rec, &Transport{Base: answersByCall{}, Recorder: rec, Derive: derive})
		body := `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}`
		var wg sync.WaitGroup
		done := make(chan struct{})
		read := make(chan int)
		go func() { // exchanges in flight read as they are built: snapshots of their lists
			k := 0
			for {
				select {
				case <-done:
					read <- k
					return
				default:
				}
				for _, ex := range store.Snapshot() {
					k += len(ex.ReqHeaders) + len(ex.RespHeaders)
				}
			}
		}()
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := range calls {
					req, _ := callHeaders(w*calls + k)
					r := httptest.NewRequest("POST", "/mcp", strings.NewReader(body))
					r.ContentLength = int64(len(body))
					r.Header = req
					h.ServeHTTP(httptest.NewRecorder(), r)
				}
			}()
		}
		wg.Wait()
		close(done)
		t.Logf("derive %v: %d header pairs read from snapshots during the calls", derive, <-read)
		// every call's two records, heard once published (bounded wait)
		out, in := map[int]*Exchange{}, map[int]*Exchange{}
		deadline := time.After(30 * time.Second)
		for len(out) < workers*calls || len(in) < workers*calls {
			select {
			case u := <-sub.C:
				if u.Kind != Completed {
					continue
				}
				var call []string
				for _, hd := range u.Exchange.RespHeaders {
					if hd.Name == "X-Call" {
						call = append(call, hd.Value)
					}
				}
				n, err := strconv.Atoi(strings.Join(call, ","))
				if err != nil {
					t.Fatalf("derive %v: a record without its call's answer: %+v", derive, u.Exchange)
				}
				if u.Exchange.Kind == Outbound {
					out[n] = u.Exchange
				} else {
					in[n] = u.Exchange
				}
			case <-deadline:
				t.Fatalf("derive %v: %d upstream copies and %d client exchanges heard of %d calls", derive, len(out), len(in), workers*calls)
			}
		}
		for n, ex := range out {
			req, resp := callHeaders(n)
			if !reflect.DeepEqual(ex.ReqHeaders, FromHTTP(req)) {
				t.Fatalf("derive %v, call %d: upstream copy's request list %v, FromHTTP %v", derive, n, ex.ReqHeaders, FromHTTP(req))
			}
			if !reflect.DeepEqual(ex.RespHeaders, FromHTTP(resp)) {
				t.Fatalf("derive %v, call %d: upstream copy's answer list %v, FromHTTP %v", derive, n, ex.RespHeaders, FromHTTP(resp))
			}
			if c := in[n]; !reflect.DeepEqual(c.RespHeaders, FromHTTP(resp)) {
				t.Fatalf("derive %v, call %d: client's answer list %v, FromHTTP %v", derive, n, c.RespHeaders, FromHTTP(resp))
			}
		}
	}
}
