package proxy

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httputil"
	"strings"
	"testing"
)

// wholeBody hands the transport a small body in memory (so that net/http writes it with the headers) and leaves
// every other body streaming.
func TestWholeBody(t *testing.T) {
	small := `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`
	for _, tc := range []struct {
		name   string
		body   string
		length int64
		expect string
		whole  bool
	}{
		{"small", small, int64(len(small)), "", true},
		{"chunked", small, -1, "", false},
		{"large", strings.Repeat("x", maxWholeBody+1), maxWholeBody + 1, "", false},
		{"expect-continue", small, int64(len(small)), "100-continue", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			orig := io.NopCloser(strings.NewReader(tc.body))
			r, _ := http.NewRequest("POST", "http://x/mcp", nil)
			r.Body, r.ContentLength, r.GetBody = orig, tc.length, nil
			if tc.expect != "" {
				r.Header.Set("Expect", tc.expect)
			}
			wholeBody(r)
			if !tc.whole {
				if r.Body != orig || r.GetBody != nil {
					t.Fatal("a body that should stream was read ahead")
				}
				return
			}
			if r.GetBody == nil || r.ContentLength != int64(len(small)) {
				t.Fatalf("GetBody %v, ContentLength %d", r.GetBody != nil, r.ContentLength)
			}
			for range 2 {
				rc, _ := r.GetBody()
				b, _ := io.ReadAll(rc)
				if string(b) != small {
					t.Fatalf("replay %q", b)
				}
			}
			if b, _ := io.ReadAll(r.Body); !bytes.Equal(b, []byte(small)) {
				t.Fatalf("body %q", b)
			}
		})
	}
}

// A body already in memory, replayable (the server's small-body deadline read it whole and set GetBody), is
// forwarded as it is: not read into a second buffer.
func TestWholeBodyInMemoryAlready(t *testing.T) {
	small := []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`)
	r, _ := http.NewRequest("POST", "http://x/mcp", nil)
	getBody := func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(small)), nil }
	body := io.NopCloser(bytes.NewReader(small))
	r.Body, r.ContentLength, r.GetBody = body, int64(len(small)), getBody
	wholeBody(r)
	if r.Body != body {
		t.Error("a body in memory was read into another buffer")
	}
	if b, _ := io.ReadAll(r.Body); !bytes.Equal(b, small) {
		t.Errorf("body %q", b)
	}
}

// A small body in memory that nothing has read yet (the server's small-body deadline or wholeBody read it whole)
// is handed to the transport as it is: the inbound request's reader, not a fresh copy from GetBody (two allocations
// a request: the reader and its closer). A body read already, or not in memory, gets GetBody's copy as before, and
// what the transport reads is the whole body either way.
func TestInMemoryBodyHandsOnTheUnreadReader(t *testing.T) {
	small := []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`)
	for _, tc := range []struct {
		name    string
		read    int  // bytes of the inbound body read before
		reader  bool // the inbound body is a NopCloser around a bytes.Reader
		handsOn bool
	}{{"unread", 0, true, true}, {"read in part", 5, true, false}, {"another reader", 0, false, false}} {
		t.Run(tc.name, func(t *testing.T) {
			copies := 0
			in, _ := http.NewRequest("POST", "http://public.example/mcp", nil)
			in.ContentLength = int64(len(small))
			in.GetBody = func() (io.ReadCloser, error) { copies++; return io.NopCloser(bytes.NewReader(small)), nil }
			in.Body = io.NopCloser(bytes.NewReader(small))
			if !tc.reader {
				in.Body = io.NopCloser(strings.NewReader(string(small)))
			}
			io.ReadFull(in.Body, make([]byte, tc.read))
			out := in.Clone(in.Context())
			out.Body = io.NopCloser(struct{ io.Reader }{in.Body}) // ReverseProxy's own wrapper
			inMemoryBody(&httputil.ProxyRequest{In: in, Out: out})
			if handsOn := out.Body == in.Body && copies == 0; handsOn != tc.handsOn {
				t.Errorf("the inbound reader handed on: %v (GetBody's copies: %d), want %v", handsOn, copies, tc.handsOn)
			}
			if b, _ := io.ReadAll(out.Body); !bytes.Equal(b, small) {
				t.Errorf("the transport reads %q", b)
			}
		})
	}
}
