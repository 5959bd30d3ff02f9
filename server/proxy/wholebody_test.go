package proxy

import (
	"bytes"
	"io"
	"net/http"
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
