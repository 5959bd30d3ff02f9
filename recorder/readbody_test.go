package recorder

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/iotest"
)

// ReadBody reads a request body whole as io.ReadFull does; the body the recorder's Middleware hands its handler is
// recorded as the very buffer it returns (a server that reads small bodies whole held them twice: its buffer and
// the record's copy), and the record is the same as when the body was read through Read: its bytes, its size, its
// end. A body the record has no room for is recorded up to its bound, as Read records it.
func TestReadBodyRecordsItsBuffer(t *testing.T) {
	body := `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}`
	for _, tc := range []struct {
		name   string
		limit  int
		shared bool
	}{{"fits", 0, true}, {"over the bound", 16, false}} {
		t.Run(tc.name, func(t *testing.T) {
			store := NewStore(StoreOptions{})
			rec := New(store, Options{BodyLimit: tc.limit})
			var got []byte
			var err error
			var l *live
			h := rec.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got, err = ReadBody(r.Body, r.ContentLength)
				l = r.Context().Value(liveKey{}).(*live)
				w.WriteHeader(204)
			}))
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/mcp", strings.NewReader(body)))
			if err != nil || string(got) != body {
				t.Fatalf("ReadBody = %q, %v", got, err)
			}
			l.mu.Lock()
			data := l.final.ReqBody
			l.mu.Unlock()
			if shared := len(data.Data) > 0 && &data.Data[0] == &got[0]; shared != tc.shared {
				t.Errorf("the record's body is the buffer read: %v, want %v", shared, tc.shared)
			}
			ex := store.Get(store.Stats().Total)
			want := body
			if tc.limit > 0 {
				want = body[:tc.limit]
			}
			if ex == nil || string(ex.ReqBody.Data) != want || ex.ReqBody.Size != int64(len(body)) || ex.ReqBody.Truncated != (tc.limit > 0) ||
				len(ex.RPC) != 1 && tc.limit == 0 {
				t.Fatalf("record: %+v", ex)
			}
		})
	}
}

// A body that ends before its Content-Length reads as io.ReadFull reads it (the bytes that came and
// io.ErrUnexpectedEOF), recorded as far as it came; one that fails gives the failure. A body that is not the
// recorder's is read as io.ReadFull reads it.
func TestReadBodyShortAndBroken(t *testing.T) {
	store := NewStore(StoreOptions{})
	rec := New(store, Options{})
	broken := errors.New("connection reset")
	for _, tc := range []struct {
		name string
		body io.Reader
		want string
		err  error
	}{
		{"short", strings.NewReader("abc"), "abc", io.ErrUnexpectedEOF},
		{"empty", strings.NewReader(""), "", io.EOF},
		{"broken", io.MultiReader(strings.NewReader("ab"), iotest.ErrReader(broken)), "ab", broken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []byte
			var err error
			h := rec.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got, err = ReadBody(r.Body, 10)
				w.WriteHeader(400)
			}))
			r := httptest.NewRequest("POST", "/mcp", nil)
			r.Body, r.ContentLength = io.NopCloser(tc.body), 10
			h.ServeHTTP(httptest.NewRecorder(), r)
			if string(got) != tc.want || !errors.Is(err, tc.err) {
				t.Errorf("ReadBody = %q, %v; want %q, %v", got, err, tc.want, tc.err)
			}
			if ex := store.Get(store.Stats().Total); ex == nil || string(ex.ReqBody.Data) != tc.want || ex.ReqBody.Size != int64(len(tc.want)) {
				t.Errorf("record: %+v", ex)
			}
			plain, perr := ReadBody(strings.NewReader("abc"), 10)
			if string(plain) != "abc" || perr != io.ErrUnexpectedEOF {
				t.Errorf("a body not the recorder's: %q, %v", plain, perr)
			}
		})
	}
}
